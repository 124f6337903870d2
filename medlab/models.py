"""Load a causal LM and its tokenizer: one code path for hub models and the pocket model.

`POCKET` resolves to the folder of the course's own model; any other id goes to the hub (or
the local hub cache). Either way the notebook ends up in the same two `from_pretrained` calls.

Introduced in notebooks/00_setup.ipynb.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from medlab.env import precision_for, torch_dtype
from medlab.pocket import pocket_model_path
from medlab.profiles import POCKET, Profile

GATED_ORGS = ("meta-llama/",)
"""Hub organisations whose models need an accepted licence and a login to download."""


def resolve_model(model_id: str) -> str:
    """A hub id unchanged, or the pocket model's folder (built on first use) for `POCKET`.

    A gated hub id without a login fails here, in one line that says what to do, instead of
    in a long `GatedRepoError` traceback from the download.
    """
    if model_id == POCKET:
        return str(pocket_model_path())
    from huggingface_hub import get_token

    problem = login_problem(model_id, get_token())
    if problem:
        raise PermissionError(problem)
    return model_id


def login_problem(model_id: str, token: str | None) -> str | None:
    """What to do before `model_id` can be downloaded, or None when nothing stands in the way.

    >>> login_problem("Qwen/Qwen2.5-1.5B-Instruct", None) is None
    True
    >>> login_problem("meta-llama/Llama-3.2-3B-Instruct", None).split(":")[0]
    'meta-llama/Llama-3.2-3B-Instruct is gated'
    """
    if token or not model_id.startswith(GATED_ORGS) or Path(model_id).is_dir() or _in_local_cache(model_id):
        return None
    return (f"{model_id} is gated: accept its licence at https://huggingface.co/{model_id}, then log in "
            "with `hf auth login` in a terminal (on Colab: a secret named HF_TOKEN, or "
            "`from huggingface_hub import notebook_login; notebook_login()`)")


def from_hub(load, model_id: str, **kwargs):
    """`load(model_id, **kwargs)`, a `from_pretrained`, for a hub id or the pocket model.

    A login the hub refuses for a gated model (a token whose account has not accepted the
    licence, or is still waiting for approval) ends in one line naming the licence page, not
    in transformers' OSError over huggingface_hub's `GatedRepoError` traceback."""
    try:
        return load(resolve_model(model_id), **kwargs)
    except OSError as error:
        if not refused_as_gated(error):
            raise
        raise PermissionError(f"{model_id} is gated and the hub refused this login: accept the licence at "
                              f"https://huggingface.co/{model_id} with the account your token belongs to, wait "
                              "for the e-mail saying access was granted, then run this cell again") from None


def refused_as_gated(error: BaseException) -> bool:
    """Whether `error`, or an error it was raised from, is the hub's `GatedRepoError`."""
    from huggingface_hub.errors import GatedRepoError

    while error is not None:
        if isinstance(error, GatedRepoError):
            return True
        error = error.__cause__ or error.__context__
    return False


def _in_local_cache(model_id: str) -> bool:
    """Downloaded before (by a logged-in user, or copied in): no login needed to load it."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(model_id, "config.json"), str)


def load_tokenizer(model_id: str, padding_side: str = "left"):
    """Tokenizer with a pad token; left padding so batched generation continues every row."""
    tokenizer = from_hub(AutoTokenizer.from_pretrained, model_id)
    if tokenizer.pad_token is None:  # Llama 3 ships without one
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = padding_side
    fix_template_date(tokenizer)
    return tokenizer


TEMPLATE_DATE = "26 Jul 2024"
"""The date Llama 3.1's template writes when it is given none, and the course gives every
template that reads one: Llama 3.2's stamps today's date ("Today Date: ..."), so the same
question would be a different prompt tomorrow, and replies read back, a run resumed the next
day, or 02 against 08, would compare different prompts."""
_DATE_LINE = f'{{%- set date_string = "{TEMPLATE_DATE}" %}}'


def fix_template_date(tokenizer) -> None:
    """Set the chat template's `date_string` to `TEMPLATE_DATE`, for templates that read one.

    Set in the template itself, so that every caller renders the same prompt: the course's
    generation, and TRL's trainers, which render conversations without the course's arguments.

    >>> from types import SimpleNamespace
    >>> t = SimpleNamespace(chat_template="{{ date_string }}")
    >>> fix_template_date(t); fix_template_date(t); t.chat_template.count("set date_string")
    1
    """
    template = tokenizer.chat_template
    if isinstance(template, str) and "date_string" in template and not template.startswith(_DATE_LINE):
        tokenizer.chat_template = _DATE_LINE + template


def quantization_config(profile: Profile):
    """4-bit NF4 with double quantisation and compute in the profile's precision, or None."""
    if not profile.load_in_4bit:
        return None
    from transformers import BitsAndBytesConfig

    precision = precision_for(profile)
    return BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch_dtype(precision),
    )


