"""Where a notebook's results go: metrics JSON, figures and artefacts under `runs/<profile>/`.

Every notebook starts with `start_notebook(...)` and records what it measured through the
returned `NotebookRun`, so the headless runner and the evaluation notebook find every result in
one place.

Introduced in notebooks/00_setup.ipynb.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from medlab.env import check_device, peak_memory_mb, seed_everything
from medlab.exercises import Exercise, choose_exercise
from medlab.profiles import Profile, changed_fields, credentialed_data, load_profile, on_colab


def course_root() -> Path:
    """The course checkout, which holds `notebooks/` and `data/`."""
    package_parent = Path(__file__).resolve().parent.parent
    if (package_parent / "notebooks").is_dir():
        return package_parent
    return Path.cwd()


def project_root() -> Path:
    """Where runs and figures are kept: `MEDLAB_HOME` if set, else the course checkout.

    On Colab, `medlab.colab.setup_colab` points `MEDLAB_HOME` at Google Drive: each notebook
    there runs on a fresh machine, and only Drive keeps 03's adapter for 08, or a checkpoint
    through a disconnect.
    """
    if os.environ.get("MEDLAB_HOME"):
        return Path(os.environ["MEDLAB_HOME"]).expanduser().resolve()
    return course_root()


class HomeNotWritable(OSError):
    """The runs folder (`MEDLAB_HOME`, or the course folder) cannot be written."""


def pin_home() -> Path:
    """`MEDLAB_HOME` made absolute once, in this process's environment, and checked to be a folder
    this process can write; returns the home.

    A relative `MEDLAB_HOME` would otherwise name another folder in each process that reads it:
    the runner's (started where the command was typed) and each kernel's (started in
    notebooks/), splitting one run's summary from its metrics. Checked once, it stops in one
    line naming the folder, not in a chain of tracebacks from the first file a notebook writes."""
    home = project_root()
    if os.environ.get("MEDLAB_HOME"):
        os.environ["MEDLAB_HOME"] = str(home)
    probe = home / f".medlab-write-test-{os.getpid()}"
    try:
        home.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        where = "MEDLAB_HOME" if os.environ.get("MEDLAB_HOME") else "the course folder"
        raise HomeNotWritable(f"cannot write runs to {home} ({where}): {error.strerror or error}; set "
                              "MEDLAB_HOME to a folder you can write to") from None
    return home


def runs_dir(profile_name: str) -> Path:
    return project_root() / "runs" / profile_name


def scratch_root() -> Path | None:
    """A folder on this machine's own disk for work files, where the runs folder is a synced
    drive (`MEDLAB_SCRATCH`; `medlab.colab.setup_colab` sets it beside Google Drive), else None.

    Trainers write and rotate their checkpoints there: each file deleted on Drive goes to its
    trash and keeps using the quota (see `training.KeepCheckpoint`)."""
    scratch = os.environ.get("MEDLAB_SCRATCH")
    return Path(scratch).resolve() if scratch else None


def summary_file(profile_name: str) -> Path:
    """Where the runner keeps a course run's summary: each notebook's seconds, memory and metrics."""
    return runs_dir(profile_name) / "summary.json"


def metrics_file(profile_name: str, notebook: str) -> Path:
    """Where a notebook's run (`NotebookRun.record`) keeps what it measured."""
    return runs_dir(profile_name) / "metrics" / f"{notebook}.json"


def recorded_by(profile_name: str, notebook: str) -> dict:
    """What `notebook`'s run on the profile recorded (its metrics, overrides, credentialed data),
    or {} when it has not run."""
    path = metrics_file(profile_name, notebook)
    return json.loads(path.read_text()) if path.exists() else {}


def work_dir(kept: Path) -> Path:
    """Where work files for the runs-folder path `kept` are written: `kept` itself, or, where the
    runs folder is a synced drive (`scratch_root()`), the same path on the local disk (a
    trainer's rotated checkpoints, 09's merged model and GGUF files before one is kept)."""
    scratch = scratch_root()
    if scratch is None or not kept.is_relative_to(project_root()):
        return kept
    return scratch / kept.relative_to(project_root())


