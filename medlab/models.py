"""Load a causal LM and its tokenizer: one code path for hub models and the pocket model.

`POCKET` resolves to the folder of the course's own model; any other id goes to the hub (or
the local hub cache). Either way the notebook ends up in the same two `from_pretrained` calls.

Introduced in notebooks/00_setup.ipynb.
"""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from medlab.env import choose_precision, gpu_capability, torch_dtype
from medlab.pocket import pocket_model_path
from medlab.profiles import POCKET, Profile


def resolve_model(model_id: str) -> str:
    """A hub id unchanged, or the pocket model's folder (built on first use) for `POCKET`."""
    return str(pocket_model_path()) if model_id == POCKET else model_id


def load_tokenizer(model_id: str, padding_side: str = "left"):
    """Tokenizer with a pad token; left padding so batched generation continues every row."""
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(model_id))
    if tokenizer.pad_token is None:  # Llama 3 ships without one
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = padding_side
    return tokenizer


def quantization_config(profile: Profile):
    """4-bit NF4 with double quantisation and compute in the profile's precision, or None."""
    if not profile.load_in_4bit:
        return None
    from transformers import BitsAndBytesConfig

    precision, _ = choose_precision(profile.precision, gpu_capability())
    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch_dtype(precision),
    )


def load_model(model_id: str, profile: Profile):
    """The causal LM for `model_id`, placed and typed as `profile` says."""
    precision, _ = choose_precision(profile.precision, gpu_capability())
    model = AutoModelForCausalLM.from_pretrained(
        resolve_model(model_id),
        dtype=torch_dtype(precision),
        quantization_config=quantization_config(profile),
        device_map={"": 0} if profile.device == "cuda" else None,
    )
    if profile.gradient_checkpointing:
        model.config.use_cache = False  # the KV cache is useless, and costly, while training
    return model


def load_model_and_tokenizer(model_id: str, profile: Profile):
    return load_model(model_id, profile), load_tokenizer(model_id)


@torch.no_grad()
def generate_text(model, tokenizer, prompt: str, max_new_tokens: int = 48) -> str:
    """Greedy continuation of a plain-text prompt (no chat template), without the prompt."""
    inputs = tokenizer(prompt, return_tensors="pt").to(model.device)
    output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    # Decode prompt and continuation together: SentencePiece drops the leading space of a
    # sequence, so decoding the new tokens alone would glue the first word to the prompt.
    full = tokenizer.decode(output[0], skip_special_tokens=True)
    return full[len(tokenizer.decode(inputs["input_ids"][0], skip_special_tokens=True)):]
