"""Shared fixtures: small notebooks for the runner, and a scratch course folder."""

from __future__ import annotations

import nbformat
import pytest


def make_notebook(path, *sources: str) -> None:
    """A notebook whose first code cell is the papermill `parameters` cell."""
    cells = [nbformat.v4.new_code_cell(src) for src in sources]
    cells[0].metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def scratch_course(tmp_path, monkeypatch):
    """An empty course folder that `project_root()` points at, so runs land in tmp_path."""
    (tmp_path / "notebooks").mkdir()
    monkeypatch.setenv("MEDLAB_HOME", str(tmp_path))
    return tmp_path
