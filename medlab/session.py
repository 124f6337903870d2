"""Does a notebook fit one free Colab session? Estimated, and printed, before it trains.

A free Colab T4 session has no promised length: at most 12 hours, often fewer when GPUs are in
demand, and an idle notebook is disconnected sooner. The course plans `SESSION_HOURS` of work
per session. Before a t4 notebook trains, `plan_session` prints each part of its work (a
training run with its evaluations, a final evaluation), how many replies it generates and how
many tokens it trains on, and the hours that comes to on a T4; the parts that fit this session
run now. The rest wait for the next session: the notebook stops with a message saying so, and
run again it skips what was saved complete and resumes a run that was cut off.

The estimate is arithmetic on three figures, each with its source:
- `DECODE_STEP`: one step of `generate` (one new token for every reply of the batch) with an
  unmerged LoRA on Llama-3.2-3B: 4 replies at about 50 tokens/s, measured on a GPU, so 0.08 s.
  Such decoding is launch-bound (the GPU waits on kernel launches, not on arithmetic), so a
  step is taken to cost the same for up to 16 replies, and 32/28 as much for the 8B's 32 layers.
- `TRAINING_SPEED`: 10 TFLOP/s, an assumed 15% of a T4's 65 TFLOP/s fp16 peak (4-bit weights
  are unpacked at every matmul, and one sequence at a time leaves the GPU half idle).
- 6 x parameters FLOPs per trained token: the forward pass, gradient checkpointing's second
  forward and the backward pass through the frozen weights, 2 x parameters each.
Every reply is counted at its cap, so the hours are an upper bound: replies that end sooner
make a run shorter. `benchmarks/gpu_fit.py` measures seconds per step and rollout tokens/s on
a GPU; where they come from a T4, they replace these figures.

Introduced in notebooks/06_grpo_appropriateness.ipynb.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import psutil

from medlab.profiles import Profile

SESSION_HOURS = 3.0
"""The work the course plans for one free Colab session, loading and evaluation included."""


@dataclass(frozen=True)
class Figure:
    value: float
    source: str


DECODE_STEP = Figure(4 / 50.0, "s per generate step: 4 replies at ~50 tokens/s, Llama-3.2-3B with an unmerged "
                               "LoRA, measured on a GPU; taken as the same for up to 16 replies (launch-bound)")
TRAINING_SPEED = Figure(10e12, "FLOP/s: assumed, 15% of a T4's 65 TFLOP/s fp16 peak")
PASSES_PER_TOKEN = 3  # forward, checkpointing's second forward, backward: 2 x parameters FLOPs each


@dataclass(frozen=True)
class ModelSize:
    parameters: float
    layers: int


MODEL_SIZES = {  # from the models' config.json on the hub
    "meta-llama/Llama-3.2-3B-Instruct": ModelSize(3.21e9, 28),
    "meta-llama/Llama-3.1-8B-Instruct": ModelSize(8.03e9, 32),
}
DECODE_STEP_MODEL = "meta-llama/Llama-3.2-3B-Instruct"  # the model `DECODE_STEP` was measured on


@dataclass(frozen=True)
class Work:
    """Replies generated on `model` (`replies`, `at_once` per call of `generate`, each up to
    `reply_tokens`), and tokens trained on."""

    model: str
    replies: int = 0
    at_once: int = 1
    reply_tokens: int = 0
    trained_tokens: int = 0

    def seconds(self) -> float:
        size = MODEL_SIZES[self.model]
        step = DECODE_STEP.value * size.layers / MODEL_SIZES[DECODE_STEP_MODEL].layers  # launch-bound: per layer
        generating = math.ceil(self.replies / max(self.at_once, 1)) * self.reply_tokens * step
        training = self.trained_tokens * PASSES_PER_TOKEN * 2 * size.parameters / TRAINING_SPEED.value
        return generating + training


@dataclass(frozen=True)
class Part:
    """One part of a notebook's work, planned as a whole: a training run with the evaluations
    that judge it (`sft_part(...) + evaluation_part(...)`), or a final evaluation."""

    name: str
    work: tuple[Work, ...]

    @property
    def replies(self) -> int:
        return sum(w.replies for w in self.work)

    @property
    def trained_tokens(self) -> int:
        return sum(w.trained_tokens for w in self.work)

    def hours(self) -> float:
        return sum(w.seconds() for w in self.work) / 3600

    def known(self) -> bool:
        return all(w.model in MODEL_SIZES for w in self.work)

    def __add__(self, other: Part) -> Part:
        return Part(self.name, self.work + other.work)


def sft_part(name: str, model: str, lengths: list[int], recipe) -> Part:
    """An SFT run of `recipe` (a `LoraRecipe`) over examples of `lengths` tokens."""
    examples = math.ceil(recipe.epochs * len(lengths))
    if recipe.max_steps:
        examples = min(examples, recipe.max_steps * recipe.batch_size * recipe.grad_accum)
    mean = sum(lengths) / max(len(lengths), 1)
    return Part(name, (Work(model, trained_tokens=round(examples * mean)),))


def grpo_part(name: str, model: str, recipe, prompt_tokens: float) -> Part:
    """A GRPO run of `recipe` (a `GrpoRecipe`). Per optimiser step TRL samples
    `per_device_train_batch_size x steps_per_generation` replies in one call of `generate`
    (`steps_per_generation` is `gradient_accumulation_steps` unless set): the group, times the
    prompts per pass, times the accumulation."""
    per_step = recipe.num_generations * recipe.prompts_per_step * recipe.grad_accum
    replies = recipe.steps * per_step
    return Part(name, (Work(model, replies, per_step, recipe.max_completion_length,
                            round(replies * (prompt_tokens + recipe.max_completion_length))),))


def ppo_part(name: str, model: str, config, steps: int, prompt_tokens: float) -> Part:
    """05's PPO: `steps` rollouts of `config.batch_size` replies; each is scored by the policy,
    the reference and the value head (about one more training pass) and trained `ppo_epochs` times."""
    replies = steps * config.batch_size
    tokens = replies * (prompt_tokens + config.max_new_tokens)
    return Part(name, (Work(model, replies, config.batch_size, config.max_new_tokens,
                            round(tokens * (config.ppo_epochs + 1))),))


def evaluation_part(name: str, model: str, task: str, items: int, profile: Profile) -> Part:
    """Greedy replies to `items` prompts of `task`, in the course's evaluation batches."""
    from medlab.evaluation import TASKS, eval_batch_size, token_budget

    return Part(name, (Work(model, items, eval_batch_size(profile), token_budget(TASKS[task], profile)),))


