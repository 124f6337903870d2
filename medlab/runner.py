"""Run the course headlessly: every numbered notebook, in order, through papermill.

    python -m medlab.runner --profile tiny            # what `make course` does
    python -m medlab.runner --only 00_setup 01_data   # a few notebooks
    python -m medlab.runner --profile t4 --set small_model=/models/llama-3b max_train_examples=50

Executed copies go to `runs/<profile>/`, one progress line per notebook is printed, the first
failure stops the run naming the notebook and the cell, and `runs/<profile>/summary.json`
gathers each notebook's seconds, peak memory and the metrics it recorded.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import papermill
import psutil
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import DeadKernelError

from medlab.env import machine
from medlab.profiles import DATA_PATHS, OVERRIDES_VARIABLE, ProfileError, load_profile, parse_overrides
from medlab.runlog import HomeNotWritable, course_root, pin_home, recorded_by, runs_dir, summary_file, write_json


def course_notebooks(folder: Path) -> list[Path]:
    """The numbered notebooks (`NN_name.ipynb`) in course order."""
    return sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))


class LocalKernelManager(AsyncKernelManager):
    """Talks to the notebook's kernel over IPC sockets in the temp folder, not TCP ports: nothing
    listens on the network, and the kernel has no "unencrypted TCP" warning to print.

    Asynchronous, as nbclient expects: with a blocking manager, nbclient's wait for the next
    output blocks its event loop, its check that the kernel is alive never runs, and a kernel
    that crashed hangs the run forever. It also keeps the exit status of a kernel that died
    (`last_exit_status`), which nbclient's "Kernel died" does not say."""

    last_exit_status: int | None = None

    def __init__(self, **kwargs):
        socket = Path(tempfile.gettempdir()) / f"medlab-kernel-{os.getpid()}"
        super().__init__(transport="ipc", ip=str(socket), **kwargs)

    async def _async_is_alive(self) -> bool:
        alive = await super()._async_is_alive()
        if not alive:
            LocalKernelManager.last_exit_status = kernel_exit_status(self)
        return alive

    is_alive = _async_is_alive  # the base class bound its own coroutine under this name


def kernel_exit_status(manager) -> int | None:
    """The exit status of a kernel manager's process once it has ended (negative: the signal that
    killed it); None while it runs or where the manager started no local process."""
    process = getattr(getattr(manager, "provisioner", None), "process", None)
    return process.poll() if process is not None else None


def how_it_ended(exit_status: int | None, who: str = "the kernel") -> str:
    """How a process ended, from its exit status (negative: killed by that signal).

    >>> how_it_ended(-11)
    'the kernel died of SIGSEGV (signal 11)'
    >>> how_it_ended(1, "python")
    'python exited with status 1'
    >>> how_it_ended(None)
    'the kernel died'
    """
    if exit_status is None:
        return f"{who} died"
    if exit_status < 0:
        try:
            name = signal.Signals(-exit_status).name
        except ValueError:
            name = "an unknown signal"
        return f"{who} died of {name} (signal {-exit_status})"
    return f"{who} exited with status {exit_status}"


class PeakMemory:
    """Samples the resident memory of this process's children (the Jupyter kernel) in a thread."""

    def __init__(self, interval: float = 0.2):
        self.interval, self.peak_mb = interval, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _sample(self):
        me = psutil.Process()
        while not self._stop.wait(self.interval):
            rss = 0
            for child in me.children(recursive=True):
                try:
                    rss += child.memory_info().rss
                except psutil.Error:  # the kernel may exit between listing and reading
                    pass
            self.peak_mb = max(self.peak_mb, rss / 2**20)


def run_notebook(source: Path, profile: str, seed: int) -> dict:
    """Execute one notebook into `runs/<profile>/` and return its summary row."""
    output = runs_dir(profile) / source.name
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.time()
    LocalKernelManager.last_exit_status = None
    with PeakMemory() as memory:
        papermill.execute_notebook(
            str(source), str(output), parameters={"PROFILE": profile, "SEED": seed},
            cwd=str(source.parent), progress_bar=False, kernel_name="python3",
            kernel_manager_class=LocalKernelManager,
        )
    return {"name": source.stem, "seconds": round(time.time() - started, 1),
            "peak_rss_mb": round(memory.peak_mb, 1), "executed": str(output),
            "metrics": recorded_metrics(profile, source.stem)}


