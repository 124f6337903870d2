"""benchmarks/gpu_fit.py: the published shapes it builds, and its dry run end to end."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_fit.py"


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_fit", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_fit"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name, billions", [("llama-3.1-8b", 8.03), ("llama-3.2-3b", 3.21), ("qwen2.5-1.5b", 1.54)])
def test_architectures_have_the_published_sizes(name, billions):
    """A typo in a hidden size or a layer count would measure some other model's memory."""
    from transformers import AutoConfig, AutoModelForCausalLM

    shape = dict(load_script().ARCHITECTURES[name])
    config = AutoConfig.for_model(shape.pop("model_type"), **shape)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    assert sum(p.numel() for p in model.parameters()) / 1e9 == pytest.approx(billions, abs=0.01)


def test_every_training_notebook_has_a_case():
    notebooks = {run.notebook[:2] for run in load_script().CASES}
    assert notebooks == {"03", "04", "05", "06", "07"}


def test_dry_run_trains_every_recipe(tmp_path):
    """The whole script on tiny shapes: every recipe loads, trains a few steps and reports."""
    done = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--steps", "2", "--models", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "| yes |" in line]
    assert {row.split(" | ")[0][2:] for row in rows} == {run.name for run in load_script().CASES}
    for row in rows:
        cells = row.split(" | ")
        assert cells[3] == "nf4", row  # the t4 path: bitsandbytes' CPU backend holds the weights in 4 bits
        assert float(cells[6]) > 0, row
