"""Greedy replies kept on disk, so that one model is never asked the same prompts twice.

Evaluation decodes greedily, so a model's replies to a set are fixed by its weights, the
prompts and the decoding settings. Notebooks 04-07 evaluate each adapter they train, and 08
evaluates every adapter again on the same sets to put them in one table. Kept under
`runs/<profile>/replies/` and keyed by all of that (`replies_key`), the replies 04-07 wrote
are read back in 08 instead of written again; a retrained adapter has other weights, so
another key, and is asked afresh. Only the replies are kept: scores are always computed
from them again, so a changed parser or metric applies to kept replies too.

The key covers what decides a greedy reply here: the base model's id and revision, its dtype
and device, the adapter's weights (every LoRA tensor), the tokenizer and its chat template, the
prompts, the decoding settings, the batch size (padding changes the arithmetic slightly), the
generation code and the library versions. A model whose own weights changed in memory (a full
fine-tune, not an adapter) is outside it: evaluate such a model with `keep=False`.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict
from pathlib import Path

import peft
import torch
import transformers

from medlab import generation
from medlab.runlog import runs_dir, write_json

ADAPTER_TENSORS = ("lora_", "modules_to_save")
"""Parameter names that hold an adapter's weights (PEFT's naming), as opposed to the base model's."""


def model_fingerprint(model) -> str:
    """A digest of what decides `model`'s outputs: the base model it was loaded from (id,
    revision, dtype, device, quantization) and the values of every adapter tensor on it."""
    config = model.config
    digest = hashlib.sha256(json.dumps({
        "base": config._name_or_path, "revision": getattr(config, "_commit_hash", None),
        "dtype": str(model.dtype), "device": model.device.type,
        "quantization": str(getattr(config, "quantization_config", None)),
    }, sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        if any(part in name for part in ADAPTER_TENSORS):
            digest.update(name.encode())
            digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()


def replies_key(model, tokenizer, conversations: list[list[dict]], sampling: generation.Sampling,
                batch_size: int) -> str:
    """The key of a greedy generation: equal keys mean equal replies."""
    parts = {
        "model": model_fingerprint(model), "tokenizer": tokenizer.name_or_path,
        "template": str(tokenizer.chat_template), "conversations": conversations, "sampling": asdict(sampling),
        "batch_size": batch_size, "code": hashlib.sha256(Path(generation.__file__).read_bytes()).hexdigest(),
        "versions": [torch.__version__, transformers.__version__, peft.__version__],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def store(profile_name: str) -> Path:
    """Where kept replies go: `runs/<profile>/replies/`."""
    return runs_dir(profile_name) / "replies"


def kept_replies(folder: Path, key: str) -> dict | None:
    """The record kept under `key` ({"model", "written", "seconds", "replies"}), or None."""
    path = folder / f"{key}.json"
    return json.loads(path.read_text()) if path.exists() else None


def keep_replies(folder: Path, key: str, model_name: str, replies: list[str], seconds: float) -> Path:
    """Keep `replies` under `key`, with who wrote them, when, and how long it took."""
    return write_json(folder / f"{key}.json", {"model": model_name, "written": time.strftime("%Y-%m-%d %H:%M:%S"),
                                               "seconds": round(seconds, 1), "replies": replies})
