"""medlab.recipes: one table per run, read by the notebooks, scripts/ and benchmarks/gpu_fit.py."""

from __future__ import annotations

import pytest

from medlab import recipes
from medlab.profiles import PROFILES, load_profile

TABLES = {"SFT_MCQ": recipes.SFT_MCQ, "SFT_SMALL": recipes.SFT_SMALL, "PPO_MCQ": recipes.PPO_MCQ,
          "GRPO_IMAGING": recipes.GRPO_IMAGING, "GRPO_TRIAGE": recipes.GRPO_TRIAGE}


@pytest.mark.parametrize("name", TABLES)
def test_every_table_has_a_recipe_for_every_profile(name):
    assert set(TABLES[name]) == set(PROFILES)


def test_the_warm_starts_cover_the_three_small_model_tasks():
    for profile, table in recipes.SFT_SMALL.items():
        assert set(table) == {"reasoning", "triage", "imaging"}, profile


def test_gpu_grpo_recipes_sample_uncut_and_tiny_ones_cut_the_tail():
    """Llama has no junk tail to cut; the pocket model needs min_p (see 05)."""
    for table in (recipes.GRPO_IMAGING, recipes.GRPO_TRIAGE):
        assert table["tiny"].min_p > 0 and table["t4"].min_p == 0


def test_ppo_steps_are_two_passes_over_the_questions_on_a_gpu():
    assert recipes.ppo_steps(load_profile("tiny"), 500) == recipes.TINY_PPO_STEPS
    t4 = load_profile("t4")
    assert recipes.ppo_steps(t4, 500) == 2 * 500 // recipes.PPO_MCQ["t4"].batch_size == 500


# ---- a smoke test's steps, and the RL pools' caps ----------------------------------------------

@pytest.mark.parametrize("name", sorted(PROFILES))
def test_without_smoke_steps_every_run_keeps_its_recipes_steps(name):
    profile = load_profile(name)
    assert recipes.sft_recipe("medqa", profile) == recipes.SFT_MCQ[name]
    assert recipes.sft_recipe("triage", profile) == recipes.SFT_SMALL[name]["triage"]
    assert recipes.grpo_recipe("imaging", profile) == recipes.GRPO_IMAGING[name]
    assert recipes.grpo_recipe("triage", profile) == recipes.GRPO_TRIAGE[name]


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_smoke_steps_replace_every_runs_steps_and_nothing_else(name):
    profile = load_profile(name, smoke_steps=2)
    sft, grpo = recipes.sft_recipe("medqa", profile), recipes.grpo_recipe("triage", profile)
    assert sft.max_steps == grpo.steps == recipes.ppo_steps(profile, 500) == 2
    assert sft.learning_rate == recipes.SFT_MCQ[name].learning_rate  # the rest of the recipe as it was
    assert grpo.max_completion_length == recipes.GRPO_TRIAGE[name].max_completion_length


def test_negative_smoke_steps_are_refused():
    with pytest.raises(ValueError, match="smoke_steps=-1"):
        load_profile("tiny", smoke_steps=-1).steps(30)


def test_the_rl_pools_stay_within_max_train_examples():
    from medlab.data import sources

    tiny, capped = load_profile("tiny"), load_profile("tiny", max_train_examples=5)
    pairs = sources.splits("imaging", tiny).train
    assert len(recipes.imaging_pool(pairs, tiny)) == recipes.IMAGING_POOL["tiny"]
    assert len(recipes.imaging_pool(pairs, capped)) == 5
    cases = sources.splits("triage", tiny).train
    pool, found = recipes.triage_pool(cases, tiny)
    assert len(pool) > 5 and sum(found.values()) == len(cases)
    assert recipes.triage_pool(cases, capped)[0] == pool[:5]
