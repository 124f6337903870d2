"""scripts/: the notebooks' recipes as programs, run in two real processes (torchrun, gloo).

`accelerate launch --cpu --num_processes 2` starts one process on a CPU machine whatever it is
told; torchrun, which `accelerate launch` wraps on GPUs, starts two. So these tests check the
world size the trainer saw, and that the two processes split the data, not the launcher's flags.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from medlab.adapters import find_adapters, load_with_adapter, require_adapters, saved_adapter
from medlab.data import sources
from medlab.profiles import load_profile
from medlab.recipes import SFT_SMALL, warm_start_rows
from medlab.runlog import runs_dir

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def launch(script: str, *args: str, processes: int = 2, model: Path) -> subprocess.CompletedProcess:
    """`torchrun --nproc_per_node N scripts/<script> ...` on the tiny profile and the small model."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes)] if processes > 1 \
        else [sys.executable]
    overrides = ["--set", f"small_model={model}", f"large_model={model}", f"judge_model={model}"]
    return subprocess.run([*command, str(SCRIPTS / script), "--profile", "tiny", *args, *overrides],
                          capture_output=True, text=True, timeout=300)


def why(done: subprocess.CompletedProcess) -> str:
    """A failed launch's own error lines (each process's one-line "error: ..."), then the end of
    its stderr, which torchrun fills with the other process's barrier error and its summary."""
    errors = [line for line in done.stderr.splitlines() if line.startswith("error")]
    return "\n".join([*errors, "...", done.stderr[-3000:]])


def launch_record(name: str) -> dict:
    return json.loads((runs_dir("tiny") / "launches" / f"{name}.json").read_text())


def test_sft_then_grpo_run_in_two_processes(small_model, scratch_course):
    profile = load_profile("tiny", small_model=str(small_model))
    done = launch("sft.py", "--task", "triage", "--max-steps", "3", model=small_model)
    assert done.returncode == 0, why(done)
    record = launch_record("sft_triage")
    recipe = SFT_SMALL["tiny"]["triage"]
    assert record["world_size"] == 2 and record["optimiser_steps"] == 3
    assert record["global_batch"] == 2 * recipe.batch_size * recipe.grad_accum
    rows = len(warm_start_rows("triage", sources.splits("triage", profile, 0).train, profile))
    # each process read its own share: three steps covered twice the rows one process would have
    assert record["epochs"] == pytest.approx(3 * record["global_batch"] / rows, abs=1e-3)
    model, tokenizer = load_with_adapter(saved_adapter(profile, "sft_triage"), profile)
    lora_b = [p for name, p in model.named_parameters() if "lora_B" in name]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b), "the saved adapter should hold trained weights"

    done = launch("grpo.py", "--variant", "triage_no_bonus", "--max-steps", "2", model=small_model)
    assert done.returncode == 0, why(done)
    record = launch_record("grpo_triage_no_bonus")
    assert record["world_size"] == 2 and record["optimiser_steps"] == 2
    log = json.loads((runs_dir("tiny") / "logs" / "grpo_triage_no_bonus.json").read_text())
    assert log["step"] == [1.0, 2.0], "one process writes the log, one line per step"
    found = {info.name: info for info in find_adapters(profile)}
    assert found["grpo_triage_no_bonus"].method == "grpo" and found["grpo_triage_no_bonus"].notebook == "07_grpo_triage"
    load_with_adapter(found["grpo_triage_no_bonus"], profile)


def test_ppo_refuses_several_processes_and_says_what_to_do(small_model, scratch_course):
    done = launch("ppo.py", "--max-steps", "1", model=small_model)
    assert done.returncode != 0
    assert "runs in one process, and this launch started 2" in done.stderr
    assert "scripts/grpo.py" in done.stderr


