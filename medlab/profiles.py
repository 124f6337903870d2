"""Run profiles: one typed, frozen config per machine class.

A profile is the only thing that differs between a classroom CPU run (`tiny`), a free Colab
T4 (`t4`) and a bigger GPU (`full`). Notebooks never branch on the machine themselves; they
read a field of the profile.

Introduced in notebooks/00_setup.ipynb.
"""

from __future__ import annotations

import difflib
import os
import shlex
import sys
import typing
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Literal

POCKET = "pocket"
"""Model id meaning "the course's own pocket model" (built by `medlab.pocket`)."""

Precision = Literal["auto", "fp32", "fp16", "bf16"]


class ProfileError(ValueError):
    """A profile name, key or value that cannot be used; the message says what to write."""


@dataclass(frozen=True)
class Profile:
    name: str
    # Models are loaded by hub id through from_pretrained; POCKET means the course's own model.
    small_model: str  # 3B class: reasoning chains, triage, appropriateness
    large_model: str  # 8B class: the MedQA/MedMCQA SFT + PPO recipe
    judge_model: str  # the small LLM that scores reasoning in the "LLM eval" GRPO reward
    device: Literal["cpu", "cuda"]
    # "auto" picks bf16 only when compute capability >= 8.0: a T4 (7.5) emulates bf16
    # slowly even though torch.cuda.is_bf16_supported() may say True.
    precision: Precision
    load_in_4bit: bool  # NF4 weights are what lets an 8B model train on a 15 GB T4
    gradient_checkpointing: bool  # trades ~30% speed for activations that fit in 15 GB
    optim: str  # paged 8-bit AdamW keeps optimizer state out of the T4's memory peak
    max_seq_len: int  # longest training example in tokens; longer ones are truncated
    max_new_tokens: int  # ceiling on any reply; each task's budget is its `budgets` (evaluation.token_budget)
    max_train_examples: int  # cap on training rows per notebook; 0 means all
    max_eval_examples: int  # cap on held-out rows per evaluation; 0 means all
    # Prompts per generation batch in every evaluation (a GPU halves it on running out of memory).
    # One number for all notebooks: padding changes greedy arithmetic slightly, so only replies
    # generated in equal batches are the same replies (`medlab.replies`).
    eval_batch: int
    sample_batch: int  # rows sampled at once by the probes of 05-07 (several samples of each prompt)
    # What a training notebook's last cell checks: "learning" (each run learned, beyond its intervals
    # and the majority policy) where the model starts from nothing, or "no_regression" (no run
    # lost what the base model had) where Llama may follow a format from the start.
    checks: Literal["learning", "no_regression"]
    # Optimiser steps of every training run (PPO: rollouts) instead of its recipe's, for a smoke
    # test that runs every notebook of a profile in minutes without checking what they learn.
    # 0: the recipes' own.
    smoke_steps: int
    offline: bool  # never contact the hub (HF_HUB_OFFLINE=1): tiny runs with no network
    # Where MedQA and MedMCQA come from: "hub" (the real sets) or "course" (the course's own
    # files in data/, same schema): a t4 recipe can then be smoke-tested on a GPU with no hub.
    data_source: Literal["hub", "course"]
    # A learner's own copies of the data the hub does not serve (PhysioNet's credentialed sets,
    # a table of their own); "" means the course's files. Every notebook and script reads them
    # from here: name them once (`--set direct_dir=...`, MEDLAB_SET, or a notebook's DATA).
    direct_dir: str = ""  # a DiReCT folder of notes: the reasoning task
    appropriateness_csv: str = ""  # an appropriateness table: the imaging task
    mietic_sample: str = ""  # MIETIC's 50-row expert sample file: the 36-case triage benchmark
    mietic_corpus: str = ""  # MIETIC.csv, 9,629 cases: the triage training data (the benchmark's cases left out)

    def to_dict(self) -> dict:
        return asdict(self)

    def cap_train(self, items) -> list:
        """`items` cut to `max_train_examples` (all of them where that is 0)."""
        return capped(items, self.max_train_examples)

    def cap_eval(self, items) -> list:
        """`items` cut to `max_eval_examples` (all of them where that is 0)."""
        return capped(items, self.max_eval_examples)

    def steps(self, recipe_steps: int) -> int:
        """A training run's steps: `smoke_steps` in a smoke test, else the recipe's own.

        >>> load_profile("tiny").steps(30), load_profile("tiny", smoke_steps=2).steps(30)
        (30, 2)
        """
        return self.smoke_steps or recipe_steps


