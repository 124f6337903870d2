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
