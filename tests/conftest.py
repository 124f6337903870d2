"""Shared fixtures: small notebooks for the runner, and a scratch course folder."""

from __future__ import annotations

import nbformat
import pytest

from medlab.pocket import PocketRecipe, pocket_model_path

# A pocket model small enough to build in seconds; the same code path as the real one.
SMALL = PocketRecipe(vocab_size=600, hidden_size=64, intermediate_size=128, num_layers=2, num_heads=4,
                     num_kv_heads=2, corpus_docs=900, seq_len=64, batch_size=8, train_steps=450,
                     warmup_steps=5, learning_rate=1e-2)


@pytest.fixture(scope="session")
def small_recipe():
    """The recipe of the small pocket model: tests use fixtures, never `import tests.conftest`,
    so `pytest` runs from any directory."""
    return SMALL


@pytest.fixture(scope="session")
def small_model(tmp_path_factory):
    """The folder of a small pocket model, built once per test session."""
    return pocket_model_path(SMALL, root=tmp_path_factory.mktemp("pocket-cache"))


@pytest.fixture(scope="session")
def small_ggufs(small_model, tmp_path_factory):
    """The small pocket model as GGUF files named "small pocket": f16 and q8_0 from llama.cpp's
    converter, q4_0 from its quantizer."""
    from medlab.export import convert_to_gguf, quantize_gguf

    folder = tmp_path_factory.mktemp("gguf")
    files = {kind: convert_to_gguf(small_model, folder / f"small-{kind}.gguf", kind, model_name="small pocket")
             for kind in ("f16", "q8_0")}
    files["q4_0"] = quantize_gguf(files["f16"], folder / "small-q4_0.gguf", "q4_0")
    return files


def make_notebook(path, *sources: str) -> None:
    """A notebook whose first code cell is the papermill `parameters` cell."""
    cells = [nbformat.v4.new_code_cell(src) for src in sources]
    cells[0].metadata["tags"] = ["parameters"]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def notebook_writer():
    """`make_notebook(path, *sources)`: a notebook whose first cell is tagged `parameters`."""
    return make_notebook


@pytest.fixture
def scratch_course(tmp_path, monkeypatch):
    """A scratch home that `project_root()` points at, so runs and figures land in tmp_path;
    the course's data is still read from the checkout."""
    (tmp_path / "notebooks").mkdir()
    monkeypatch.setenv("MEDLAB_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture(autouse=True, scope="session")
def course_as_shipped():
    """No profile overrides from the shell (`MEDLAB_SET`) reach the tests or the notebooks they
    execute: the suite checks the course as it ships, and a test that sets overrides undoes them."""
    from medlab.profiles import OVERRIDES_VARIABLE

    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(OVERRIDES_VARIABLE, raising=False)
        yield


RUN_LAST = ("test_exercises.py", "test_t4_smoke.py")


def pytest_collection_modifyitems(items):
    """The exercise tests and the t4 smoke test run last: by then the course notebooks have built
    the pocket model they train on (run alone, they build it once, about a minute and a half)."""
    items.sort(key=lambda item: item.path.name in RUN_LAST)


def standin_or_skip(build):
    """The folder `build()` returns, or a skip that says why it could not be built here."""
    from standins import StandInUnavailable

    try:
        return build()
    except StandInUnavailable as why:
        pytest.skip(f"no Llama/Qwen stand-in here: {why}")


@pytest.fixture(scope="session")
def llama32():
    """A Llama 3.2 3B shaped model folder: real tokenizer and template, random narrow layers."""
    from standins import llama_standin

    return standin_or_skip(lambda: llama_standin("3.2"))


@pytest.fixture(scope="session")
def llama31():
    """A Llama 3.1 8B shaped model folder: real tokenizer and template, random narrow layers."""
    from standins import llama_standin

    return standin_or_skip(lambda: llama_standin("3.1"))


@pytest.fixture(scope="session")
def qwen_judge():
    """A Qwen2.5-1.5B-Instruct shaped judge folder: Qwen2.5's tokenizer and template."""
    from standins import qwen_standin

    return standin_or_skip(qwen_standin)
