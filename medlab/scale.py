"""The command that runs a notebook's training again as a script, on one GPU or several.

`scripts/sft.py`, `scripts/grpo.py` and `scripts/ppo.py` read the same recipes
(`medlab.recipes`) and write to the same `runs/<profile>/` as the notebooks. This module
says which script and options re-run each course adapter, under which `accelerate` config.

Introduced in notebooks/08_evaluation.ipynb.
"""

from __future__ import annotations

import shlex

from medlab.course import RUNS
from medlab.profiles import Profile, changed_fields

SCRIPT_FOR = {run.name: run.script for run in RUNS if run.scripted}
"""Each course adapter a script trains (`medlab.course.RUNS`): the script and the option that name it.
05's `grpo_mcq` is a side-by-side comparison inside the PPO notebook, not a recipe of its own."""

SINGLE_PROCESS = {run.name for run in RUNS if run.method == "ppo"}  # our PPO does not average gradients


def scale_up_command(adapter: str, profile: Profile, config: str = "ddp", processes: int = 2) -> str:
    """The shell command that trains `adapter` again with `profile` (overrides included) on
    `processes` GPUs under `scripts/accelerate/<config>.yaml`; PPO's in one process. On a CPU
    profile, `torchrun` with `processes` CPU processes: `accelerate launch --cpu` starts only one.

    >>> from medlab.profiles import load_profile
    >>> launcher, script = scale_up_command("sft_triage", load_profile("t4")).split(" 2 ")
    >>> launcher
    'accelerate launch --config_file scripts/accelerate/ddp.yaml --num_processes'
    >>> script
    'scripts/sft.py --task triage --profile t4'
    >>> scale_up_command("sft_triage", load_profile("tiny"))
    'torchrun --nproc_per_node 2 scripts/sft.py --task triage --profile tiny'
    >>> scale_up_command("ppo_mcq", load_profile("t4", max_train_examples=50))
    'python scripts/ppo.py --profile t4 --set max_train_examples=50'
    """
    if adapter not in SCRIPT_FOR:
        raise KeyError(f"no script trains {adapter!r}; these do: {', '.join(SCRIPT_FOR)}")
    script = f"{SCRIPT_FOR[adapter]} --profile {profile.name}"
    overrides = changed_fields(profile)
    if overrides:
        script += " --set " + " ".join(shlex.quote(f"{key}={value}") for key, value in overrides.items())
    if adapter in SINGLE_PROCESS:
        return f"python {script}"
    if profile.device == "cpu":
        return f"torchrun --nproc_per_node {processes} {script}"
    return f"accelerate launch --config_file scripts/accelerate/{config}.yaml --num_processes {processes} {script}"