def capped(items, limit: int) -> list:
    """The first `limit` items; a limit of 0 means no cap. Every cap in the course goes through
    here, because `items[:0]` is an empty list, not "all".

    >>> capped([1, 2, 3], 2), capped([1, 2, 3], 0)
    ([1, 2], [1, 2, 3])
    """
    if limit < 0:
        raise ProfileError(f"a cap of {limit} examples: write a positive number, or 0 for all")
    return list(items[:limit] if limit else items)


PROFILES: dict[str, Profile] = {
    # CPU, offline, the pocket model and the course's own small data: CI and laptops.
    "tiny": Profile(
        name="tiny",
        small_model=POCKET,
        large_model=POCKET,
        judge_model=POCKET,  # untrained as a judge: notebook 06 measures what its scores are worth
        device="cpu",
        precision="fp32",  # CPUs have no fast fp16 matmul; the pocket model is small anyway
        load_in_4bit=False,
        gradient_checkpointing=False,
        optim="adamw_torch",
        max_seq_len=640,  # DiReCT notes reach ~540 pocket tokens; batches pad only to their longest
        max_new_tokens=320,  # a full DiReCT reasoning chain in pocket tokens; other tasks stop sooner
        max_train_examples=400,
        max_eval_examples=48,
        eval_batch=48,  # every held-out set at once: a CPU gains nothing from smaller batches
        sample_batch=256,
        checks="learning",  # the pocket model knows no format or answer before SFT
        smoke_steps=0,
        offline=True,
        data_source="course",
    ),
    # A free Colab T4: 15 GB, compute capability 7.5, so fp16 compute on 4-bit weights.
    "t4": Profile(
        name="t4",
        small_model="meta-llama/Llama-3.2-3B-Instruct",
        large_model="meta-llama/Llama-3.1-8B-Instruct",
        judge_model="Qwen/Qwen2.5-1.5B-Instruct",  # the card's Qwen1.5-1.8B judge, one generation on
        device="cuda",
        precision="auto",
        load_in_4bit=True,
        gradient_checkpointing=True,
        optim="paged_adamw_8bit",
        max_seq_len=1024,
        max_new_tokens=1024,  # Llama's thinking replies to triage and notes run long
        max_train_examples=2000,
        max_eval_examples=200,
        # 16: generation with an adapter is launch-bound on a T4, so a step of 16 replies takes about
        # as long as one of 8 (`medlab.session`), and their KV cache (up to ~4 GB for the 8B) fits
        eval_batch=16,
        sample_batch=16,
        checks="no_regression",
        smoke_steps=0,
        offline=False,
        data_source="hub",
    ),
}
# A 40-80 GB Ampere-or-newer GPU: the T4's models and data, without what only a T4's memory needs.
PROFILES["full"] = replace(
    PROFILES["t4"],
    name="full",
    load_in_4bit=False,  # bf16 weights: 16 GB for the 8B
    optim="adamw_torch",  # optimiser state fits
    max_seq_len=2048,
    max_train_examples=0,  # all of it: the published budgets
    max_eval_examples=0,
)

def changed_fields(profile: Profile) -> dict:
    """The fields of `profile` that differ from the named profile it came from: its overrides.

    >>> changed_fields(load_profile("tiny", max_train_examples=50))
    {'max_train_examples': 50}
    """
    shipped = PROFILES[profile.name].to_dict()
    return {key: value for key, value in profile.to_dict().items() if value != shipped[key]}


AUTO = "auto"
OVERRIDES_VARIABLE = "MEDLAB_SET"
"""Environment variable of profile overrides, `key=value` pairs as a shell writes them:
`MEDLAB_SET="small_model=/models/llama-3b max_train_examples=50"`. `python -m medlab.runner
--set ...` sets it for every notebook it runs."""


def on_colab() -> bool:
    return "google.colab" in sys.modules


def default_profile_name() -> str:
    """`MEDLAB_PROFILE` if set; `t4` on a Colab GPU runtime; `tiny` everywhere else."""
    chosen = os.environ.get("MEDLAB_PROFILE", "").strip()
    if chosen:
        return chosen
    if on_colab():
        import torch

        if torch.cuda.is_available():
            return "t4"
    return "tiny"


def load_profile(name: str = AUTO, **overrides) -> Profile:
    """The named profile with `overrides` applied, each checked for its name and type.

    >>> load_profile("tiny", max_new_tokens=32).max_new_tokens
    32
    >>> load_profile("tiny", max_new_token=32)
    Traceback (most recent call last):
    ...
    medlab.profiles.ProfileError: unknown profile key 'max_new_token': write max_new_tokens=...
    """
    if name == AUTO:
        name = default_profile_name()
    if name not in PROFILES:
        raise ProfileError(f"unknown profile {name!r}: write one of {_choices(name, PROFILES)}")
    overrides = {**overrides_from_env(), **overrides}  # a notebook's own arguments win
    hints = typing.get_type_hints(Profile)
    for key, value in overrides.items():
        _check_key(key)
        _check_type(key, value, hints[key])
        _check_data_path(key, value)
    overrides = {key: str(Path(value).expanduser()) if key in DATA_PATHS and value else value
                 for key, value in overrides.items()}  # "~/DiReCT" read as the folder it names
    return replace(PROFILES[name], **overrides)


