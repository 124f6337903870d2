"""The course's table of runs (`medlab.course.RUNS`) is the one place a run is declared: the
scripts, the launch commands, notebook 08's expectations, the GPU benchmark and the notebooks
read it, and nothing describes a course adapter by hand."""

from __future__ import annotations

import importlib.util
import inspect
import json
import re
import shlex
import sys
from pathlib import Path

import pytest

from medlab import course
from medlab.adapters import COURSE_ADAPTERS
from medlab.evaluation import TASKS
from medlab.grpo import reward_rows
from medlab.profiles import load_profile
from medlab.rewards import JUDGE, REWARDS
from medlab.scale import SCRIPT_FOR, scale_up_command

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
TRL_COLUMNS = {"completions", "prompts", "completion_ids", "kwargs"}  # what TRL passes besides a row's columns


def load_script(name: str):
    """scripts/<name>.py as a module (its `common` import found beside it)."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        spec = importlib.util.spec_from_file_location(f"course_script_{name}", SCRIPTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(SCRIPTS))


def chosen_run(module, args):
    """The course run a script's parsed command line names."""
    return {"sft": lambda: module.RUNS[args.task], "grpo": lambda: module.RUNS[args.variant],
            "ppo": lambda: module.RUN}[module.__name__.rsplit("_", 1)[-1]]()


@pytest.mark.parametrize("run", [r for r in course.RUNS if r.scripted], ids=lambda r: r.name)
def test_every_script_accepts_the_runs_it_trains_and_trains_that_run(run):
    script, *options = shlex.split(run.script)
    module = load_script(Path(script).stem)
    args = module.build_parser().parse_args([*options, "--profile", "tiny"])
    assert chosen_run(module, args) is run
    assert SCRIPT_FOR[run.name] == run.script
    assert script in scale_up_command(run.name, load_profile("tiny"))


@pytest.mark.parametrize("method", ["sft", "grpo"])
def test_a_script_offers_no_choice_the_table_does_not_hold(method, capsys):
    module = load_script(method)
    with pytest.raises(SystemExit):
        module.build_parser().parse_args(["--task" if method == "sft" else "--variant", "mcq"])
    offered = re.search(r"choose from (.*)\)", capsys.readouterr().err).group(1)
    assert sorted(re.findall(r"'?(\w+)'?", offered)) == sorted(course.scripted(method))


def test_each_table_that_lists_the_course_runs_is_read_from_the_one_table():
    assert list(COURSE_ADAPTERS) == [run.name for run in course.RUNS]
    assert set(SCRIPT_FOR) == {run.name for run in course.RUNS} - {"grpo_mcq"}  # 05's side-by-side comparison
    assert {run.notebook for run in course.RUNS} == {"03_sft_mcq", "04_sft_reasoning", "05_ppo_mcq",
                                                     "06_grpo_appropriateness", "07_grpo_triage"}


def test_every_run_names_tasks_rewards_and_a_start_that_exist():
    for run in course.RUNS:
        assert run.task in TASKS and set(run.evaluated_on) <= set(TASKS), run.name
        assert set(run.rewards) <= set(REWARDS) | {JUDGE}, run.name
        assert run.start in ("", *course.BY_NAME), run.name
        if run.start:  # a run starts from an adapter trained before it, on the same base
            start = course.course_run(run.start)
            assert course.RUNS.index(start) < course.RUNS.index(run) and start.task == run.task, run.name
        assert run.weights is None or len(run.weights) == len(run.rewards), run.name
        assert (run.method == "sft") == (not run.rewards), run.name


def reward_columns(reward) -> set[str]:
    """The dataset columns a reward function reads: its parameters TRL fills from the row (those
    without a default, or defaulting to None), not its options."""
    return {name for name, p in inspect.signature(reward).parameters.items()
            if name not in TRL_COLUMNS and p.default in (inspect.Parameter.empty, None)}


@pytest.mark.parametrize("run", [r for r in course.RUNS if r.method == "grpo" and r.scripted], ids=lambda r: r.name)
def test_the_grpo_script_gives_every_reward_the_columns_it_reads(run):
    """scripts/grpo.py once built its own triage rows without the `pain` column the rule bonus
    reads, so the script's bonus run was paid differently from 07's."""
    module = load_script("grpo")
    rows = reward_rows(run, module.rl_pool(run.task, load_profile("tiny"), seed=0))
    assert rows
    for name in run.rewards:
        if name != JUDGE:
            assert reward_columns(REWARDS[name]) <= set(rows[0]), (run.name, name)


def code_cells(notebook: Path) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def test_no_notebook_script_or_benchmark_describes_a_course_adapter_by_hand():
    sources = {path: code_cells(path) for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))}
    sources |= {path: path.read_text() for path in [*SCRIPTS.glob("*.py"), *(ROOT / "benchmarks").glob("*.py")]}
    by_hand = [path.name for path, text in sources.items() if "AdapterInfo(" in text]
    assert by_hand == [], f"build adapter descriptions with course.adapter_info or run.adapter_info: {by_hand}"
