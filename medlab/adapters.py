"""Where trained adapters live, and how the evaluation notebook finds and loads them.

Every training notebook saves its LoRA adapter under `runs/<profile>/adapters/<name>/`:
PEFT's own `adapter_model.safetensors` and `adapter_config.json`, plus `medlab_adapter.json`
saying which base model and which tasks it is for. Nothing else is needed for a new
notebook's adapter to appear in notebooks/08_evaluation.ipynb.

Introduced in notebooks/02_baseline.ipynb.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from medlab.profiles import Profile
from medlab.runlog import runs_dir

META = "medlab_adapter.json"


@dataclass(frozen=True)
class AdapterInfo:
    name: str  # folder name, e.g. "sft_mcq"
    base_model: str  # the profile's model id it was trained on
    tasks: tuple[str, ...]  # evaluation tasks it is meant for (keys of evaluation.TASKS)
    notebook: str  # the notebook that trained it
    method: str  # "sft", "ppo", "grpo", ...
    path: str = ""


def adapters_dir(profile: Profile) -> Path:
    return runs_dir(profile.name) / "adapters"


def save_adapter(model, profile: Profile, info: AdapterInfo) -> Path:
    """Save a PEFT model's adapter and its medlab description; returns the folder."""
    folder = adapters_dir(profile) / info.name
    model.save_pretrained(folder)
    (folder / META).write_text(json.dumps({**asdict(info), "path": ""}, indent=2) + "\n")
    return folder


def find_adapters(profile: Profile) -> list[AdapterInfo]:
    """Every saved adapter of this profile, in name order."""
    found = []
    for meta in sorted(adapters_dir(profile).glob(f"*/{META}")):
        data = json.loads(meta.read_text())
        data["tasks"] = tuple(data["tasks"])
        data["path"] = str(meta.parent)
        found.append(AdapterInfo(**data))
    return found


def load_with_adapter(info: AdapterInfo, profile: Profile):
    """The base model with the adapter applied (not merged), and its tokenizer."""
    from peft import PeftModel

    from medlab.models import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(info.base_model, profile)
    return PeftModel.from_pretrained(model, info.path).eval(), tokenizer
