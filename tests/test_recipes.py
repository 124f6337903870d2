"""medlab.recipes: one table per run, read by the notebooks, scripts/ and benchmarks/gpu_fit.py."""

from __future__ import annotations

from dataclasses import replace

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
    assert recipes.ppo_steps(profile, 500) == 2
    for task in ("medqa", "reasoning", "triage", "imaging"):
        sft = recipes.sft_recipe(task, profile)
        own = recipes.SFT_MCQ[name] if task == "medqa" else recipes.SFT_SMALL[name][task]
        assert sft.max_steps == 2 and replace(sft, max_steps=own.max_steps) == own, task
    for task, table in (("imaging", recipes.GRPO_IMAGING), ("triage", recipes.GRPO_TRIAGE)):
        grpo = recipes.grpo_recipe(task, profile)
        assert grpo.steps == 2 and replace(grpo, steps=table[name].steps) == table[name], task


def test_negative_smoke_steps_are_refused_when_the_profile_loads():
    with pytest.raises(ValueError, match="smoke_steps=-1 is negative"):
        load_profile("tiny", smoke_steps=-1)


def test_the_warm_starts_and_rl_pools_stay_within_max_train_examples():
    from medlab.data import sources
    from medlab.grpo import WARM_START_EXAMPLES, warm_start_rows
    from medlab.rewards import triggered_rules

    tiny, capped = load_profile("tiny"), load_profile("tiny", max_train_examples=5)
    rows = sources.splits("triage", tiny).train
    assert len(warm_start_rows(rows, tiny)) == WARM_START_EXAMPLES["tiny"]
    assert warm_start_rows(rows, capped) == rows[:5]
    pairs = sources.splits("imaging", tiny).train
    assert len(recipes.imaging_pool(pairs, tiny)) == recipes.IMAGING_POOL["tiny"]
    assert len(recipes.imaging_pool(pairs, capped)) == 5
    cases = sources.splits("triage", tiny).train
    pool, found = recipes.triage_pool(cases, tiny)
    assert len(pool) > 8 and sum(found.values()) == len(cases)
    small, _ = recipes.triage_pool(cases, load_profile("tiny", max_train_examples=8))
    assert len(small) == 8 and set(small) < set(pool)
    kinds = {rules[0] if rules else "none" for rules in (triggered_rules(c.narrative, c.level) for c in small)}
    assert kinds == set(found), "a capped pool should keep cases of every rule"
