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
    t4, config = load_profile("t4"), recipes.PPO_MCQ["t4"]
    rollouts = recipes.ppo_steps(t4, 500)
    assert rollouts * config.batch_size == 2 * 500  # MedLLM's two passes
    assert rollouts * config.batch_size // config.minibatch_size * config.ppo_epochs == 500  # its 500 steps of 2


def test_every_ppo_recipe_whitens_over_enough_replies():
    from medlab.ppo import MIN_WHITENED, PPOConfig

    assert all(config.batch_size >= MIN_WHITENED for config in recipes.PPO_MCQ.values())
    with pytest.raises(ValueError, match="at least 8"):
        PPOConfig(batch_size=2, minibatch_size=2)


def test_gpu_triage_grpo_moves_the_warm_start_a_useful_fraction_of_its_sft():
    """Learning rate x optimiser steps: RL from an SFT warm start at a refinement rate would
    add about 1% to what SFT did, and no ablation could move."""
    from medlab.recipes import WARM_START_EXAMPLES

    profile = load_profile("t4")
    sft, rl = recipes.sft_recipe("triage", profile), recipes.grpo_recipe("triage", profile)
    sft_steps = WARM_START_EXAMPLES["triage"]["t4"] * sft.epochs / (sft.batch_size * sft.grad_accum)
    assert rl.learning_rate * rl.steps >= 0.1 * sft.learning_rate * sft_steps


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
    from medlab.recipes import WARM_START_EXAMPLES, warm_start_rows

    tiny, capped = load_profile("tiny"), load_profile("tiny", max_train_examples=10)
    cases = sources.splits("triage", tiny).train
    assert len(warm_start_rows("triage", cases, tiny)) == WARM_START_EXAMPLES["triage"]["tiny"]
    assert len(warm_start_rows("triage", cases, capped)) == 10
    pairs = sources.splits("imaging", tiny).train
    assert len(recipes.imaging_pool(pairs, tiny)) == 3 * recipes.IMAGING_PER_LABEL["tiny"]
    small_pairs = recipes.imaging_pool(pairs, capped)
    assert len(small_pairs) <= 10 and len({p.appropriateness for p in small_pairs}) == 3, "a capped pool keeps them all"
    pool, found = recipes.triage_pool(cases, tiny)
    assert len(pool) == 5 * recipes.TRIAGE_PER_LEVEL["tiny"] and sum(found.values()) == len(cases)
    small, _ = recipes.triage_pool(cases, capped)
    assert len(small) == 10 and {c.level for c in small} == {1, 2, 3, 4, 5}, "a capped pool keeps every level"


def test_warm_starts_and_rl_pools_give_every_answer_the_same_share():
    """A pool mostly of one answer pays the policy that gives it to everyone (06 and 07 once
    trained on such pools and collapsed); the imaging table is 56% Usually Not Appropriate."""
    from collections import Counter

    from medlab.data import sources
    from medlab.grpo import first_rule
    from medlab.recipes import rows_after_warm_start, warm_start_rows

    tiny = load_profile("tiny")
    pairs = sources.splits("imaging", tiny).train
    warm = Counter(p.appropriateness for p in warm_start_rows("imaging", pairs, tiny))
    assert len(set(warm.values())) == 1 and len(warm) == 3, warm
    rest, reused = rows_after_warm_start("imaging", pairs, tiny)
    assert not reused and len(rest) == len(pairs) - sum(warm.values())
    rl = Counter(p.appropriateness for p in recipes.imaging_pool(rest, tiny))
    assert max(rl.values()) - min(rl.values()) <= 1, rl
    cases = sources.splits("triage", tiny).train
    pool, _ = recipes.triage_pool(rows_after_warm_start("triage", cases, tiny)[0], tiny)
    assert set(Counter(c.level for c in pool).values()) == {recipes.TRIAGE_PER_LEVEL["tiny"]}
    rules = Counter(first_rule(c) for c in pool)
    assert all(rules[rule] >= 1 for rule in ("life-saving intervention placed", "open injury", "severe pain")), rules
