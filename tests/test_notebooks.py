"""House rules every course notebook keeps (the notebooks themselves run through nbval)."""

import ast
import json
import re
from pathlib import Path

import pytest

from medlab.colab import setup_cell
from medlab.repository import REF, REPOSITORY

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def code_cells(path):
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def test_the_course_has_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].name == "00_setup.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    for cell in code_cells(path):
        assert not cell["outputs"] and cell["execution_count"] is None, f"{path.name}: run nbstripout"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_cell_is_parameters_then_the_config(path):
    first, second = code_cells(path)[:2]
    assert "parameters" in first["metadata"].get("tags", [])
    params = "".join(first["source"])
    assert re.search(r"^PROFILE = \"auto\"", params, re.M) and re.search(r"^SEED = ", params, re.M)
    assert "".join(second["source"]) == setup_cell(path.stem), (
        f"{path.name}: its setup cell should read, as every notebook's does (medlab.colab.SETUP_CELL):\n"
        + setup_cell(path.stem))
    assert re.search(r"^DATA = ", params, re.M) and re.search(r"^EXERCISE = ", params, re.M)  # the cell reads them


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_has_a_colab_badge_and_ends_with_a_check(path):
    text = path.read_text()
    assert f"colab.research.google.com/github/{REPOSITORY}/blob/{REF}/notebooks/{path.name}" in text
    last = ast.parse("".join(code_cells(path)[-1]["source"]))
    checks = [node for node in ast.walk(last) if isinstance(node, ast.Assert)
              or (isinstance(node, ast.Call) and getattr(node.func, "id", "").startswith("require_"))
              or (isinstance(node, ast.Call) and getattr(node.func, "attr", "").startswith("expect"))]
    assert checks, "the last cell checks the promise (an assert, run.expect, or a medlab.checks require_ call)"


def branches_on_the_profile_name(code: str) -> list[str]:
    """The lines of `code` that choose by `profile.name`: compared, or used as a key; naming a
    folder after it (`runs_dir(profile.name)`) or printing it is not a choice.

    >>> branches_on_the_profile_name('x = 256 if profile.name == "tiny" else 16\\nprint(runs_dir(profile.name))')
    ['x = 256 if profile.name == "tiny" else 16']
    """
    def is_name(node) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "name" and getattr(node.value, "id", "") == "profile"

    tree = ast.parse(code)
    found = {node.lineno for node in ast.walk(tree)
             if (isinstance(node, ast.Compare) and any(map(is_name, [node.left, *node.comparators])))
             or (isinstance(node, ast.Subscript) and is_name(node.slice))}
    lines = code.splitlines()
    return [lines[n - 1].strip() for n in sorted(found)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_notebook_chooses_by_the_profiles_name(path):
    """What differs between machines is a field of the profile, with its reason (medlab/profiles.py);
    a notebook that tested the name would give the t4 smoke run on a CPU the GPU's batch sizes."""
    for cell in code_cells(path):
        assert branches_on_the_profile_name("".join(cell["source"])) == [], path.name


def lesson_function(notebook: str, name: str, tmp_path, change=("", "")):
    """The function `name` as a cell of `notebook` defines it (with `change` made to its text),
    imported from a file of its own: what `same_code` reads is the function's source."""
    import importlib.util

    path = next(p for p in NOTEBOOKS if p.stem == notebook)
    cell = next(src for src in ("".join(c["source"]) for c in code_cells(path)) if f"def {name}(" in src)
    node = next(n for n in ast.parse(cell).body if isinstance(n, ast.FunctionDef) and n.name == name)
    module = tmp_path / f"{notebook}_{name}.py"
    module.write_text(ast.get_source_segment(cell, node).replace(*change))
    spec = importlib.util.spec_from_file_location(module.stem, module)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return getattr(loaded, name)


def test_06_builds_the_grpo_trainer_every_run_uses_and_a_change_to_one_copy_is_caught(tmp_path):
    """06 shows `GRPOTrainer(...)` in a cell and trains with it; 05, 07 and the script use
    `medlab.grpo.grpo_trainer`. The notebook asserts both are written the same."""
    from medlab.grpo import grpo_trainer
    from medlab.runlog import same_code

    assert same_code(lesson_function("06_grpo_appropriateness", "grpo_trainer", tmp_path), grpo_trainer)
    without_float32 = lesson_function("06_grpo_appropriateness", "grpo_trainer", tmp_path,
                                      change=("Float32Adapter(), ", ""))
    assert not same_code(without_float32, grpo_trainer)
