"""Exercises a notebook can run headlessly: one named change to its run, chosen by `EXERCISE`.

Each notebook ends with an "Exercises" section. Those that change a parameter are listed here
and run with the notebook's `EXERCISE` parameter, in Jupyter or headlessly:

    papermill notebooks/03_sft_mcq.ipynb out.ipynb -p EXERCISE low_lr

The notebook applies the change where the thing it changes is built (`run.exercised("recipe",
recipe)`), saves its adapters and metrics under names that carry the exercise's (the course's
own are left as they were), and reports what it measured instead of asserting the course's
results. What to expect is in notebooks/SOLUTIONS.md; tests/test_exercises.py checks that each
exercise still makes its point.

Introduced in notebooks/03_sft_mcq.ipynb.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Exercise:
    notebook: str
    name: str
    level: str  # easy, medium or hard
    change: str  # what the exercise changes, in words
    edits: dict[str, Any] = field(default_factory=dict)  # what it changes, by the name a notebook gives it

    def apply(self, kind: str, thing):
        """`thing` as this exercise changes it (the edit is a function of it); unchanged where the
        exercise changes something else. An edit that changes nothing on this profile (min_p 0
        where the recipe samples uncut already) is an error, not a silent re-run of the course."""
        edit: Callable | None = self.edits.get(kind)
        if edit is None:
            return thing
        changed = edit(thing)
        if changed == thing:
            raise ValueError(f"exercise {self.name!r} changes nothing here: {kind} is already {thing!r}. "
                             "Run it on the tiny profile, or change the recipe by hand")
        return changed

    def value(self, kind: str, default):
        """A setting the exercise gives, or `default`."""
        return self.edits.get(kind, default)


EXERCISES = [
    Exercise("03_sft_mcq", "low_lr", "easy", "the learning rate divided by 100",
             {"recipe": lambda recipe: replace(recipe, learning_rate=recipe.learning_rate / 100)}),
    Exercise("03_sft_mcq", "rank_1", "medium", "LoRA rank 1 instead of 16, alpha scaled to keep alpha / r",
             {"recipe": lambda recipe: replace(recipe, r=1, alpha=recipe.alpha / recipe.r)}),
    Exercise("04_sft_reasoning", "few_examples", "easy", "the triage warm start on a tenth of its examples",
             {"triage_rows": lambda rows: rows[::10]}),  # every tenth: the warm start's mix of levels
    Exercise("04_sft_reasoning", "one_epoch", "medium", "one epoch of the triage warm start instead of four",
             {"triage_recipe": lambda recipe: replace(recipe, epochs=1)}),
    Exercise("05_ppo_mcq", "no_min_p", "easy", "PPO samples its answers without the min_p cut (min_p 0)",
             {"ppo": lambda config: replace(config, min_p=0.0)}),
    Exercise("05_ppo_mcq", "tight_clip", "medium", "PPO's clip range 0.02 instead of 0.2",
             {"ppo": lambda config: replace(config, clip=0.02)}),
    Exercise("06_grpo_appropriateness", "shuffled_rationale", "medium",
             "the judge audit compares the gold rationale with itself, words shuffled",
             {"shuffle_rationale": True}),
    Exercise("07_grpo_triage", "no_min_p", "easy", "GRPO samples without the min_p cut (min_p 0)",
             {"recipe": lambda recipe: replace(recipe, min_p=0.0)}),
]


def shuffled_words(texts: list[str], seed: int) -> list[str]:
    """Each text with its words in a random order: the same words, no longer an argument.

    >>> shuffled_words(["a b c d"], seed=1)[0] != "a b c d", sorted(shuffled_words(["a b c d"], seed=1)[0].split())
    (True, ['a', 'b', 'c', 'd'])
    """
    rng = random.Random(seed)
    return [" ".join(rng.sample(text.split(), len(text.split()))) for text in texts]


def exercises_of(notebook: str) -> dict[str, Exercise]:
    return {e.name: e for e in EXERCISES if e.notebook == notebook}


def choose_exercise(notebook: str, name: str | None) -> Exercise | None:
    """The exercise `name` of `notebook`; None for no exercise. A wrong name lists the right ones.

    >>> choose_exercise("03_sft_mcq", "low_lr").change
    'the learning rate divided by 100'
    >>> choose_exercise("03_sft_mcq", None) is None
    True
    """
    if name is None:
        return None
    known = exercises_of(notebook)
    if name not in known:
        runnable = ", ".join(repr(n) for n in known) or "none: its exercises are edits to make by hand"
        raise ValueError(f"EXERCISE = {name!r} is not an exercise of {notebook}. Runnable ones: {runnable}")
    return known[name]