def device_map(profile: Profile) -> dict | None:
    """The whole model on this process's GPU: GPU 0 in a notebook, GPU `LOCAL_RANK` in each
    process of `accelerate launch` or `torchrun`. None where DeepSpeed ZeRO-3 or FSDP shard the
    weights themselves, and on the CPU."""
    if profile.device != "cuda" or sharded_launch():
        return None
    return {"": int(os.environ.get("LOCAL_RANK", 0))}


def sharded_launch() -> bool:
    """Whether `accelerate launch` started this process under DeepSpeed ZeRO-3 or FSDP. Read from
    the variables accelerate sets, since a script may load its model before its trainer exists."""
    env = os.environ
    deepspeed = env.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true"
    zero3 = deepspeed and env.get("ACCELERATE_DEEPSPEED_ZERO_STAGE") == "3"
    return zero3 or env.get("ACCELERATE_USE_FSDP", "").lower() == "true"


def load_model(model_id: str, profile: Profile):
    """The causal LM for `model_id`, placed and typed as `profile` says. Under ZeRO-3 or FSDP each
    process loads the weights on its CPU and the engine shards them when training starts."""
    if profile.load_in_4bit and sharded_launch():
        raise ValueError(f"profile {profile.name!r} loads 4-bit weights, which DeepSpeed ZeRO-3 and FSDP do not "
                         "shard here: launch it with scripts/accelerate/ddp.yaml, or use --profile full")
    precision = precision_for(profile)
    model = from_hub(
        AutoModelForCausalLM.from_pretrained, model_id,
        dtype=torch_dtype(precision),
        quantization_config=quantization_config(profile),
        device_map=device_map(profile),
    )
    if profile.load_in_4bit and profile.device == "cpu":
        keep_4bit_layers_trainable(model)
    if profile.gradient_checkpointing:
        model.config.use_cache = False  # the KV cache is useless, and costly, while training
    return model


def keep_4bit_layers_trainable(model) -> None:
    """Stop bitsandbytes repacking 4-bit weights for CPU inference.

    On a CPU with AVX512-BF16, a 4-bit layer that runs once in eval mode without gradients
    (generation, evaluation) converts its weights to an inference-only layout for good, and no
    gradient reaches the adapters on it afterwards. The course samples and then trains (PPO,
    GRPO, evaluation before SFT), so a 4-bit model on a CPU (the tests, a dry run) keeps the
    layout it trains with. GPUs have no such conversion.
    """
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):  # bitsandbytes' Linear4bit
            module.support_avx512bf16_for_cpu = False


def load_model_and_tokenizer(model_id: str, profile: Profile):
    return load_model(model_id, profile), load_tokenizer(model_id)


def judge_profile(profile: Profile) -> Profile:
    """The profile the judge model loads with: `profile`, computing in fp32 where it would
    compute in fp16. Qwen2 models, the 1.5B included, overflow in fp16 into NaN scores and "!!!!"
    replies on GPUs without bf16, a T4 among them (reported by Qwen's maintainers)."""
    return replace(profile, precision="fp32") if precision_for(profile) == "fp16" else profile


def load_judge(profile: Profile):
    """The judge of 06's "LLM eval" reward (`profile.judge_model`) and its tokenizer, in
    `judge_profile`'s precision."""
    return load_model_and_tokenizer(profile.judge_model, judge_profile(profile))


@torch.no_grad()
def generate_text(model, tokenizer, prompt: str, max_new_tokens: int = 48) -> str:
    """Greedy continuation of a plain-text prompt (no chat template), without the prompt."""
    inputs = tokenizer(prompt, return_tensors="pt").to(model.device)
    output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    # Decode prompt and continuation together: SentencePiece drops the leading space of a
    # sequence, so decoding the new tokens alone would glue the first word to the prompt.
    full = tokenizer.decode(output[0], skip_special_tokens=True)
    return full[len(tokenizer.decode(inputs["input_ids"][0], skip_special_tokens=True)):]