DATA_PATHS = {"direct_dir": "folder", "appropriateness_csv": "file", "mietic_sample": "file", "mietic_corpus": "file"}
"""The profile fields that name a learner's own data, and what each must be."""
CREDENTIALED = {"direct_dir": "DiReCT", "mietic_sample": "MIETIC", "mietic_corpus": "MIETIC"}
"""The data fields whose copies come under PhysioNet's credentialed data use agreement: no
sharing of the data, nor of anything that reproduces it."""


def credentialed_data(profile: Profile) -> list[str]:
    """The credentialed datasets a run reads (a learner's own copies, named by the profile).

    >>> credentialed_data(load_profile("tiny")), credentialed_data(load_profile("tiny", mietic_sample=__file__))
    ([], ['MIETIC'])
    """
    return sorted({name for key, name in CREDENTIALED.items() if getattr(profile, key)})


def _check_data_path(key: str, value) -> None:
    """A data path must exist when it is given: a typo would otherwise fall back to nothing.

    >>> load_profile("tiny", direct_dir="/no/such/folder")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    medlab.profiles.ProfileError: direct_dir='/no/such/folder': no such folder; write the path to your copy, ...
    """
    if key not in DATA_PATHS or not value:
        return
    path = Path(value).expanduser()
    if not (path.is_dir() if DATA_PATHS[key] == "folder" else path.is_file()):
        raise ProfileError(f"{key}={value!r}: no such {DATA_PATHS[key]}; write the path to your copy, "
                           "or '' for the course's data")


def parse_overrides(pairs) -> dict:
    """`key=value` strings as typed overrides: numbers, true/false and text by the field's type.

    >>> parse_overrides(["max_train_examples=50", "load_in_4bit=false", "small_model=/models/llama"])
    {'max_train_examples': 50, 'load_in_4bit': False, 'small_model': '/models/llama'}
    """
    hints = typing.get_type_hints(Profile)
    overrides = {}
    for pair in pairs:
        key, equals, text = pair.partition("=")
        if not equals:
            raise ProfileError(f"{pair!r} is not key=value: write e.g. max_train_examples=50")
        _check_key(key)
        overrides[key] = _parse_value(key, text, hints[key])
    return overrides


def overrides_from_env() -> dict:
    """The overrides in `MEDLAB_SET`, parsed and typed; a bad one names the variable."""
    try:
        return parse_overrides(shlex.split(os.environ.get(OVERRIDES_VARIABLE, "")))
    except ProfileError as error:
        raise ProfileError(f"{OVERRIDES_VARIABLE}: {error}") from None


def _check_key(key: str) -> None:
    known = [f.name for f in fields(Profile) if f.name != "name"]
    if key not in known:
        raise ProfileError(f"unknown profile key {key!r}: write {_choices(key, known)}=...")


def _parse_value(key: str, text: str, annotation):
    if annotation is bool:
        truth = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        if text.lower() not in truth:
            raise ProfileError(f"{key}={text!r}: write {key}=true or {key}=false")
        return truth[text.lower()]
    if annotation is int:
        try:
            return int(text)
        except ValueError:
            raise ProfileError(f"{key}={text!r} is not a whole number: write e.g. {key}=256") from None
    return text  # text fields, and choices that load_profile checks against their list


def _choices(wrong: str, options) -> str:
    close = difflib.get_close_matches(wrong, list(options), n=1)
    return close[0] if close else " or ".join(options)


def _check_type(key: str, value, annotation) -> None:
    if typing.get_origin(annotation) is Literal:
        allowed = typing.get_args(annotation)
        if value not in allowed:
            raise ProfileError(f"{key}={value!r} is not allowed: write one of {allowed}")
        return
    if annotation is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, annotation)
    if not ok:
        raise ProfileError(
            f"{key}={value!r} is a {type(value).__name__}: write a {annotation.__name__}, "
            f"e.g. {key}={_example(annotation)}"
        )
    if annotation is int and value < 0:  # lengths, caps and step counts: 0 means "all" or "the recipe's"
        raise ProfileError(f"{key}={value} is negative: write 0 or a positive number")


def _example(annotation) -> str:
    return {int: "256", bool: "True", str: "'text'"}.get(annotation, "...")