def kept_dir(work: Path) -> Path:
    """The runs-folder path whose work folder is `work` (the inverse of `work_dir`)."""
    scratch = scratch_root()
    if scratch is None or not work.is_relative_to(scratch):
        return work
    return project_root() / work.relative_to(scratch)


@dataclass
class NotebookRun:
    """One notebook's run: its profile, and the files it writes under `runs/<profile>/`."""

    notebook: str
    profile: Profile
    seed: int
    exercise: Exercise | None = None  # an exercise's run keeps its results apart from the course's
    started: float = field(default_factory=time.time)

    @property
    def label(self) -> str:
        """The notebook's name, with the exercise's after it when one runs: `03_sft_mcq.low_lr`."""
        return f"{self.notebook}.{self.exercise.name}" if self.exercise else self.notebook

    def adapter_name(self, name: str) -> str:
        """The name an adapter this run trains is saved under: `sft_mcq`, or `sft_mcq.low_lr` in an
        exercise, so that an exercise never replaces an adapter later notebooks start from."""
        return f"{name}.{self.exercise.name}" if self.exercise else name

    def adapter_info(self, name: str, **fields):
        """The description of course adapter `name` (`course.adapter_info`: its row in the course's
        table of runs), saved under this run's `adapter_name`."""
        from medlab.course import adapter_info

        return adapter_info(name, self.profile, saved_as=self.adapter_name(name), **fields)

    def exercised(self, kind: str, thing):
        """`thing` (a recipe, a config) as the running exercise changes it; unchanged otherwise."""
        return self.exercise.apply(kind, thing) if self.exercise else thing

    def exercise_value(self, kind: str, default):
        """A setting the running exercise gives, or `default`."""
        return self.exercise.value(kind, default) if self.exercise else default

    @property
    def dir(self) -> Path:
        return runs_dir(self.profile.name)

    @property
    def metrics_path(self) -> Path:
        return metrics_file(self.profile.name, self.label)

    @property
    def figures_dir(self) -> Path:
        return project_root() / "figures" / self.profile.name

    def record(self, **metrics) -> dict:
        """Merge `metrics` into this notebook's metrics file (with peak memory) and return all,
        every float rounded to 4 decimals (`rounded`): a notebook passes its numbers as they are."""
        data = self.metrics()
        data["metrics"].update(rounded(metrics))
        data["metrics"].update(peak_memory_mb())
        data["seconds"] = round(time.time() - self.started, 1)
        write_json(self.metrics_path, data)
        return data["metrics"]

    def metrics(self) -> dict:
        if self.metrics_path.exists():
            return json.loads(self.metrics_path.read_text())
        return {"notebook": self.notebook, "profile": self.profile.name, "seed": self.seed,
                "overrides": changed_fields(self.profile),  # a smoke test's smoke_steps among them
                "credentialed_data": credentialed_data(self.profile),  # under a data use agreement: not to share
                "exercise": self.exercise and self.exercise.name, "metrics": {}}

    def expect(self, condition: bool, message: str) -> None:
        """Assert `condition` on a course run. A smoke test (a few steps, to see the notebook run)
        or an exercise (one change, to compare) is not the run the checks were written for: there
        the check is named "not checked" and the notebook goes on."""
        if self.exercise or self.profile.smoke_steps:
            why = f"exercise {self.exercise.name}" if self.exercise else f"smoke test, {self.profile.smoke_steps} steps"
            print(f"not checked ({why}): {message}")
            return
        assert condition, message

    def expect_no_problems(self, problems: list[str], what: str) -> None:
        """`expect` for a check that lists its problems (`checks.discriminates`, `checks.beats`):
        none is a pass; otherwise they are the message, after `what`."""
        self.expect(not problems, f"{what}" + "".join(f"\n- {problem}" for problem in problems))

    def save_figure(self, fig, name: str) -> Path:
        """Save `fig` as `figures/<profile>/<label>_<name>.png` and return the path."""
        self.figures_dir.mkdir(parents=True, exist_ok=True)
        path = self.figures_dir / f"{self.label}_{name}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        return path


def rounded(value, digits: int = 4):
    """`value` with every float in it, however deeply nested, rounded to `digits` decimals.

    >>> rounded({"kappa": [0.79843, 0.63541, 0.90812], "steps": 300, "note": "x", "by": {"a": 1 / 3}})
    {'kappa': [0.7984, 0.6354, 0.9081], 'steps': 300, 'note': 'x', 'by': {'a': 0.3333}}
    """
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {key: rounded(item, digits) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(item, digits) for item in value]
    return value


