"""Where trained adapters live, and how the evaluation notebook finds and loads them.

Every training notebook saves its LoRA adapter under `runs/<profile>/adapters/<name>/`:
PEFT's own `adapter_model.safetensors` and `adapter_config.json`, plus `medlab_adapter.json`
saying which base model and which tasks it is for. Nothing else is needed for a new
notebook's adapter to appear in notebooks/08_evaluation.ipynb.

Introduced in notebooks/02_baseline.ipynb.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from medlab.course import RUNS
from medlab.env import hardware
from medlab.profiles import Profile, credentialed_data
from medlab.runlog import runs_dir, write_json

META = "medlab_adapter.json"

COURSE_ADAPTERS = {run.name: run.notebook for run in RUNS}
"""Every adapter the course's training notebooks save, and the notebook that trains it."""


@dataclass(frozen=True)
class AdapterInfo:
    name: str  # folder name, e.g. "sft_mcq"
    base_model: str  # the profile's model id it was trained on
    tasks: tuple[str, ...]  # evaluation tasks it is meant for (keys of evaluation.TASKS)
    notebook: str  # the notebook that trained it
    method: str  # "sft", "ppo", "grpo", ...
    path: str = ""
    smoke_steps: int = 0  # the steps of a smoke test (Profile.smoke_steps) or a run cut short (a script's
    #                       --max-steps) that trained it; 0: the recipe's whole run
    run_key: str = ""  # what it was trained from, hashed (training.run_key): a run again from the same is skipped
    train_seconds: float = 0.0
    steps: int = 0  # optimiser steps it was trained for (0: not recorded)
    training: dict = field(default_factory=dict, hash=False)  # the trainer's settings its card shows
    hardware: str = ""  # what trained it: the GPU's name, or the CPU's (written when saved)
    quantization: str = ""  # how the base was loaded while training (written when saved)


def adapters_dir(profile: Profile) -> Path:
    return runs_dir(profile.name) / "adapters"


def save_adapter(model, profile: Profile, info: AdapterInfo, adapter_name: str = "default",
                 state_dict: dict | None = None) -> Path:
    """Save one adapter of a PEFT model (`adapter_name`: PPO's model holds a "policy" and a
    "reference") and its medlab description; returns the folder. `state_dict` is the model's
    weights gathered from several processes, where ZeRO-3 or FSDP sharded them."""
    folder = adapters_dir(profile) / info.name
    with tempfile.TemporaryDirectory() as scratch:
        # PEFT writes any adapter but "default" into a subfolder of its name; the course loads
        # every adapter from its folder's top level.
        model.save_pretrained(scratch, selected_adapters=[adapter_name], state_dict=state_dict)
        saved = Path(scratch) if adapter_name == "default" else Path(scratch) / adapter_name
        shutil.rmtree(folder, ignore_errors=True)  # nothing left from an earlier save of this name
        shutil.copytree(saved, folder)
    write_json(folder / META, {**asdict(info), "path": "", "smoke_steps": info.smoke_steps or profile.smoke_steps,
                               "hardware": info.hardware or hardware(profile), "quantization": quantization(profile),
                               "credentialed_data": credentialed_data(profile)})  # trained on data under a DUA
    return folder


def quantization(profile: Profile) -> str:
    """How `profile` loads a base model to train on it, in a model card's words, read from the
    bitsandbytes settings `models.quantization_config` gives the model."""
    if not profile.load_in_4bit:
        return "none"
    from medlab.models import quantization_config

    config = quantization_config(profile)
    double = ", double quantization" if config.bnb_4bit_use_double_quant else ""
    return f"4-bit {config.bnb_4bit_quant_type.upper()} (bitsandbytes){double}"


def adapter_digest(info: AdapterInfo) -> str:
    """The sha256 of an adapter's weights file: which adapter a run started from, whatever its name."""
    from medlab.integrity import sha256

    return sha256(Path(info.path) / "adapter_model.safetensors")


def find_adapters(profile: Profile) -> list[AdapterInfo]:
    """Every saved adapter of this profile, in name order."""
    found = []
    for meta in sorted(adapters_dir(profile).glob(f"*/{META}")):
        found.append(read_adapter(meta.parent))
    return found


