"""What pyproject.toml promises: floors the pinned libraries themselves require, an install
that leaves Colab's Jupyter stack alone, every import declared, one address for the course."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions, requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from medlab import repository

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
BASE = [Requirement(line) for line in PROJECT["dependencies"]]
EXTRAS = {name: [Requirement(line) for line in lines] for name, lines in PROJECT["optional-dependencies"].items()}
JUPYTER_STACK = {"jupyterlab", "notebook", "ipykernel", "ipython", "jupyter-client", "jupyter-server", "papermill",
                 "nbclient", "nbval", "ipywidgets"}  # Colab pins its own; an upgrade can break its runtime
TORCH_FLOOR_IN_CODE = {"transformers": Version("2.6")}  # transformers disables torch below 2.6 (import_utils)
NOT_FROM_PYPI = {"llama_cpp": "built by medlab.llama_build", "gguf": "llama.cpp's own converter, fetched by export",
                 "google": "Colab's own google.colab"}


def floor(specifier: SpecifierSet) -> Version | None:
    """The lowest version a specifier allows, where it names one (>=, ==, ~=)."""
    bounds = [Version(s.version) for s in specifier if s.operator in (">=", "==", "~=")]
    return max(bounds, default=None)


def names(requirements) -> set[str]:
    return {re.sub(r"[-_.]+", "-", r.name.lower()) for r in requirements}


def pinned_libraries():
    """The installed distributions of pyproject's base and [gpu] dependencies."""
    return [r.name for r in BASE + EXTRAS["gpu"] if r.name != "torch"]


def test_the_python_floor_is_the_highest_any_pinned_library_declares():
    from importlib.metadata import metadata

    declared = {name: floor(SpecifierSet(metadata(name)["Requires-Python"] or "")) for name in pinned_libraries()}
    needed = max(v for v in declared.values() if v)
    ours = floor(SpecifierSet(PROJECT["requires-python"]))
    assert ours == needed, f"requires-python says {ours}; the libraries need {needed}: " + ", ".join(
        f"{name} {v}" for name, v in declared.items() if v == needed)


def test_the_torch_floor_is_the_highest_any_pinned_library_needs():
    floors = dict(TORCH_FLOOR_IN_CODE)
    for name in pinned_libraries():
        for line in requires(name) or []:
            requirement = Requirement(line)
            if requirement.name == "torch" and not requirement.marker and floor(requirement.specifier):
                floors[name] = floor(requirement.specifier)
    ours = floor(next(r for r in BASE if r.name == "torch").specifier)
    assert ours == max(floors.values()), f"torch>={ours} in pyproject; the libraries need {max(floors.values())}"


def test_colabs_install_leaves_its_jupyter_stack_alone():
    colab = names(BASE + EXTRAS["gpu"])  # what the setup cells install: '.[gpu]'
    assert not colab & JUPYTER_STACK, f"Colab's install would replace {sorted(colab & JUPYTER_STACK)}"
    dev = next(Requirement(r) for r in PROJECT["optional-dependencies"]["dev"] if Requirement(r).name == "medlab")
    assert {"gpu", "lab", "site"} <= dev.extras, "make setup installs the lab and site extras too"
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        assert "pip install -q -e '/content/medlab[gpu]'" in notebook.read_text(), notebook.name


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name != "medlab"}


def test_every_library_medlab_imports_is_declared():
    """rich was imported by the chat and declared nowhere: a Colab install without it failed there."""
    declared = names(BASE) | {n for extra in EXTRAS.values() for n in names(extra)}
    # the runner and the pytest plugin (the lab extra), the site's builder (the site extra): tools, not the course
    lab_only = {"runner.py", "nbval_kernel.py", "site.py"}
    distributions = packages_distributions()
    missing = []
    for path in sorted((ROOT / "medlab").rglob("*.py")):
        allowed = declared if path.name in lab_only else names(BASE) | names(EXTRAS["gpu"])
        for module in imports_of(path) - set(NOT_FROM_PYPI):
            dists = names(Requirement(d) for d in distributions.get(module, [module]))
            via_papermill = path.name in lab_only and module in {"nbclient", "nbformat", "jupyter_client"}
            if not dists & allowed and not via_papermill:
                missing.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not missing, "; ".join(missing)


def test_every_badge_and_clone_line_points_at_the_one_address():
    assert not repository.disagreeing(), repository.disagreeing()
    readme, *notebooks = repository.course_files()
    for path in notebooks:  # a badge and a clone line in each, both read by the patterns
        text = path.read_text()
        assert len(repository.BADGE.findall(text)) == 1 and len(repository.CLONE.findall(text)) == 1, path.name
    assert len(repository.addresses(readme.read_text())) == len(notebooks)  # the course table's "open" links


@pytest.mark.parametrize("repo, ref", [("someone/medlab-fork", "v0.2.0")])
def test_one_setting_readdresses_every_badge_and_clone_line(tmp_path, repo, ref):
    (tmp_path / "notebooks").mkdir()
    for path in repository.course_files():
        target = tmp_path / path.relative_to(ROOT)
        target.write_text(repository.readdress(path.read_text(), repo, ref))
    assert not repository.disagreeing(tmp_path, repo, ref)
    assert repository.disagreeing(tmp_path)  # and none is left at the old address


def test_saving_an_adapter_needs_nothing_of_the_lab_extra():
    """Colab installs `[gpu]` only, so papermill (the runner's) is not there: naming the machine in
    an adapter's description (`env.hardware`) once imported the runner, and every save failed."""
    code = ("import sys; sys.modules['papermill'] = None\n"  # an import of it raises, as without the package
            "from medlab.adapters import quantization\nfrom medlab.env import hardware\n"
            "from medlab.profiles import load_profile\n"
            "print(hardware(load_profile('tiny')), quantization(load_profile('tiny')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "cores" in done.stdout and "medlab.runner" not in done.stderr
