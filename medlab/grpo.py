"""GRPO with TRL from a warm-start adapter: the recipe, the data split, the loading and the
logged run that the RL notebooks share.

06 and 07 build TRL's `GRPOConfig` in a visible cell from a `GrpoRecipe`, as 03 builds
`SFTConfig` from a `LoraRecipe` (`grpo_config` is the same in one call); `warm_start` loads the
adapter RL continues from, `grpo_trainer` builds TRL's trainer (06 shows it in a cell), and
`run_grpo` trains it with the course's monitor and checkpoints, then saves it.

First used in notebooks/05_ppo_mcq.ipynb (GRPO beside PPO); taught in
notebooks/06_grpo_appropriateness.ipynb.
"""

from __future__ import annotations

import inspect
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from medlab.adapters import AdapterInfo, saved_adapter
from medlab.env import precision_for
from medlab.profiles import Profile
from medlab.training import (
    Float32Adapter,
    TrainingMonitor,
    finished_run,
    keep_with_adapter,
    log_path,
    prepare_base,
    recipe_key,
    run_key,
    run_settings,
    save_trained_adapter,
    train_resumable,
    upcast_trainable,
)


@dataclass(frozen=True)
class GrpoRecipe:
    """One GRPO recipe: the sampler, the group, the schedule."""

    learning_rate: float
    num_generations: int  # replies per prompt: the group whose mean reward is the baseline
    prompts_per_step: int  # per forward pass; an optimiser step sees grad_accum times as many
    steps: int
    max_completion_length: int
    temperature: float = 1.0
    min_p: float = 0.0  # 0: sample the policy uncut; the pocket model needs 0.1 (notebook 05)
    beta: float = 0.0  # KL to a reference; above 0, TRL 1.16 copies a PEFT model's adapter as the frozen reference
    grad_accum: int = 1
    scheduler: str = "linear"  # TRL's default decay to 0; "constant" to compare with PPO's fixed rate

    def key(self) -> str:
        return recipe_key(self)


def warm_start_conversations(task: str, items: list) -> list[list[dict]]:
    """What a warm start of `task` is trained on: each row's prompt and gold reply. Imaging
    prompts carry their evidence: three of 06's four GRPO variants read it, and a pocket model
    cannot know the rating of a pair it has not seen without it."""
    from medlab import prompts

    if task == "imaging":
        return [prompts.imaging_messages(item, citations=True, with_answer=True) for item in items]
    return [prompts.triage_messages(item, with_answer=True) for item in items]


def reward_rows(run, items: list) -> list[dict]:
    """The rows GRPO run `run` (a `course.CourseRun` of 06 or 07) trains on: each item's prompt as
    the run asks it, and the columns its rewards read (TRL passes every column to every reward)."""
    from medlab import prompts

    if run.task == "imaging":
        return [{"prompt": prompts.imaging_messages(p, citations=run.evidence), "appropriateness": p.appropriateness,
                 "rationale": p.rationale} for p in items]
    if run.task == "triage":
        return [{"prompt": prompts.triage_messages(c), "level": c.level, "narrative": c.narrative, "pain": c.pain_text}
                for c in items]
    raise ValueError(f"{run.name}: the rows of a {run.task} run are built in its notebook ({run.notebook})")


def balanced_pool(items: list, label_of, per_label: int, kind_of=lambda item: None) -> list:
    """Up to `per_label` items of each label, in label order: an RL pool in which no answer is
    right for most prompts. Within a label, items are taken in turn from each kind (`kind_of`:
    the triage rule a case triggers, say), and items of no kind (None) only after them, so that
    a rare kind is not crowded out by common cases.

    A pool where most prompts share one answer rewards the policy that gives it to everyone:
    that is how a run can raise its training reward while collapsing to one label.

    >>> balanced_pool(["a1", "a2", "a3", "b1"], label_of=lambda x: x[0], per_label=2)
    ['a1', 'a2', 'b1']
    """
    by_label: dict = {}
    for item in items:
        by_label.setdefault(label_of(item), []).append(item)
    return [item for label in sorted(by_label) for item in _in_turn(by_label[label], kind_of)[:per_label]]


def _in_turn(items: list, kind_of) -> list:
    """`items` reordered to take one of each kind in turn (kinds in order of first appearance),
    then the items of no kind."""
    by_kind: dict = {}
    for item in items:
        by_kind.setdefault(kind_of(item), []).append(item)
    kindless = by_kind.pop(None, [])
    queues = list(by_kind.values())
    order = []
    while any(queues):
        order += [queue.pop(0) for queue in queues if queue]
    return order + kindless


def first_rule(case) -> str | None:
    """The first ESI rule the reward checks that `case` triggers, or None."""
    from medlab.rewards import triggered_rules

    rules = triggered_rules(case.narrative, case.level, getattr(case, "pain_text", ""))
    return rules[0] if rules else None


