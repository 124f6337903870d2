"""House rules every course notebook keeps (the notebooks themselves run through nbval)."""

import ast
import json
import re
from pathlib import Path

import pytest

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
    setup = "".join(second["source"])
    assert "google.colab" in setup  # the install acts only on Colab
    assert f'start_notebook("{path.stem}", PROFILE, seed=SEED' in setup


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_has_a_colab_badge_and_ends_with_a_check(path):
    text = path.read_text()
    assert f"colab.research.google.com/github/{REPOSITORY}/blob/{REF}/notebooks/{path.name}" in text
    last = ast.parse("".join(code_cells(path)[-1]["source"]))
    checks = [node for node in ast.walk(last) if isinstance(node, ast.Assert)
              or (isinstance(node, ast.Call) and getattr(node.func, "id", "").startswith("require_"))]
    assert checks, "the last cell checks the promise (an assert, or a medlab.checks require_ call)"
