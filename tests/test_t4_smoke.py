"""The whole course on the t4 profile, run on a CPU: a smoke test of every notebook's t4 path.

The t4 profile with the CPU as its device, still in 4 bits with paged 8-bit AdamW and gradient
checkpointing (bitsandbytes' CPU backend); the course's data, a few rows, and two steps per
training run (`smoke_steps`). That is what a learner's first run on a T4 executes, less the GPU:
the t4 recipes and budgets, and every branch the notebooks take off `tiny`. Two steps teach
nothing, so the notebooks check that they ran, not what they learned; this test checks what
they wrote.

Notebooks 03-09 run with the pocket model in each model's place, its replies cut at 48 tokens
(about 3 1/2 minutes on a 2-core CPU). The notebooks where Llama's own files change what
happens (the data through its template, the baseline, SFT, and the export to GGUF and the chat:
00-03 and 09) run with the stand-ins (`standins.py`: the real tokenizers, chat templates and
configs, random weights), whose replies never end on their own and are cut at 32 tokens. The
RL notebooks with the stand-ins take 10 minutes more (every random reply runs to its budget,
sampled over 128,256 tokens through bitsandbytes' CPU kernels), more than this suite can spend;
`tests/test_llama_standin.py` checks the pieces they use.

Both runs are given a learner's own data (`learner_files.py`: a DiReCT folder in the release's
layout, an appropriateness table, MIETIC's two files), named as a learner names it, and check
that every notebook that reads a task's data read theirs: 01 and 02 with the stand-ins, 04-08
with the pocket model. The stand-ins' run gets notes as long as the release's, which 01
measures with Llama's own tokenizer against the reasoning recipe's 2,560 tokens (04 training on
them with the stand-ins took about 4 minutes more, 16 micro-batches of 2,000 tokens per step
through bitsandbytes' CPU kernels, so it runs with the pocket model, on shorter notes).
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
# replies cut at 48 tokens: two training steps teach nothing, and the t4 budgets (up to 1,024
# tokens) only make the pocket model's rambling longer (03-09 then take about 3 1/2 minutes, not 5)
SMOKE = ["small_model=pocket", "large_model=pocket", "judge_model=pocket", "max_new_tokens=48", *SMALL_RUN]
LLAMA_NOTEBOOKS = ["00", "01", "02", "03", "09"]  # 09 exports 03's adapter when 05 has made none
POCKET_NOTEBOOKS = [name for name in NOTEBOOKS if name[:2] >= "03"]  # 00-02 run with the stand-ins only


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


def test_every_notebook_runs_on_the_t4_profile(scratch_course):
    named, pairs = learner_overrides(scratch_course / "mine")
    run_course_on_t4([*SMOKE, *pairs], only=[name[:2] for name in POCKET_NOTEBOOKS])
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
    assert [n["name"] for n in summary["notebooks"]] == POCKET_NOTEBOOKS
    metrics = {n["name"]: n["metrics"] for n in summary["notebooks"]}
    assert metrics["03_sft_mcq"]["optimiser_steps"] == 2 and metrics["05_ppo_mcq"]["steps"] == 2
    assert all(s["optimiser_steps"] == 2 for s in metrics["04_sft_reasoning"]["per_task"].values())
    assert metrics["03_sft_mcq"]["trainable_parameters"] > 0
    grpo_logs = sorted((scratch_course / "runs" / "t4" / "logs").glob("grpo_*.json"))
    assert len(grpo_logs) == 1 + 4 + 2  # 05's comparison, 06's four reward designs, 07's two runs
    for path in grpo_logs:
        assert json.loads(path.read_text())["step"] == [1, 2], path.name
    require_adapters(load_profile("t4", smoke_steps=2))  # every adapter 08 evaluates was trained and saved
    with pytest.raises(ValueError, match="came from a smoke test"):
        require_adapters(load_profile("t4"))  # a real run would not take them for its own
    recorded = [json.loads(path.read_text()) for path in (scratch_course / "runs" / "t4" / "metrics").glob("*.json")]
    assert len(recorded) == len(POCKET_NOTEBOOKS) and all(r["overrides"]["smoke_steps"] == 2 for r in recorded)



def test_the_llama_path_runs_with_the_stand_ins(scratch_course, llama32, llama31, qwen_judge, monkeypatch):
    """Data, baseline, SFT and export with Llama's real tokenizer, templates and configs, on a
    learner's data with DiReCT notes as long as the release's; work files on a local disk
    beside the runs folder, as on Colab, where the runs folder is Google Drive."""
    monkeypatch.setenv("MEDLAB_SCRATCH", str(scratch_course / "vm-disk"))
    named, pairs = learner_overrides(scratch_course / "mine", long_notes=True)
    output = run_course_on_t4([f"small_model={llama32}", f"large_model={llama31}", f"judge_model={qwen_judge}",
                               "max_new_tokens=32", *SMALL_RUN, *pairs], only=LLAMA_NOTEBOOKS)
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