def recorded_metrics(profile: str, notebook: str) -> dict:
    return recorded_by(profile, notebook).get("metrics", {})


def describe_failure(name: str, error: Exception, output: Path) -> str:
    """One line naming the notebook, the failing cell and its first line, then the traceback's file."""
    if isinstance(error, papermill.PapermillExecutionError):
        where = cell_label(output, error.cell_index, error.source)
        what = f"{error.ename}: {error.evalue}"
    elif isinstance(error, DeadKernelError):
        where = running_cell(output) or "in an unknown cell"
        what = how_it_ended(LocalKernelManager.last_exit_status) + " (native code crashed, or memory ran out)"
    else:
        where, what = "before any cell ran", f"{type(error).__name__}: {error}"
    return f"FAILED {name}: {where}: {what}\n  executed copy with the full traceback: {output}"


def cell_label(executed: Path, cell_index: int, source: str) -> str:
    """'cell 7 ('first line of its code')', numbered as in the committed notebook."""
    first_line = source.strip().splitlines()[0] if source.strip() else ""
    return f"cell {source_cell_number(executed, cell_index)} ({first_line[:60]!r})"


def running_cell(executed: Path) -> str | None:
    """The cell that was running when the kernel died: papermill marks every cell "completed"
    when it stops, so it is the last one that has a start time in the executed copy."""
    import nbformat

    if not executed.is_file():
        return None
    cells = nbformat.read(executed, as_version=4).cells
    started = [i for i, cell in enumerate(cells) if cell.get("metadata", {}).get("papermill", {}).get("start_time")]
    return cell_label(executed, started[-1], cells[started[-1]].source) if started else None


def source_cell_number(executed: Path, cell_index: int) -> int:
    """1-based position of a cell in the committed notebook, not counting papermill's injected
    cell, nor the two cells papermill adds to the executed copy after a failure (a message at
    the top, an anchor before the failing cell), which `cell_index` was counted without."""
    import nbformat
    from papermill.execute import ERROR_MARKER_TAG

    cells = [c for c in nbformat.read(executed, as_version=4).cells
             if ERROR_MARKER_TAG not in c.metadata.get("tags", [])][:cell_index]
    injected = sum("injected-parameters" in c.metadata.get("tags", []) for c in cells)
    return cell_index - injected + 1


class Interrupted(KeyboardInterrupt):
    """Ctrl+C or SIGTERM. A KeyboardInterrupt, so that no handler of ordinary errors on the way
    (papermill's, nbclient's, asyncio's) takes it for a failure of the notebook or swallows it."""


