"""The T4 session estimate: replies counted as TRL samples them, and a notebook's work split
across free Colab sessions, each part where it fits."""

from __future__ import annotations

import pytest

from medlab import session
from medlab.grpo import grpo_config
from medlab.profiles import load_profile
from medlab.recipes import GRPO_IMAGING, GRPO_TRIAGE, grpo_recipe
from medlab.session import (
    SESSION_HOURS,
    NextSession,
    evaluation_part,
    grpo_part,
    plan_session,
    projected_sessions,
)

T4 = load_profile("t4")
SMALL = T4.small_model


@pytest.mark.parametrize("task", ["imaging", "triage"])
def test_replies_are_counted_as_trl_samples_them(task, tmp_path):
    """TRL samples per_device_train_batch_size x steps_per_generation replies per optimiser step
    (steps_per_generation defaults to the accumulation): 16 on t4, not the 4 a prompt gets."""
    recipe = grpo_recipe(task, T4)
    args = grpo_config(recipe, T4, tmp_path, seed=0)
    part = grpo_part("run", SMALL, recipe, prompt_tokens=500)
    assert part.replies == recipe.steps * args.per_device_train_batch_size * args.steps_per_generation
    assert part.work[0].at_once == args.generation_batch_size == 16


@pytest.mark.parametrize("table", [GRPO_IMAGING, GRPO_TRIAGE], ids=["06", "07"])
def test_every_t4_rl_run_fits_one_session(table):
    """With prompts of 512 tokens (the course's average 145-166 through Llama 3's tokenizer, a
    long MIETIC narrative a few hundred), every reply at its cap."""
    part = grpo_part("run", SMALL, table["t4"], prompt_tokens=512)
    assert part.hours() <= SESSION_HOURS, f"{part.hours():.2f} h"


def test_the_card_length_triage_run_would_not_have_fitted():
    from dataclasses import replace

    card = replace(GRPO_TRIAGE["t4"], steps=300)
    assert grpo_part("run", SMALL, card, prompt_tokens=500).hours() > 3 * SESSION_HOURS


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


def plan_of(monkeypatch, parts, done=()):
    clock = Clock()
    monkeypatch.setattr(session.time, "time", clock)
    monkeypatch.setattr(session, "on_colab", lambda: True)
    plan = plan_session("06_grpo_appropriateness", parts, T4, done=done, show=False)
    plan.started = clock.now
    return plan, clock


def runs(hours: float, name: str):
    """A part of about `hours` on a T4: sampled replies of 1,000 tokens, 16 at a time."""
    calls = round(hours * 3600 / (1000 * session.DECODE_STEP.value))
    return session.Part(name, (session.Work(SMALL, replies=16 * calls, at_once=16, reply_tokens=1000),))


def test_parts_that_do_not_fit_wait_for_the_next_session_and_the_notebook_says_so(monkeypatch):
    parts = [runs(1.4, "a"), runs(1.4, "b"), runs(1.4, "c"), evaluation_part("evaluation", SMALL, "imaging", 200, T4)]
    plan, clock = plan_of(monkeypatch, parts)
    assert projected_sessions(plan) == {"a": 1, "b": 1, "c": 2, "evaluation": 2}
    ran = []
    for part in parts:
        if plan.runs_now(part.name):
            ran.append(part.name)
            clock.now += part.hours() * 3600 * 0.9  # replies end before their cap
    assert ran == ["a", "b"]
    with pytest.raises(NextSession, match="c, evaluation. Open a new Colab session"):
        plan.stop_if_unfinished()

    plan, clock = plan_of(monkeypatch, parts, done={"a", "b"})  # the next session
    assert all(plan.runs_now(part.name) for part in parts[:2])  # saved: read back, not trained
    assert plan.runs_now("c")
    clock.now += 1.4 * 3600
    assert plan.runs_now("evaluation")
    plan.stop_if_unfinished()  # everything ran: no stop


def test_a_part_longer_than_a_session_still_runs_first(monkeypatch):
    plan, clock = plan_of(monkeypatch, [runs(4.0, "long"), runs(0.5, "short")])
    assert plan.runs_now("long")
    clock.now += 3 * 3600
    assert not plan.runs_now("short")


def test_off_colab_a_t4_run_has_no_session_limit(monkeypatch):
    """`make course PROFILE=t4` on a workstation's T4: the estimate is printed, nothing deferred."""
    monkeypatch.setattr(session, "on_colab", lambda: False)
    plan = plan_session("06", [runs(2.5, "a"), runs(2.5, "b")], T4, show=False)
    assert plan.runs_now("a") and plan.runs_now("b") and not plan.later


def test_no_estimate_where_the_models_are_not_the_t4_ones(monkeypatch):
    tiny = load_profile("tiny")
    plan = plan_session("06", [grpo_part("a", tiny.small_model, GRPO_IMAGING["tiny"], 100)], tiny, show=False)
    assert not plan.timed and plan.runs_now("a")
