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
