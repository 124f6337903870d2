"""The whole course on the t4 profile, run on a CPU: a smoke test of every notebook's t4 path.

The t4 profile with the CPU as its device, still in 4 bits with paged 8-bit AdamW and gradient
checkpointing (bitsandbytes' CPU backend); the course's data, a few rows, and two steps per
training run (`smoke_steps`). That is what a learner's first run on a T4 executes, less the GPU:
the t4 recipes and budgets, and every branch the notebooks take off `tiny`. Two steps teach
nothing, so the notebooks check that they ran, not what they learned; this test checks what
they wrote.

Every notebook runs with the stand-ins in Llama's and the judge's places (`standins.py`: the
real tokenizers, chat templates and configs, random weights), in two runs:
- 00-03 and 09 (the data through Llama's template, the baseline, SFT, and the export to GGUF and
  the chat), on DiReCT notes as long as the release's, which 01 measures with Llama's own
  tokenizer against the reasoning recipe's 2,560 tokens; replies cut at 32 tokens.
- 03-09 (the warm starts, PPO, GRPO, the evaluation, and 09 exporting PPO's adapter), on notes
  of the course's length (04 training on release-length notes took about 4 minutes more: 16
  micro-batches of 2,000 tokens per step through bitsandbytes' CPU kernels); replies cut at 8
  tokens. Random weights never
  end a reply, and sampling one token over 128,256 costs about 3 ms per reply on a CPU
  (`torch.multinomial`): at 32 tokens 05 alone took 2 minutes, at 8 03-08 take about 2 1/2.

Both runs are given a learner's own data (`learner_files.py`: a DiReCT folder in the release's
layout, an appropriateness table, MIETIC's two files), named as a learner names it, and check
that every notebook that reads a task's data read theirs: 01 and 02 in the first, 04-08 in the
second. Where the stand-ins cannot be built (no npm), both skip and say why.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medlab.adapters import require_adapters
from medlab.profiles import load_profile

NOTEBOOKS = sorted(p.stem for p in (Path(__file__).parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SMALL_RUN = ["device=cpu", "data_source=course", "offline=true", "max_train_examples=8", "max_eval_examples=4",
             "smoke_steps=2"]
LLAMA_NOTEBOOKS = ["00", "01", "02", "03", "09"]  # 09 exports 03's adapter when 05 has made none
RL_NOTEBOOKS = [name for name in NOTEBOOKS if name[:2] >= "03"]  # with 03 (05 starts from it) and 09 (exports 05's)


def standins(llama32, llama31, qwen_judge, max_new_tokens: int) -> list[str]:
    """The --set pairs that put the stand-ins in the t4 profile's models' places."""
    return [f"small_model={llama32}", f"large_model={llama31}", f"judge_model={qwen_judge}",
            f"max_new_tokens={max_new_tokens}", *SMALL_RUN]


def run_course_on_t4(overrides: list[str], only: list[str] = ()) -> str:
    """`medlab.runner` on t4 with `overrides` (over the notebooks `only` names, or all); its
    output, after checking it passed."""
    started = time.time()
    selection = ["--only", *only] if only else []
    done = subprocess.run([sys.executable, "-m", "medlab.runner", "--profile", "t4", *selection, "--set", *overrides],
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    print(f"the t4 course with {overrides[:3]}: {time.time() - started:.0f} s")
    return done.stdout


def learner_overrides(folder: Path, long_notes: bool = False) -> tuple[dict[str, str], list[str]]:
    """A learner's own data written below `folder` (`learner_files`), and the --set pairs naming it."""
    from learner_files import write_learner_data

    named = write_learner_data(folder, long_notes)
    return named, [f"{key}={value}" for key, value in named.items()]


def printed(course: Path, notebook: str) -> str:
    """Everything an executed notebook of the t4 run printed."""
    from learner_files import printed as printed_by

    return printed_by(course / "runs" / "t4" / f"{notebook}.ipynb")