def same_code(lesson, library) -> bool:
    """Whether two functions are written the same, docstrings, comments, imports, type hints and
    layout aside: a notebook's teaching copy checked against medlab's, so that a change made to
    one alone fails where it was made. (Imports aside: a lesson cell imports at its top, medlab's
    module inside the function where the import is heavy.)

    >>> def doubled(x):
    ...     "Twice x."
    ...     import math
    ...     return x * 2  # why
    >>> def twice(x):
    ...     return x*2
    >>> def thrice(x):
    ...     return x * 3
    >>> same_code(doubled, twice), same_code(doubled, thrice)
    (True, False)
    """
    return _written(lesson) == _written(library)


def _written(function) -> str:
    """What `same_code` compares: the function's arguments and statements, without docstring,
    imports or type hints."""
    import ast
    import inspect
    import textwrap

    node = ast.parse(textwrap.dedent(inspect.getsource(function))).body[0]
    for arg in ast.walk(node.args):
        if isinstance(arg, ast.arg):
            arg.annotation = None
    body = [statement for statement in node.body if not isinstance(statement, ast.Import | ast.ImportFrom)]
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    return ast.dump(node.args) + "".join(ast.dump(statement) for statement in body)


def start_notebook(notebook: str, profile: str = "auto", seed: int = 0, exercise: str | None = None,
                   **overrides) -> NotebookRun:
    """Build the typed profile, seed everything once, and open a fresh metrics file. `exercise`
    names one of the notebook's exercises (`medlab.exercises`) to run instead of the course's run.

    A tiny run also switches the hub off, so a mistaken hub id fails at once instead of
    hanging on a machine with no network. On Colab the runs folder is first moved to Google Drive
    (`colab.setup_colab`).
    """
    if on_colab():  # before the profile: the runs folder moves to Google Drive
        from medlab.colab import setup_colab

        setup_colab()
    config = load_profile(profile, **overrides)
    pin_home()
    check_online(config)
    check_device(config)
    if config.offline:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["HF_DATASETS_OFFLINE"] = "1"
    seed_everything(seed)
    run = NotebookRun(notebook=notebook, profile=config, seed=seed, exercise=choose_exercise(notebook, exercise))
    run.metrics_path.unlink(missing_ok=True)  # a re-run starts clean: no stale numbers
    print(f"{notebook}: profile {config.name!r}, seed {seed}; results in {run.dir}, figures in {run.figures_dir}")
    changed = changed_fields(config)
    if changed:
        print("overrides: " + ", ".join(f"{key}={value}" for key, value in changed.items()))
    if credentialed_data(config):
        print(f"credentialed data: {', '.join(credentialed_data(config))} (PhysioNet's data use agreement): this "
              "run's outputs are marked so, notes and cases are shown by length only, and nothing here is to be shared")
    if run.exercise:
        print(f"exercise {run.exercise.name!r} ({run.exercise.level}): {run.exercise.change}; results as "
              f"{run.label}, adapters as <name>.{run.exercise.name}")
    return run


def check_online(profile: Profile) -> None:
    """Fail, saying what to do, when an online profile starts in a kernel a tiny run left offline.

    The hub libraries read `HF_HUB_OFFLINE` once, when first imported, so clearing it later
    changes nothing: only a fresh kernel can download again.
    """
    if profile.offline or os.environ.get("HF_HUB_OFFLINE", "").lower() not in ("1", "true", "yes", "on"):
        return
    raise RuntimeError(
        f"profile {profile.name!r} downloads from the hub, but HF_HUB_OFFLINE is set in this kernel "
        "(a tiny run sets it): restart the kernel (Kernel > Restart) and run the notebook again; "
        "outside a notebook, unset HF_HUB_OFFLINE"
    )


def write_json(path: Path, data, indent: int | None = 2) -> Path:
    """Every JSON file the course writes goes through here: through a temporary file, so a
    crash never leaves half a file behind, with values JSON lacks (paths, numpy numbers) as text."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=indent, default=str) + "\n")
    tmp.replace(path)
    return path
