"""The headless runner on small notebooks: progress, summary, and stopping at a failure."""

import json
from pathlib import Path

import pytest

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


SLEEPS = "import time\ntime.sleep(120)  # a long training cell"


@pytest.mark.parametrize("sent", ["SIGINT", "SIGTERM"])
def test_the_first_interrupt_ends_the_run_at_once_and_the_summary_says_so(scratch_course, notebook_writer, sent):
    """A stale "passed" summary is gone as soon as a run starts; Ctrl+C (or SIGTERM) ends the run
    within seconds with one line, the kernel killed and its socket files removed."""
    import os
    import signal
    import subprocess
    import sys
    import tempfile
    import time

    notebook_writer(scratch_course / "notebooks" / "00_sleeps.ipynb", "PROFILE = 'x'\nSEED = 0", SLEEPS)
    summary_path = scratch_course / "runs/tiny/summary.json"
    summary_path.parent.mkdir(parents=True)
    summary_path.write_text(json.dumps({"status": "passed", "notebooks": [{"name": "00_sleeps"}]}))
    course = ("import sys; from pathlib import Path; from medlab.runner import run_course; "
              "sys.exit(run_course('tiny', 0, folder=Path(sys.argv[1])))")
    runner = subprocess.Popen([sys.executable, "-c", course, str(scratch_course / "notebooks")], text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env={**os.environ, "MEDLAB_HOME": str(scratch_course)})
    deadline = time.monotonic() + 60
    while not (scratch_course / "runs/tiny/00_sleeps.ipynb").exists() and time.monotonic() < deadline:
        time.sleep(0.5)  # papermill writes the executed copy as the cells start
    time.sleep(3)
    assert json.loads(summary_path.read_text())["status"] == "running"  # not the stale "passed"
    sent_at = time.monotonic()
    runner.send_signal(getattr(signal, sent))
    out, err = runner.communicate(timeout=60)

    assert runner.returncode == 130 and time.monotonic() - sent_at < 15
    assert [line for line in out.splitlines() if line.strip()] == [
        f"INTERRUPTED ({sent}) during 00_sleeps: 0 of 1 notebooks finished; the summary says so"]
    assert "Traceback" not in err
    summary = json.loads(summary_path.read_text())
    assert (summary["status"], summary["interrupted"]) == ("interrupted", "00_sleeps")
    assert not list(Path(tempfile.gettempdir()).glob(f"medlab-kernel-{runner.pid}*"))


KILLED_KERNELS_TASK = """
import asyncio, gc, signal
from nbclient.exceptions import DeadKernelError
from medlab.runner import Interrupted, stop_on_signal

try:
    stop_on_signal(signal.SIGTERM, None)
except Interrupted:
    pass

async def cell():
    raise DeadKernelError("Kernel died")

loop = asyncio.new_event_loop()
task = loop.create_task(cell())
loop.run_until_complete(asyncio.sleep(0.1))  # the task fails; nobody reads its exception
del task
gc.collect()
"""


def test_after_an_interrupt_the_killed_kernels_unread_task_errors_print_no_traceback():
    """The kernel the interrupt killed ends nbclient's pending tasks in DeadKernelError; asyncio
    reports such unread errors when it collects the tasks, which on a slow machine came after
    the run's one line as a traceback (the race behind an interrupt test's rare failure)."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", KILLED_KERNELS_TASK], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "DeadKernelError" not in result.stderr


def test_a_failure_in_the_cell_after_the_parameters_names_that_cell(scratch_course, notebook_writer, capsys):
    """papermill adds a message cell at the top of the executed copy and an anchor before the
    failing cell: neither is a cell of the notebook."""
    notebook_writer(scratch_course / "notebooks" / "00_setup_breaks.ipynb", "PROFILE = 'x'\nSEED = 0",
                    "raise RuntimeError('no GPU')", "x = 1")
    assert run_course("tiny", 0, folder=scratch_course / "notebooks") == 1
    assert "FAILED 00_setup_breaks: cell 2 (\"raise RuntimeError('no GPU')\")" in capsys.readouterr().out


def test_only_with_no_names_is_refused_not_taken_for_the_whole_course(capsys):
    from medlab.runner import main

    with pytest.raises(SystemExit) as stopped:
        main(["--only"])
    assert stopped.value.code == 2 and "--only: expected at least one argument" in capsys.readouterr().err


def test_a_relative_medlab_home_is_made_absolute_once_for_the_runner_and_its_kernels(tmp_path, monkeypatch):
    import os

    from medlab.runlog import pin_home

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MEDLAB_HOME", "relhome")
    assert pin_home() == tmp_path / "relhome"
    assert os.environ["MEDLAB_HOME"] == str(tmp_path / "relhome")  # what the kernels inherit
    monkeypatch.chdir(tmp_path / "relhome")  # a kernel starts in another folder: the same home
    assert pin_home() == tmp_path / "relhome"


def test_a_medlab_home_that_cannot_be_written_stops_in_one_line(tmp_path, monkeypatch, capsys):
    from medlab.runner import main

    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("MEDLAB_HOME", str(tmp_path / "a-file" / "runs"))
    assert main(["--only", "00"]) == 2
    printed = capsys.readouterr().out.strip()
    assert printed.startswith(f"cannot write runs to {tmp_path / 'a-file' / 'runs'} (MEDLAB_HOME): ")
    assert "\n" not in printed and "set MEDLAB_HOME to a folder you can write to" in printed
