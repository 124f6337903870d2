"""GRPO with TRL from a warm-start adapter: the recipe, the loading and the logged run that the
RL notebooks share.

Each notebook builds TRL's `GRPOConfig` in a visible cell from a `GrpoRecipe`, as 03 builds
`SFTConfig` from a `LoraRecipe`; `warm_start` loads the adapter RL continues from, and
`run_grpo` trains it with the course's monitor, float32 adapter and checkpoints, then saves it.

Introduced in notebooks/06_grpo_appropriateness.ipynb.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from medlab.adapters import AdapterInfo, save_adapter, saved_adapter
from medlab.env import choose_precision, gpu_capability
from medlab.profiles import Profile
from medlab.training import (
    Float32Adapter,
    TrainingMonitor,
    log_path,
    recipe_key,
    run_settings,
    train_resumable,
    upcast_trainable,
)


@dataclass(frozen=True)
class GrpoRecipe:
    """One GRPO recipe: the sampler, the group, the schedule."""

    learning_rate: float
    num_generations: int  # replies per prompt: the group whose mean reward is the baseline
    prompts_per_step: int
    steps: int
    max_completion_length: int
    temperature: float = 1.0
    min_p: float = 0.0  # 0: sample the policy uncut; the pocket model needs 0.1 (notebook 05)
    beta: float = 0.0  # KL to the reference; TRL's reference for a PEFT model is the adapter-free base
    grad_accum: int = 1

    def key(self) -> str:
        return recipe_key(self)


def warm_start(adapter: str, profile: Profile):
    """The saved adapter `adapter`, loaded trainable onto a fresh base: where an RL run starts.
    Returns (model, tokenizer)."""
    from peft import PeftModel, prepare_model_for_kbit_training

    from medlab.models import load_model_and_tokenizer

    info = saved_adapter(profile, adapter)
    base, tokenizer = load_model_and_tokenizer(info.base_model, profile)
    if profile.load_in_4bit:
        base = prepare_model_for_kbit_training(base, use_gradient_checkpointing=profile.gradient_checkpointing)
    model = PeftModel.from_pretrained(base, info.path, is_trainable=True)
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
    save_adapter(trainer.model, profile, info)
    return monitor.log, seconds


def grpo_config(recipe: GrpoRecipe, profile: Profile, output_dir: Path, seed: int, report_to: str = "none"):
    """TRL's `GRPOConfig` for `recipe` on `profile`: the shortcut for what notebook 06 builds field
    by field (and explains there)."""
    from trl import GRPOConfig

    precision, _ = choose_precision(profile.precision, gpu_capability())
    return GRPOConfig(
        num_generations=recipe.num_generations,
        per_device_train_batch_size=recipe.num_generations * recipe.prompts_per_step,
        gradient_accumulation_steps=recipe.grad_accum, max_steps=recipe.steps,
        max_completion_length=recipe.max_completion_length, temperature=recipe.temperature,
        min_p=recipe.min_p or None, top_k=0, beta=recipe.beta, loss_type="dapo", scale_rewards="group",
        learning_rate=recipe.learning_rate, fp16=precision == "fp16", bf16=precision == "bf16",
        gradient_checkpointing=profile.gradient_checkpointing, optim=profile.optim,
        **run_settings(profile, output_dir, seed, report_to=report_to, count_tokens=False),
    )