def saved_runs(profile: Profile) -> set[str]:
    """The adapters saved complete by a run that records what it trained from (`run_key`):
    such a run is read back, not trained, when its notebook runs again."""
    from medlab.adapters import find_adapters

    return {info.name for info in find_adapters(profile) if info.run_key}


def prompt_tokens(tokenizer, conversations: list[list[dict]]) -> float:
    """The mean length in tokens of `conversations` as prompts (a reply to come)."""
    from medlab.training import token_lengths

    lengths = token_lengths(tokenizer, conversations, add_generation_prompt=True)
    return sum(lengths) / max(len(lengths), 1)


class NextSession(RuntimeError):
    """Raised where a notebook stops because the rest of its work is for the next session."""


@dataclass
class SessionPlan:
    """Decides, before each part, whether it still fits this session: the hours used so far
    (since the kernel started: on Colab every notebook has a machine of its own) plus the
    part's estimate, against `hours`. The first part to run in a session always runs."""

    notebook: str
    parts: dict[str, Part]
    done: set[str]
    timed: bool  # False: no estimate for these models, or not on Colab: every part runs
    hours: float = SESSION_HOURS
    started: float = field(default_factory=lambda: psutil.Process().create_time())
    ran: list[str] = field(default_factory=list)
    later: list[str] = field(default_factory=list)

    def runs_now(self, name: str) -> bool:
        """Whether part `name` runs in this session. A part saved complete runs (it is read
        back, not trained); once one part is left for later, every part after it is too."""
        if name in self.done or not self.timed:
            return True
        used = (time.time() - self.started) / 3600
        if self.later or (self.ran and used + self.parts[name].hours() > self.hours):
            self.later.append(name)
            print(f"{name}: {used:.1f} of this session's {self.hours:g} hours used, and it needs up to "
                  f"{self.parts[name].hours():.1f}: left for the next session")
            return False
        self.ran.append(name)
        return True

    def continue_with(self, name: str) -> None:
        """Go on to part `name` (the evaluations after the runs) if it fits this session; else,
        or if any part was left for later, stop here."""
        self.runs_now(name)
        self.stop_if_unfinished()

    def stop_if_unfinished(self) -> None:
        """Stop the notebook here when parts were left for the next session, saying which."""
        if self.later:
            raise NextSession(
                f"{self.notebook}: left for the next session: {', '.join(self.later)}. Open a new Colab session "
                "and run this notebook again: the runs saved complete are skipped, and a run that was cut off "
                "resumes from its checkpoint on Drive")


