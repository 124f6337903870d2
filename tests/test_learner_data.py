"""A learner's own data, named once in the profile, reaches every reader: never a silent
fallback to the course's files."""

import json
import subprocess
import sys

import pytest
from learner_files import BENCHMARK_CASE, write_learner_data
from learner_files import printed as printed_by

from medlab.data import sources
from medlab.profiles import ProfileError, load_profile


@pytest.fixture
def learner_data(tmp_path) -> dict[str, str]:
    return write_learner_data(tmp_path)


def test_every_reader_takes_the_data_the_profile_names(learner_data):
    profile = load_profile("tiny", **learner_data)
    notes, table = sources.splits("reasoning", profile), sources.splits("imaging", profile)
    assert (notes.source, table.source) == (learner_data["direct_dir"], learner_data["appropriateness_csv"])
    assert sum(notes.counts().values()) == 12 and sum(table.counts().values()) == 80
    held_out = sources.eval_sets(profile, tasks=("reasoning", "imaging", "triage"))
    assert held_out["reasoning"] and {n.path for n in held_out["reasoning"]} <= {n.path for n in notes.test}
    assert held_out["imaging"] == table.test[:profile.max_eval_examples]
    assert len(held_out["triage"]) == 3  # the sample file's retained rows, not the course's 36 cases
    assert "yours, " + learner_data["direct_dir"] in sources.data_used(profile)


def test_triage_trains_on_the_learners_mietic_cases_less_the_benchmarks(learner_data):
    profile = load_profile("tiny", **learner_data)
    cases = sources.splits("triage", profile)
    every = cases.train + cases.validation + cases.test
    assert cases.source == learner_data["mietic_corpus"] and len(every) == 40  # 41 rows less the benchmark's case
    assert not any(BENCHMARK_CASE in case.narrative for case in every)
    assert cases.reports[0].reasons == {"benchmark cases, held out for evaluation": 1}
    assert {case.level for case in cases.train} == {1, 2, 3, 4, 5}


def test_a_path_that_is_not_there_is_refused_by_name(tmp_path):
    with pytest.raises(ProfileError, match=r"appropriateness_csv='.*missing.csv': no such file"):
        load_profile("tiny", appropriateness_csv=str(tmp_path / "missing.csv"))
    with pytest.raises(ProfileError, match=r"direct_dir='.*notes': no such folder"):
        load_profile("tiny", direct_dir=str(tmp_path / "notes"))


def test_the_data_notebook_reads_and_prints_the_learners_copies(scratch_course, learner_data):
    """01 through the course runner, the data named with --set as a learner would name it."""
    pairs = [f"{key}={value}" for key, value in learner_data.items()]
    done = subprocess.run([sys.executable, "-m", "medlab.runner", "--profile", "tiny", "--only", "01", "--set", *pairs],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    printed = printed_by(scratch_course / "runs" / "tiny" / "01_data.ipynb")
    assert f"DiReCT notes: yours, {learner_data['direct_dir']}" in printed
    # credentialed data: its notes and cases are shown by length, never as text, and the run is marked
    assert "characters of credentialed data, not shown" in printed and "-year-old with complaint" not in printed
    assert "credentialed data: DiReCT, MIETIC (PhysioNet's data use agreement)" in printed
    assert "12 copies in a hidden folder such as .ipynb_checkpoints" in printed  # what was skipped, counted
    assert "1 benchmark cases, held out for evaluation" in printed
    recorded = json.loads((scratch_course / "runs" / "tiny" / "metrics" / "01_data.json").read_text())
    assert recorded["credentialed_data"] == ["DiReCT", "MIETIC"]
    metrics = recorded["metrics"]
    assert sum(metrics["split_counts"]["DiReCT"].values()) == 12
    assert sum(metrics["split_counts"]["Appropriateness"].values()) == 80
    assert metrics["triage_benchmark_cases"] == 3
    assert sum(metrics["split_counts"]["Triage"].values()) == 40