class KilledKernelsTasks(logging.Filter):
    """Drops asyncio's "Task exception was never retrieved" for nbclient's tasks that end in
    `DeadKernelError` once we killed the kernel ourselves: that death is the interrupt's, and
    its traceback after the one-line message would read like a second failure."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], DeadKernelError))


def stop_on_signal(signum, frame) -> None:
    """The first Ctrl+C or SIGTERM stops the run at once: the kernel (which Jupyter starts in a
    session of its own, out of reach of the terminal's Ctrl+C) is killed, and the run ends with
    one line. Further signals are ignored while it ends."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    logging.getLogger("asyncio").addFilter(KilledKernelsTasks())
    for child in psutil.Process().children(recursive=True):
        try:
            child.kill()
        except psutil.Error:
            pass
    raise Interrupted(signal.Signals(signum).name)


def remove_kernel_sockets() -> None:
    """The IPC socket files of this runner's kernels (`LocalKernelManager`), left in the temp
    folder by a kernel that was killed."""
    for path in Path(tempfile.gettempdir()).glob(f"medlab-kernel-{os.getpid()}*"):
        path.unlink(missing_ok=True)


def where_and_when() -> dict[str, str]:
    """The commit, the machine and the start of a run, for whoever reads its figures later."""
    try:
        commit = subprocess.run(["git", "-C", str(course_root()), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return {"commit": commit, "machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def run_course(profile: str, seed: int, only: list[str] | None = None, folder: Path | None = None) -> int:
    """Run the course's notebooks (or those in `folder`) in order; 0 on success, 1 on a failure,
    130 when interrupted. The summary says "running" from the start, and "failed" or
    "interrupted" on any end but success: never "passed" for a run that did not pass."""
    notebooks = course_notebooks(folder or course_root() / "notebooks")
    if only is not None:
        notebooks = [nb for nb in notebooks if nb.stem in only or nb.stem[:2] in only]
        if not notebooks:
            print(f"no notebook matches {only}: give names like 00_setup or numbers like 00")
            return 2
    summary = {"profile": profile, "seed": seed, "notebooks": [], "status": "running",
               "planned": [nb.stem for nb in notebooks], **where_and_when()}
    _write_summary(profile, summary)  # a stale "passed" from an earlier run is gone from here on
    handlers = {sig: signal.signal(sig, stop_on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return run_in_order(notebooks, profile, seed, summary)
    except Interrupted as signal_name:
        done = len(summary["notebooks"])
        summary.update(status="interrupted", interrupted=notebooks[min(done, len(notebooks) - 1)].stem)
        _write_summary(profile, summary)
        print(f"INTERRUPTED ({signal_name}) during {summary['interrupted']}: {len(summary['notebooks'])} of "
              f"{len(notebooks)} notebooks finished; the summary says so")
        return 130
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        remove_kernel_sockets()


def run_in_order(notebooks: list[Path], profile: str, seed: int, summary: dict) -> int:
    """The notebooks one after another, the summary written after each; stops at the first failure."""
    total = time.time()
    for i, source in enumerate(notebooks, 1):
        try:
            row = run_notebook(source, profile, seed)
        except Exception as error:  # report any failure the same way, then stop
            summary["status"] = "failed"
            summary["failed"] = source.stem
            _write_summary(profile, summary)
            print(describe_failure(source.stem, error, runs_dir(profile) / source.name))
            return 1
        summary["notebooks"].append(row)
        _write_summary(profile, summary)
        print(f"[{i}/{len(notebooks)}] {row['name']:<24} {row['seconds']:>7.1f} s   "
              f"peak {row['peak_rss_mb']:>6.0f} MB", flush=True)
    summary["status"] = "passed"
    summary["seconds"] = round(time.time() - total, 1)
    _write_summary(profile, summary)
    print(f"course on profile {profile!r}: {len(notebooks)} notebooks in {summary['seconds']} s; "
          f"summary in {summary_file(profile)}")
    return 0


def _write_summary(profile: str, summary: dict) -> None:
    write_json(summary_file(profile), summary)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="tiny", help="tiny, t4 or full (default: tiny)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="+", help="notebook names or numbers to run")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="profile overrides for every notebook, e.g. small_model=/models/llama-3b "
                             "max_train_examples=50 data_source=course")
    args = parser.parse_args(argv)
    try:
        pin_home()  # absolute before any kernel starts: the kernels run in notebooks/, not here
    except HomeNotWritable as error:
        print(error)
        return 2
    if args.set:
        try:  # checked here, before any notebook starts, with the profile's own messages
            load_profile(args.profile, **parse_overrides(args.set))
        except ProfileError as error:
            print(f"--set: {error}")
            return 2
        # The notebooks' kernels inherit it; appended, so it wins over what MEDLAB_SET already said.
        # Data paths made absolute here: the kernels run in notebooks/, not where --set was typed.
        os.environ[OVERRIDES_VARIABLE] = " ".join(filter(None, [os.environ.get(OVERRIDES_VARIABLE, ""),
                                                               shlex.join(map(absolute_data_path, args.set))]))
    return run_course(args.profile, args.seed, args.only)


def absolute_data_path(pair: str) -> str:
    """A `key=value` override with a data path (`profiles.DATA_PATHS`) made absolute; others as given.

    >>> import os; absolute_data_path("direct_dir=notes") == f"direct_dir={os.getcwd()}/notes"
    True
    >>> absolute_data_path("max_train_examples=50")
    'max_train_examples=50'
    """
    key, _, value = pair.partition("=")
    return f"{key}={Path(value).expanduser().resolve()}" if key in DATA_PATHS and value else pair


if __name__ == "__main__":
    sys.exit(main())