def plan_session(notebook: str, parts: list[Part], profile: Profile, done=(), hours: float = SESSION_HOURS,
                 show: bool = True) -> SessionPlan:
    """The session plan of a notebook's `parts` (in the order it runs them), those in `done`
    saved complete. Prints the estimate and the sessions it projects. Where the profile's
    models are not the t4 ones (tiny, a stand-in, a larger GPU) there is no estimate, and every
    part runs now."""
    estimated = profile.name == "t4" and all(part.known() for part in parts)
    plan = SessionPlan(notebook, {part.name: part for part in parts}, set(done), estimated and on_colab(), hours)
    if show and estimated:
        print(estimate_table(plan) + ("" if plan.timed else "\n  not on Colab: no session limit, every part runs now"))
    elif show:
        print(f"{notebook}: no T4 estimate for the {profile.name} profile's models; every part runs now")
    return plan


def on_colab() -> bool:
    """Whether this kernel runs on Colab, where a session ends on its own; a T4 elsewhere has no limit."""
    import sys

    return "google.colab" in sys.modules


def projected_sessions(plan: SessionPlan) -> dict[str, int]:
    """The session each part is projected to run in (1: this one), from the estimates alone."""
    sessions, session, used, placed = {}, 1, (time.time() - plan.started) / 3600, False
    for name, part in plan.parts.items():
        if name in plan.done:
            continue
        if placed and used + part.hours() > plan.hours:  # as `runs_now`: a session's first part always runs
            session, used = session + 1, 0.0
        sessions[name] = session
        used, placed = used + part.hours(), True
    return sessions


def estimate_table(plan: SessionPlan) -> str:
    """The estimate as a text table: one row per part, its projected session, the figures used."""
    sessions = projected_sessions(plan)
    rows = [f"T4 estimate of {plan.notebook}: an upper bound (every reply at its cap), against {plan.hours:g}-hour "
            "sessions",
            f"  {'part':<28} {'replies':>8} {'tokens trained':>15} {'hours':>6}  session"]
    for name, part in plan.parts.items():
        when = "saved" if name in plan.done else "this one" if sessions[name] == 1 else f"+{sessions[name] - 1}"
        if part.hours() > plan.hours:
            when += " (longer than a session: cut off, it resumes in the next)"
        rows.append(f"  {name:<28} {part.replies:>8,} {part.trained_tokens:>15,} {part.hours():>6.2f}  {when}")
    rows.append(f"  generation: {DECODE_STEP.value:.2f} {DECODE_STEP.source}")
    rows.append(f"  training: {TRAINING_SPEED.value / 1e12:g} T{TRAINING_SPEED.source}; "
                f"{2 * PASSES_PER_TOKEN} x parameters FLOPs per token")
    return "\n".join(rows)