def read_adapter(folder: Path) -> AdapterInfo:
    """The description saved in an adapter's `folder`, with the folder as its path."""
    data = json.loads((Path(folder) / META).read_text())
    data.pop("credentialed_data", None)  # a mark on the folder, not a field of the description
    return AdapterInfo(**{**data, "tasks": tuple(data["tasks"]), "path": str(folder)})


def credentialed_training_data(folder: Path) -> list[str]:
    """The credentialed datasets (DiReCT, MIETIC) the profile named when the adapter in `folder`
    was saved (`save_adapter` marks the folder with them)."""
    return json.loads((Path(folder) / META).read_text()).get("credentialed_data", [])


def require_adapters(profile: Profile, expected=None) -> None:
    """Fail, naming the notebook to run, when an expected adapter (by default every adapter of
    `COURSE_ADAPTERS`) is not in the run folder, or came from a smoke test while this run is none.

    Without this, notebook 08 on a fresh Colab machine would find no adapters, evaluate the
    base model alone, and pass.
    """
    expected = COURSE_ADAPTERS if expected is None else expected
    present = {info.name: info for info in find_adapters(profile)}
    missing = [name for name in expected if name not in present]
    if missing:
        raise FileNotFoundError(
            f"no adapter {', '.join(missing)} in {adapters_dir(profile)}: run {training_notebooks(missing)} first "
            "(on Colab the setup cell keeps runs on Google Drive, so use the same Drive), or set "
            "EXPECTED_ADAPTERS = [] to evaluate only the adapters that are there")
    smoke = [name for name in expected if present[name].smoke_steps and not profile.smoke_steps]
    if smoke:  # a smoke test's adapters learned nothing: a real evaluation of them would mislead
        raise ValueError(
            f"{', '.join(smoke)} in {adapters_dir(profile)} came from a smoke test or a run cut short (trained "
            f"{', '.join(str(present[name].smoke_steps) for name in smoke)} steps): run {training_notebooks(smoke)} "
            "again without smoke_steps or --max-steps, and give smoke tests their own MEDLAB_HOME")


def training_notebooks(names) -> str:
    """The notebooks that train the adapters `names`, for a message."""
    return ", ".join(sorted({COURSE_ADAPTERS.get(name, "its training notebook") for name in names}))


def saved_adapter(profile: Profile, name: str) -> AdapterInfo:
    """The adapter saved under `name`, with its folder."""
    for info in find_adapters(profile):
        if info.name == name:
            return info
    raise FileNotFoundError(f"no adapter {name!r} in {adapters_dir(profile)}")


@contextmanager
def adapter_loaded(profile: Profile, name: str):
    """`(model, tokenizer)`: the base model with saved adapter `name` (`load_with_adapter`), for
    one `with` block; at its end the model's memory is given back (`release`), whatever happened
    in the block. On a T4 the next model needs that memory; a name still bound to the model
    after the block is an emptied model that fails at once if used."""
    model, tokenizer = load_with_adapter(saved_adapter(profile, name), profile)
    try:
        yield model, tokenizer
    finally:
        release(model)


def release(model) -> None:
    """Give `model`'s memory back now: each weight and buffer emptied in place, then the garbage
    collector and, on a GPU, torch's cache. `del model` alone frees nothing while another name,
    an output or a traceback still holds the model."""
    import gc

    import torch

    for tensor in [*model.parameters(), *model.buffers()]:
        tensor.data = torch.empty(0, dtype=tensor.dtype, device=tensor.device)
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def load_with_adapter(info: AdapterInfo, profile: Profile):
    """The base model with the adapter applied (not merged), and its tokenizer.

    Training notebooks evaluate "after" through this too, not on the model in memory:
    `prepare_model_for_kbit_training` leaves norms, embeddings and lm_head in float32, a
    numeric path that no later user of the adapter takes.
    """
    from peft import PeftModel

    from medlab.models import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(info.base_model, profile)
    return PeftModel.from_pretrained(model, info.path).eval(), tokenizer
