"""GRPO with TRL from a warm-start adapter: the recipe, the data split, the loading and the
logged run that the RL notebooks share.

06 and 07 build TRL's `GRPOConfig` in a visible cell from a `GrpoRecipe`, as 03 builds
`SFTConfig` from a `LoraRecipe` (`grpo_config` is the same in one call); `warm_start` loads the
adapter RL continues from, and `run_grpo` trains it with the course's monitor, float32 adapter
and checkpoints, then saves it.

First used in notebooks/05_ppo_mcq.ipynb (GRPO beside PPO); taught in
notebooks/06_grpo_appropriateness.ipynb.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from medlab.adapters import AdapterInfo, saved_adapter
from medlab.env import precision_for
from medlab.profiles import Profile
from medlab.training import (
    Float32Adapter,
    TrainingMonitor,
    log_path,
    prepare_base,
    recipe_key,
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
    beta: float = 0.0  # KL to the reference; TRL's reference for a PEFT model is the adapter-free base
    grad_accum: int = 1
    scheduler: str = "linear"  # TRL's default decay to 0; "constant" to compare with PPO's fixed rate

    def key(self) -> str:
        return recipe_key(self)


WARM_START_EXAMPLES = {"tiny": 240, "t4": 300, "full": 300}
"""Training rows a warm-start adapter of 04 learns the answer format from; RL trains on the
rows after them, which the warm start has not seen."""


def warm_start_rows(items: list, profile: Profile) -> list:
    """The rows notebook 04 teaches the answer format with, no more than the profile's
    `max_train_examples`."""
    return profile.cap_train(items[:WARM_START_EXAMPLES[profile.name]])


def rows_after_warm_start(items: list, profile: Profile) -> tuple[list, bool]:
    """The rows RL trains on: those after the warm start's, and False; or, where the warm start
    took every row, all of them again and True (say so: RL then revisits what SFT taught).

    >>> from medlab.profiles import load_profile
    >>> rows_after_warm_start(list(range(250)), load_profile("tiny"))[0]
    [240, 241, 242, 243, 244, 245, 246, 247, 248, 249]
    """
    rest = list(items[WARM_START_EXAMPLES[profile.name]:])
    return (rest, False) if rest else (list(items), True)


def rule_rich_pool(cases: list, per_rule: int) -> tuple[list, dict[str, int]]:
    """Triage cases for RL, up to `per_rule` of each ESI rule the reward checks (by the first
    rule a case triggers) and as many that trigger none: at random, rule cases are too rare to
    teach the bonuses. Returns the pool and how many cases of each kind there were to pick from.

    >>> pool, found = rule_rich_pool([], per_rule=4)
    >>> pool, found
    ([], {})
    """
    from medlab.rewards import triggered_rules

    by_rule: dict[str, list] = {}
    for case in cases:
        rules = triggered_rules(case.narrative, case.level)
        by_rule.setdefault(rules[0] if rules else "none", []).append(case)
    pool = [case for picked in by_rule.values() for case in picked[:per_rule]]
    return pool, {rule: len(picked) for rule, picked in by_rule.items()}


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


def run_grpo(model, tokenizer, rows: list[dict], reward_funcs, args, profile: Profile, info: AdapterInfo,
             callbacks=()) -> tuple[dict, float]:
    """GRPO on `rows` (a `prompt` and the columns the rewards read) with TRL's `GRPOTrainer`;
    resumes from `args.output_dir` after a crash, saves the adapter as `info`. Returns the
    monitor's log and the training seconds."""
    from datasets import Dataset
    from trl import GRPOTrainer

    monitor = TrainingMonitor(log_path(profile, info.name), extra_keys=monitor_keys(reward_funcs))
    trainer = GRPOTrainer(model=model, args=args, reward_funcs=list(reward_funcs), processing_class=tokenizer,
                          train_dataset=Dataset.from_list(rows), callbacks=[monitor, Float32Adapter(), *callbacks])
    started = time.time()
    train_resumable(trainer, Path(args.output_dir))
    seconds = time.time() - started
    save_trained_adapter(trainer, profile, info)
    return monitor.log, seconds


def grpo_config(recipe: GrpoRecipe, profile: Profile, output_dir: Path, seed: int, report_to: str = "none",
                reward_weights: list[float] | None = None):
    """TRL's `GRPOConfig` for `recipe` on `profile`: in one call what notebooks 06 and 07 build
    field by field (06 explains each). `reward_weights`: one per reward function (None: all 1)."""
    from trl import GRPOConfig

    precision = precision_for(profile)
    return GRPOConfig(
        num_generations=recipe.num_generations,
        per_device_train_batch_size=recipe.num_generations * recipe.prompts_per_step,
        gradient_accumulation_steps=recipe.grad_accum, max_steps=recipe.steps,
        max_completion_length=recipe.max_completion_length, temperature=recipe.temperature,
        min_p=recipe.min_p or None, top_k=0, beta=recipe.beta, loss_type="dapo", scale_rewards="group",
        learning_rate=recipe.learning_rate, lr_scheduler_type=recipe.scheduler, reward_weights=reward_weights,
        fp16=precision == "fp16", bf16=precision == "bf16",
        gradient_checkpointing=profile.gradient_checkpointing, optim=profile.optim,
        **run_settings(profile, output_dir, seed, report_to=report_to, count_tokens=False),
    )