def test_ppo_runs_in_one_process_from_the_sft_adapter(small_model, scratch_course):
    done = launch("sft.py", "--task", "medqa", "--max-steps", "1", processes=1, model=small_model)
    assert done.returncode == 0, why(done)
    done = launch("ppo.py", "--max-steps", "1", processes=1, model=small_model)
    assert done.returncode == 0, why(done)
    profile = load_profile("tiny", small_model=str(small_model))
    ppo = saved_adapter(profile, "ppo_mcq")
    assert (ppo.method, ppo.steps, ppo.smoke_steps) == ("ppo", 1, 1)  # --max-steps: a run cut short, labelled so
    with pytest.raises(ValueError, match="a run cut short"):
        require_adapters(profile, ["ppo_mcq"])  # 08 does not take it for the recipe's run
    assert json.loads((runs_dir("tiny") / "logs" / "ppo_mcq.json").read_text())["step"] == [1]


def test_a_bad_override_stops_with_the_reason(small_model, scratch_course):
    done = subprocess.run([sys.executable, str(SCRIPTS / "sft.py"), "--task", "medqa", "--set", "max_seq_lne=64"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "max_seq_len" in done.stderr  # argparse's error, with the right spelling


def test_script_inputs_are_checked_in_one_line_as_the_notebooks_check_them(small_model, scratch_course):
    """A negative step count (which saved PPO's start adapter as PPO's), a start adapter not
    trained yet, a GPU profile on a machine without one."""
    done = launch("ppo.py", "--max-steps", "-1", processes=1, model=small_model)
    assert done.returncode == 2 and "-1: give a positive number of steps" in done.stderr
    done = launch("grpo.py", "--variant", "triage_no_bonus", processes=1, model=small_model)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: no adapter 'sft_triage'")
    done = subprocess.run([sys.executable, str(SCRIPTS / "sft.py"), "--task", "medqa", "--profile", "t4"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "'t4'" in done.stderr


def test_sharded_launches_are_recognised_and_refuse_4bit_bases(monkeypatch):
    from medlab.models import device_map, load_model, sharded_launch

    monkeypatch.setenv("LOCAL_RANK", "1")
    assert not sharded_launch() and device_map(load_profile("t4")) == {"": 1}  # DDP: this process's GPU
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_ZERO_STAGE", "2")
    assert not sharded_launch()  # ZeRO-2 keeps whole weights on every GPU
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_ZERO_STAGE", "3")
    assert sharded_launch() and device_map(load_profile("full")) is None  # the engine places the shards
    with pytest.raises(ValueError, match="ddp.yaml"):
        load_model("pocket", load_profile("t4"))


def test_only_the_main_process_writes_the_training_log(tmp_path):
    from types import SimpleNamespace

    from medlab.training import TrainingMonitor

    monitor = TrainingMonitor(tmp_path / "log.json")
    state = SimpleNamespace(global_step=1, num_input_tokens_seen=0, is_world_process_zero=False)
    monitor.on_train_begin(None, state, None)
    monitor.on_log(None, state, None, logs={"loss": 1.0})
    assert not (tmp_path / "log.json").exists() and monitor.log["step"] == []
    monitor.on_log(None, SimpleNamespace(**{**vars(state), "is_world_process_zero": True}), None, logs={"loss": 1.0})
    assert json.loads((tmp_path / "log.json").read_text())["step"] == [1.0]


def test_under_a_launcher_each_process_names_itself_in_its_error_line(monkeypatch, capsys):
    """torchrun shows the last lines of a failed launch, which are the other process's barrier
    error: the process that failed says which it was, so its line can be found above them."""
    from test_course import load_script

    common = load_script("common")

    def missing():
        raise FileNotFoundError("no adapter 'sft_triage'")

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(SystemExit) as ended:
        common.in_one_line(missing)
    assert str(ended.value) == "error (process 0 of 2): no adapter 'sft_triage'"
    monkeypatch.setenv("WORLD_SIZE", "1")
    with pytest.raises(SystemExit) as ended:
        common.in_one_line(missing)
    assert str(ended.value) == "error: no adapter 'sft_triage'"