def test_the_rl_notebooks_run_on_the_t4_profile_with_the_stand_ins(scratch_course, llama32, llama31, qwen_judge):
    named, pairs = learner_overrides(scratch_course / "mine")
    run_course_on_t4([*standins(llama32, llama31, qwen_judge, max_new_tokens=8), *pairs],
                     only=[name[:2] for name in RL_NOTEBOOKS])
    # the lines each notebook prints about the data it read (every notebook also echoes its overrides)
    expected = {
        "04_sft_reasoning": [f"{named[key]} {{'train'" for key in ("direct_dir", "appropriateness_csv",
                                                                    "mietic_corpus")],
        "06_grpo_appropriateness": [f"{named['appropriateness_csv']}: {{'train'"],
        "07_grpo_triage": [f"{named['mietic_corpus']}: {{'train'", f"benchmark: {named['mietic_sample']}"],
        "08_evaluation": [f"yours, {path}" for path in named.values()],
    }
    for notebook, lines in expected.items():
        assert all(line in printed(scratch_course, notebook) for line in lines), notebook

    summary = json.loads((scratch_course / "runs" / "t4" / "summary.json").read_text())
    assert [n["name"] for n in summary["notebooks"]] == RL_NOTEBOOKS
    metrics = {n["name"]: n["metrics"] for n in summary["notebooks"]}
    assert metrics["03_sft_mcq"]["optimiser_steps"] == 2 and metrics["05_ppo_mcq"]["steps"] == 2
    assert all(s["optimiser_steps"] == 2 for s in metrics["04_sft_reasoning"]["per_task"].values())
    assert metrics["03_sft_mcq"]["trainable_parameters"] > 0
    assert metrics["09_export_chat"]["adapter"] == "ppo_mcq"  # PPO's own adapter, merged from a 4-bit run
    grpo_logs = sorted((scratch_course / "runs" / "t4" / "logs").glob("grpo_*.json"))
    assert len(grpo_logs) == 1 + 4 + 2  # 05's comparison, 06's four reward designs, 07's two runs
    for path in grpo_logs:
        assert json.loads(path.read_text())["step"] == [1, 2], path.name
    require_adapters(load_profile("t4", smoke_steps=2))  # every adapter 08 evaluates was trained and saved
    with pytest.raises(ValueError, match="came from a smoke test"):
        require_adapters(load_profile("t4"))  # a real run would not take them for its own
    recorded = [json.loads(path.read_text()) for path in (scratch_course / "runs" / "t4" / "metrics").glob("*.json")]
    assert len(recorded) == len(RL_NOTEBOOKS) and all(r["overrides"]["smoke_steps"] == 2 for r in recorded)



def test_the_llama_path_runs_with_the_stand_ins(scratch_course, llama32, llama31, qwen_judge, monkeypatch):
    """Data, baseline, SFT and export with Llama's real tokenizer, templates and configs, on a
    learner's data with DiReCT notes as long as the release's; work files on a local disk
    beside the runs folder, as on Colab, where the runs folder is Google Drive."""
    monkeypatch.setenv("MEDLAB_SCRATCH", str(scratch_course / "vm-disk"))
    named, pairs = learner_overrides(scratch_course / "mine", long_notes=True)
    output = run_course_on_t4([*standins(llama32, llama31, qwen_judge, max_new_tokens=32), *pairs],
                              only=LLAMA_NOTEBOOKS)
    assert all(f"yours, {path}" in printed(scratch_course, "01_data") for path in named.values())
    assert f"DiReCT notes: yours, {named['direct_dir']}" in printed(scratch_course, "02_baseline")
    assert "[5/5] 09_export_chat" in output
    summary = json.loads((scratch_course / "runs" / "t4" / "summary.json").read_text())
    metrics = {n["name"]: n["metrics"] for n in summary["notebooks"]}
    assert metrics["03_sft_mcq"]["optimiser_steps"] == 2 and metrics["09_export_chat"]["adapter"] == "sft_mcq"
    assert metrics["09_export_chat"]["parity"]["GGUF f16"]["answers agree"] >= 0.9
    export = Path("runs") / "t4" / "export" / "sft_mcq"
    # the kept file, its model card (medlab.cards) and the chat session: what goes to Google Drive
    assert sorted(p.name for p in (scratch_course / export).iterdir()) == ["README.md", "chat.json",
                                                                            "sft_mcq-q4_0.gguf"]
    assert 'model_path="sft_mcq-q4_0.gguf"' in (scratch_course / export / "README.md").read_text()
    # a smoke test's adapter is not published: 09 says why instead of building the folder
    assert "not publishable: sft_mcq was trained for 2 steps only" in printed(scratch_course, "09_export_chat")
    assert (scratch_course / "vm-disk" / export / "sft_mcq-f16.gguf").exists()  # the rest on the local disk
    shown = printed(scratch_course, "09_export_chat")
    assert all(line in shown for line in ("merge: about", "the merged model: writes about", "GGUF q8_0: writes about",
                                          f"kept: {scratch_course / export / 'sft_mcq-q4_0.gguf'}"))
