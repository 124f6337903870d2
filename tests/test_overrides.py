"""Profile overrides without editing notebooks: `runner --set`, `MEDLAB_SET`, local models, data source."""

import json
import os

import pytest

from medlab.data import sources
from medlab.profiles import OVERRIDES_VARIABLE, ProfileError, load_profile, parse_overrides
from medlab.runner import main, run_course


def test_overrides_are_typed_by_the_field_they_set():
    assert parse_overrides(["max_train_examples=50", "offline=true", "data_source=course"]) == {
        "max_train_examples": 50, "offline": True, "data_source": "course"}
    with pytest.raises(ProfileError, match="not a whole number"):
        parse_overrides(["max_train_examples=fifty"])
    with pytest.raises(ProfileError, match="write max_new_tokens="):
        parse_overrides(["max_new_token=5"])
    with pytest.raises(ProfileError, match="not key=value"):
        parse_overrides(["max_train_examples"])


def test_the_environment_variable_overrides_every_load_and_arguments_win(monkeypatch):
    monkeypatch.setenv(OVERRIDES_VARIABLE, "max_train_examples=7 small_model='/models/my llama'")
    profile = load_profile("t4")
    assert profile.max_train_examples == 7 and profile.small_model == "/models/my llama"
    assert load_profile("t4", max_train_examples=9).max_train_examples == 9
    monkeypatch.setenv(OVERRIDES_VARIABLE, "data_source=disk")
    with pytest.raises(ProfileError, match="data_source='disk' is not allowed"):
        load_profile("t4")
    monkeypatch.setenv(OVERRIDES_VARIABLE, "max_train_examples=many")
    with pytest.raises(ProfileError, match=f"^{OVERRIDES_VARIABLE}: max_train_examples='many'"):
        load_profile("t4")


def test_a_t4_profile_reads_the_course_files_when_told_to(monkeypatch):
    profile = load_profile("t4", data_source="course", offline=True)
    medqa = sources.splits("medqa", profile)
    assert "course files" in medqa.source and medqa.train


def test_a_local_model_folder_is_a_model_id(small_model):
    from medlab.models import load_model_and_tokenizer

    profile = load_profile("tiny", small_model=str(small_model))
    model, tokenizer = load_model_and_tokenizer(profile.small_model, profile)
    assert model.config.hidden_size == 64 and tokenizer.pad_token is not None


def test_runner_set_reaches_every_notebook_and_is_printed(scratch_course, notebook_writer, monkeypatch):
    monkeypatch.setenv(OVERRIDES_VARIABLE, "max_train_examples=9")  # restored after the test, like all it sets
    folder = scratch_course / "notebooks"
    notebook_writer(folder / "00_probe.ipynb", "PROFILE = 'tiny'\nSEED = 0",
                    "from medlab.runlog import start_notebook\n"
                    "run = start_notebook('00_probe', PROFILE, seed=SEED)\n"
                    "run.record(cap=run.profile.max_train_examples, source=run.profile.data_source)")
    monkeypatch.setattr("medlab.runner.course_root", lambda: scratch_course)
    assert main(["--profile", "tiny", "--set", "max_train_examples=3"]) == 0
    assert os.environ[OVERRIDES_VARIABLE] == "max_train_examples=9 max_train_examples=3"  # --set wins
    summary = json.loads((scratch_course / "runs/tiny/summary.json").read_text())
    metrics = summary["notebooks"][0]["metrics"]
    assert (metrics["cap"], metrics["source"]) == (3, "course")
    executed = (scratch_course / "runs/tiny/00_probe.ipynb").read_text()
    assert "overrides: max_train_examples=3" in executed
    assert run_course("tiny", 0, folder=folder) == 0  # the variable is still set for later runs


def test_a_bad_override_stops_the_runner_before_any_notebook(capsys):
    assert main(["--profile", "t4", "--set", "load_in_4bit=maybe"]) == 2
    assert "write load_in_4bit=true or load_in_4bit=false" in capsys.readouterr().out