def balanced_triage_pool(cases: list, per_level: int) -> tuple[list, dict[str, int]]:
    """Triage cases for RL: up to `per_level` of each ESI level, taking in turn the cases of each
    rule the reward checks and those that trigger none, so that the rule cases (about 3% each
    at random) are there for the bonuses to act on. Returns the pool and how many cases of each
    rule there were to pick from.

    >>> balanced_triage_pool([], per_level=4)
    ([], {})
    """
    found = dict(Counter(first_rule(case) or "none" for case in cases))
    return balanced_pool(cases, lambda case: case.level, per_level, kind_of=first_rule), found


def warm_start(adapter: str, profile: Profile):
    """The saved adapter `adapter`, loaded trainable onto a fresh base: where an RL run starts.
    Returns (model, tokenizer)."""
    from peft import PeftModel

    from medlab.models import load_model_and_tokenizer

    info = saved_adapter(profile, adapter)
    base, tokenizer = load_model_and_tokenizer(info.base_model, profile)
    model = PeftModel.from_pretrained(prepare_base(base, profile), info.path, is_trainable=True)
    upcast_trainable(model)
    return model, tokenizer


def monitor_keys(reward_funcs) -> tuple[str, ...]:
    """What TRL's GRPO logs that the course plots: the total reward and each function's share,
    how spread the rewards of a group are, and how long (and how often cut off) the replies are."""
    return ("reward", "reward_std", "frac_reward_zero_std", "completions/mean_length", "completions/clipped_ratio",
            "entropy", *(f"rewards/{f.__name__}/mean" for f in reward_funcs))


def grpo_trainer(model, tokenizer, rows: list[dict], reward_funcs, args, callbacks=()):
    """TRL's `GRPOTrainer` for one course run, as notebook 06 builds it in a cell (and checks
    that its copy is this one): the warm start's adapter trains on `rows` (a `prompt` and the
    columns the rewards read), each reward called with the replies and those columns."""
    from datasets import Dataset
    from trl import GRPOTrainer

    return GRPOTrainer(
        model=model,
        args=args,
        reward_funcs=list(reward_funcs),
        processing_class=tokenizer,
        train_dataset=Dataset.from_list(rows),
        callbacks=[Float32Adapter(), *callbacks],
    )


def run_grpo(model, tokenizer, rows: list[dict], reward_funcs, args, profile: Profile, info: AdapterInfo,
             callbacks=(), build=grpo_trainer) -> tuple[dict, float]:
    """GRPO on `rows` (a `prompt` and the columns the rewards read) with TRL's `GRPOTrainer`;
    saves the adapter as `info`. Returns the monitor's log and the training seconds.

    A notebook run again after a disconnect picks up where it stopped: a run whose adapter is
    saved complete, from the same settings, prompts, rewards and warm start (`run_key`), is not
    trained again, and a run that was cut off resumes from its newest checkpoint. `build` makes
    the trainer (`grpo_trainer`; 06 passes its own copy, the one its cell shows)."""
    if not rows:
        raise ValueError(f"{info.name}: no prompts to train on; check the RL pool the notebook printed")
    key = run_key(args.to_dict(), rows, reward_code(reward_funcs), model)
    finished = finished_run(profile, info.name, key)
    if finished:
        return finished
    monitor = TrainingMonitor(log_path(profile, info.name), extra_keys=monitor_keys(reward_funcs))
    trainer = build(model, tokenizer, rows, reward_funcs, args, callbacks=[monitor, *callbacks])
    started = time.time()
    train_resumable(trainer, key)
    seconds = time.time() - started
    folder = save_trained_adapter(trainer, profile, replace(info, run_key=key, train_seconds=round(seconds, 1)))
    keep_with_adapter(folder, monitor.log)
    return monitor.log, seconds


def reward_code(reward_funcs) -> list[str]:
    """Each reward's name and source: part of `run_key`, so a changed reward is a new run."""
    return [f"{reward.__name__}\n{inspect.getsource(reward)}" for reward in reward_funcs]


def grpo_config(recipe: GrpoRecipe, profile: Profile, output_dir: Path, seed: int, report_to: str = "none",
                reward_weights: list[float] | None = None):
    """TRL's `GRPOConfig` for `recipe` on `profile`: in one call what notebook 06 builds field by
    field and explains; 05 and 07 call it. `reward_weights`: one per reward function (None: all 1)."""
    from trl import GRPOConfig

    precision = precision_for(profile)
    return GRPOConfig(
        num_generations=recipe.num_generations,
        per_device_train_batch_size=recipe.num_generations * recipe.prompts_per_step,
        gradient_accumulation_steps=recipe.grad_accum, max_steps=recipe.steps,
        max_completion_length=recipe.max_completion_length, temperature=recipe.temperature,
        min_p=recipe.min_p or None, top_k=0, beta=recipe.beta, loss_type="dapo",
        scale_rewards="none",  # advantages in the reward's own units: small differences stay small (06)
        disable_dropout=True,  # sampling and the update see one policy
        learning_rate=recipe.learning_rate, lr_scheduler_type=recipe.scheduler, reward_weights=reward_weights,
        fp16=precision == "fp16", bf16=precision == "bf16",
        gradient_checkpointing=profile.gradient_checkpointing, optim=profile.optim,
        **run_settings(profile, output_dir, seed, report_to=report_to, count_tokens=False),
    )
