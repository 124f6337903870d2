import dataclasses

import pytest

from medlab.profiles import POCKET, PROFILES, ProfileError, default_profile_name, load_profile


def test_every_profile_is_named_after_its_key():
    assert {name: p.name for name, p in PROFILES.items()} == {"tiny": "tiny", "t4": "t4", "full": "full"}


def test_tiny_is_the_offline_cpu_recipe_with_the_pocket_model():
    tiny = load_profile("tiny")
    assert (tiny.device, tiny.offline, tiny.load_in_4bit) == ("cpu", True, False)
    assert tiny.small_model == tiny.large_model == POCKET


def test_t4_is_the_15_gb_recipe():
    t4 = load_profile("t4")
    assert t4.load_in_4bit and t4.gradient_checkpointing
    assert t4.optim == "paged_adamw_8bit"
    assert t4.precision == "auto"  # resolves to fp16 on compute capability 7.5
    assert t4.small_model == "meta-llama/Llama-3.2-3B-Instruct"
    assert t4.large_model == "meta-llama/Llama-3.1-8B-Instruct"


def test_profiles_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        load_profile("tiny").max_seq_len = 10


def test_overrides_apply_and_leave_the_registry_untouched():
    assert load_profile("tiny", max_new_tokens=32).max_new_tokens == 32
    assert PROFILES["tiny"].max_new_tokens != 32


@pytest.mark.parametrize(
    ("name", "overrides", "expected"),
    [
        ("tinny", {}, "unknown profile 'tinny': write one of tiny"),
        ("tiny", {"max_new_token": 3}, "unknown profile key 'max_new_token': write max_new_tokens=..."),
        ("tiny", {"max_seq_len": "256"}, "max_seq_len='256' is a str: write a int, e.g. max_seq_len=256"),
        ("tiny", {"offline": 1}, "offline=1 is a int: write a bool, e.g. offline=True"),
        ("tiny", {"max_train_examples": True}, "is a bool: write a int"),
        ("tiny", {"precision": "fp8"}, "precision='fp8' is not allowed: write one of ('auto', 'fp32'"),
    ],
)
def test_bad_input_fails_with_a_one_line_fix(name, overrides, expected):
    with pytest.raises(ProfileError) as error:
        load_profile(name, **overrides)
    message = str(error.value)
    assert expected in message
    assert "\n" not in message


def test_default_is_tiny_off_colab_and_the_environment_can_choose(monkeypatch):
    monkeypatch.delenv("MEDLAB_PROFILE", raising=False)
    assert default_profile_name() == "tiny"
    monkeypatch.setenv("MEDLAB_PROFILE", "full")
    assert load_profile("auto").name == "full"


def test_colab_with_a_gpu_picks_t4(monkeypatch):
    import sys
    import types

    import torch

    monkeypatch.delenv("MEDLAB_PROFILE", raising=False)
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert default_profile_name() == "t4"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert default_profile_name() == "tiny"  # a Colab CPU runtime still gets the CPU recipe


def test_full_is_t4_less_what_only_a_t4s_memory_needs():
    differing = {key for key, value in PROFILES["full"].to_dict().items() if value != PROFILES["t4"].to_dict()[key]}
    assert differing == {"name", "load_in_4bit", "optim", "max_seq_len", "max_train_examples", "max_eval_examples"}


def test_what_differs_between_machines_is_a_field_with_a_value_for_each():
    assert (PROFILES["tiny"].eval_batch, PROFILES["t4"].eval_batch) == (48, 16)  # a T4's KV cache beside the weights
    assert (PROFILES["tiny"].sample_batch, PROFILES["t4"].sample_batch) == (256, 16)
    assert (PROFILES["tiny"].checks, PROFILES["t4"].checks, PROFILES["full"].checks) == \
        ("learning", "no_regression", "no_regression")


@pytest.mark.parametrize(("smoke_steps", "exercise", "checked"),
                         [(0, None, True), (2, None, False), (0, "low_lr", False)])
def test_expect_asserts_on_a_course_run_and_says_not_checked_otherwise(smoke_steps, exercise, checked, tmp_path,
                                                                        monkeypatch, capsys):
    from medlab.runlog import start_notebook

    for variable, value in (("MEDLAB_HOME", str(tmp_path)), ("HF_HUB_OFFLINE", "1"), ("HF_DATASETS_OFFLINE", "1")):
        monkeypatch.setenv(variable, value)  # put back after the test
    run = start_notebook("03_sft_mcq", "tiny", exercise=exercise, smoke_steps=smoke_steps)
    run.expect(True, "a true claim")
    if checked:
        with pytest.raises(AssertionError, match="the loss should fall"):
            run.expect(False, "the loss should fall")
        with pytest.raises(AssertionError, match="uses one label"):
            run.expect_no_problems(["uses one label"], "sft_mcq does not count as learning")
    else:
        run.expect(False, "the loss should fall")
        assert "not checked (" in capsys.readouterr().out
