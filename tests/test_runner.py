"""The headless runner on small notebooks: progress, summary, and stopping at a failure."""

import json

from medlab.runner import course_notebooks, run_course

RECORDS = (
    "from medlab.runlog import start_notebook\n"
    "run = start_notebook(NAME, PROFILE, seed=SEED)\n"
    "run.record(answer=PROFILE + '-' + str(SEED))"
)


def test_notebooks_run_in_order_and_the_summary_gathers_metrics(scratch_course, notebook_writer, capsys):
    folder = scratch_course / "notebooks"
    notebook_writer(folder / "01_second.ipynb", "PROFILE = 'x'\nSEED = 1\nNAME = '01_second'", RECORDS)
    notebook_writer(folder / "00_first.ipynb", "PROFILE = 'x'\nSEED = 1\nNAME = '00_first'", RECORDS)
    (folder / "scratch.ipynb").write_text("not a course notebook")
    assert [p.name for p in course_notebooks(folder)] == ["00_first.ipynb", "01_second.ipynb"]

    assert run_course("tiny", seed=5, folder=folder) == 0

    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("[1/2] 00_first") and printed[1].startswith("[2/2] 01_second")
    summary = json.loads((scratch_course / "runs/tiny/summary.json").read_text())
    assert summary["status"] == "passed"
    assert [row["name"] for row in summary["notebooks"]] == ["00_first", "01_second"]
    first = summary["notebooks"][0]
    assert first["metrics"]["answer"] == "tiny-5"  # parameters reached the notebook
    assert first["seconds"] > 0 and first["peak_rss_mb"] > 0
    assert (scratch_course / "runs/tiny/00_first.ipynb").exists()


def test_first_failure_stops_the_run_and_names_notebook_and_cell(scratch_course, notebook_writer, capsys):
    folder = scratch_course / "notebooks"
    notebook_writer(folder / "00_breaks.ipynb", "PROFILE = 'x'\nSEED = 0", "x = 1",
                  "raise ValueError('bad row 7')")
    notebook_writer(folder / "01_never.ipynb", "PROFILE = 'x'\nSEED = 0", "open('ran', 'w').write('yes')")

    assert run_course("tiny", seed=0, folder=folder) == 1

    message = capsys.readouterr().out
    # Counted as in the committed notebook, from 1: papermill's injected cell is not counted.
    assert "FAILED 00_breaks: cell 3 (\"raise ValueError('bad row 7')\")" in message
    assert "ValueError: bad row 7" in message
    assert not (folder / "ran").exists()
    summary = json.loads((scratch_course / "runs/tiny/summary.json").read_text())
    assert (summary["status"], summary["failed"]) == ("failed", "00_breaks")


def test_only_with_no_match_says_what_to_write(scratch_course, notebook_writer, capsys):
    notebook_writer(scratch_course / "notebooks" / "00_a.ipynb", "PROFILE = 'x'")
    assert run_course("tiny", 0, only=["99"], folder=scratch_course / "notebooks") == 2
    assert "names like 00_setup" in capsys.readouterr().out


DIE = "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)  # what a crash in native code does"


def test_a_kernel_that_dies_fails_within_a_minute_naming_notebook_cell_and_signal(scratch_course, notebook_writer):
    """In a child process with a time limit: a runner that waits on a dead kernel forever (as it did
    with a blocking kernel manager) fails here instead of hanging the suite."""
    import os
    import subprocess
    import sys
    import time

    notebook_writer(scratch_course / "notebooks" / "00_crashes.ipynb", "PROFILE = 'x'\nSEED = 0", "x = 1", DIE,
                    "x = 2")
    started = time.monotonic()
    course = ("import sys; from pathlib import Path; from medlab.runner import run_course; "
              "sys.exit(run_course('tiny', 0, folder=Path(sys.argv[1])))")
    result = subprocess.run([sys.executable, "-c", course, str(scratch_course / "notebooks")], capture_output=True,
                            text=True, timeout=120, env={**os.environ, "MEDLAB_HOME": str(scratch_course)})

    assert time.monotonic() - started < 60
    assert result.returncode == 1
    assert "FAILED 00_crashes: cell 3 ('import os, signal')" in result.stdout
    assert "the kernel died of SIGSEGV (signal 11)" in result.stdout
    summary = json.loads((scratch_course / "runs/tiny/summary.json").read_text())
    assert (summary["status"], summary["failed"]) == ("failed", "00_crashes")


def test_under_nbval_a_kernel_that_dies_fails_its_cell_within_a_minute(tmp_path, notebook_writer):
    """`make test` runs the notebooks through nbval, which without medlab.nbval_kernel waits out the
    900-second cell timeout for each cell a dead kernel leaves."""
    import subprocess
    import sys
    import time

    notebook_writer(tmp_path / "crashes.ipynb", "PROFILE = 'x'", DIE, "x = 2")
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "medlab.nbval_kernel",
                             "--nbval-lax", "--nbval-cell-timeout=900", "-q", "crashes.ipynb"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert time.monotonic() - started < 60
    assert result.returncode == 1
    assert "crashes.ipynb::Cell 1" in result.stdout  # nbval counts cells from 0: the one that killed it
    assert "the kernel died of SIGSEGV (signal 11) while this cell ran" in result.stdout
