"""Benchmark: does each t4 training recipe of the course fit in a T4's 15 GB, and how fast is it?

    .venv/bin/python benchmarks/gpu_fit.py                 # on a GPU: the real shapes, capped at 15 GiB
    .venv/bin/python benchmarks/gpu_fit.py --dry-run       # anywhere: tiny shapes, the same 4-bit code path
    .venv/bin/python benchmarks/gpu_fit.py --only sft_mcq ppo_mcq --steps 4

For each recipe (03 SFT 8B, 04 SFT 3B and its warm starts, 05 PPO 8B with a value head, 06 GRPO
with the judge model beside the policy, 07 GRPO 3B), the script builds the published
architecture (hidden size, layers, heads, vocabulary, written below) with random weights, so
nothing is downloaded. It loads it through the course's own loader in the `t4` profile (4-bit
NF4, fp16 compute as on a T4 whatever the GPU, float32 adapters, paged 8-bit AdamW, gradient
checkpointing) and caps the process at `--cap-gib` of GPU memory: 14 GiB, because a T4's 15 GB
show as 14.7 GiB to torch and the CUDA context takes some. Then it runs a few real optimiser
steps of the recipe from `medlab.recipes` through the notebook's own code (`run_sft`,
`train_ppo`, `run_grpo`).

Worst cases on purpose: SFT rows are filled to the run's `max_seq_len` (the recipe's own where it
has one, as the reasoning recipe does, else the profile's), and random weights never write an
end token, so every sampled reply runs to the recipe's full length.

It prints one row per recipe: the format the weights were loaded in (read from the model), peak
GiB allocated and reserved, seconds per optimiser step (the mean over the run, the first step
included; for SFT, building the trainer too) and, for RL, rollout tokens/s of plain `generate`
with the unmerged adapter. An H100 capped this way shows memory as a T4 would; its seconds are an
H100's, not a T4's. `--dry-run` uses tiny shapes on the CPU, still in 4 bits with paged 8-bit
AdamW and gradient checkpointing (bitsandbytes' CPU backend), in fp32: its figures mean nothing,
it keeps the script and the 4-bit path working.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from medlab.course import CourseRun, adapter_info, course_run

# Published configs of the course's t4 models (their config.json on the hub).
ARCHITECTURES = {
    "llama-3.1-8b": dict(model_type="llama", hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                         num_attention_heads=32, num_key_value_heads=8, vocab_size=128256, rope_theta=500000.0,
                         tie_word_embeddings=False),
    "llama-3.2-3b": dict(model_type="llama", hidden_size=3072, intermediate_size=8192, num_hidden_layers=28,
                         num_attention_heads=24, num_key_value_heads=8, vocab_size=128256, rope_theta=500000.0,
                         tie_word_embeddings=True),
    "qwen2.5-1.5b": dict(model_type="qwen2", hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                         num_attention_heads=12, num_key_value_heads=2, vocab_size=151936, rope_theta=1000000.0,
                         tie_word_embeddings=True),
}
DRY_SHAPE = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2)


CASES = tuple(course_run(name) for name in (  # the course's runs (medlab.course) whose memory peaks differ
    "sft_mcq", "sft_reasoning",
    "sft_triage",  # rank 32 on every linear layer; imaging's is the same
    "ppo_mcq",
    "grpo_imaging_llm_eval",  # the variant with a judge model
    "grpo_triage_bonus"))


# ---- the models: published shapes, random weights ----------------------------------------------

def build_random_model(name: str, folder: Path, tokenizer, dry_run: bool) -> str:
    """A checkpoint of architecture `name` with random weights and the course's tokenizer,
    written to `folder` (once); returns its path, usable as a model id."""
    from transformers import AutoConfig, AutoModelForCausalLM

    if (folder / "config.json").exists():
        return str(folder)
    shape = dict(ARCHITECTURES[name])
    model_type = shape.pop("model_type")
    if dry_run:
        shape.update(DRY_SHAPE, vocab_size=len(tokenizer))
    config = AutoConfig.for_model(model_type, **shape, bos_token_id=tokenizer.bos_token_id,
                                  eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    device = "cuda" if torch.cuda.is_available() and not dry_run else "cpu"
    with torch.device(device):  # an 8B model initialises in seconds on a GPU, in minutes on a CPU
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float16 if device == "cuda" else torch.float32)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)  # a smaller vocabulary than Llama's: its ids are all valid rows
    del model
    free_memory()
    return str(folder)


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# ---- the rows: the course's data, filled to the longest case -----------------------------------

def filled_conversations(task: str, profile, tokenizer, count: int, length: int) -> list[list[dict]]:
    """`count` training conversations of `task` whose user turn is repeated until the whole
    example nearly reaches `length` tokens (the run's `training.seq_len`): every row is as long
    as the run allows, answer included (a longer prompt would leave no answer to learn)."""
    from medlab.data import sources
    from medlab.evaluation import TASKS

    items = sources.splits(task, profile, seed=0).train
    conversations = []
    for k in range(count):
        conversation = TASKS[task].messages(items[k % len(items)], with_answer=True)
        user = conversation[-2]["content"]
        whole = len(tokenizer(tokenizer.apply_chat_template(conversation, tokenize=False))["input_ids"])
        repeats = 1 + max(0, length - whole) // (len(tokenizer(user)["input_ids"]) + 1)
        conversations.append([*conversation[:-2], {"role": "user", "content": "\n".join([user] * repeats)},
                              conversation[-1]])
    return conversations


def rl_items(task: str, profile) -> list:
    """The first 64 training rows of `task`: RL prompts enough for a few steps."""
    from medlab.data import sources

    return sources.splits(task, profile, seed=0).train[:64]


# ---- one recipe, a few real steps --------------------------------------------------------------

def run_case(run: CourseRun, profile, steps: int, dry_run: bool) -> dict:
    """Train `run` for `steps` optimiser steps; returns seconds per step and rollout tokens/s."""
    from medlab import recipes

    if run.method == "sft":
        recipe = replace(recipes.sft_recipe(run.task, profile), max_steps=steps)
        if dry_run:  # the dry run's short rows (its profile's max_seq_len), not the recipe's longer ones
            recipe = replace(recipe, max_seq_len=0)
        return run_sft_case(run, recipe, profile)
    if run.method == "ppo":
        config = recipes.ppo_recipe(profile)
        if dry_run:
            config = replace(config, max_new_tokens=16)
        return run_ppo_case(run, config, profile, steps)
    recipe = replace(recipes.grpo_recipe(run.task, profile), steps=steps,
                     **({"max_completion_length": 16} if dry_run else {}))
    return run_grpo_case(run, recipe, profile)


def run_sft_case(run: CourseRun, recipe, profile) -> dict:
    from medlab.models import load_model_and_tokenizer
    from medlab.training import run_sft, seq_len

    info = adapter_info(run.name, profile)
    model, tokenizer = load_model_and_tokenizer(info.base_model, profile)
    rows = filled_conversations(run.task, profile, tokenizer, recipe.max_steps * recipe.batch_size * recipe.grad_accum,
                                seq_len(recipe, profile))
    started = time.time()
    run_sft(model, tokenizer, rows, profile, recipe, info, max_cut_share=1.0)  # filled past max_seq_len on purpose
    return {"seconds_per_step": (time.time() - started) / recipe.max_steps, "weights": weight_format(model)}


def run_ppo_case(run: CourseRun, config, profile, steps: int) -> dict:
    """PPO as 05 runs it: the SFT adapter twice on one base (policy and frozen reference) and a
    value head. The SFT adapter is a fresh one of 03's recipe: its weights do not change the memory."""
    from peft import get_peft_model

    from medlab import prompts, recipes
    from medlab.models import load_model_and_tokenizer
    from medlab.ppo import ValueHead, load_policy_and_reference, train_ppo
    from medlab.rewards import mcq_columns, reward_functions
    from medlab.runlog import runs_dir
    from medlab.training import prepare_base

    folder = runs_dir(profile.name) / "gpu_fit"
    base, tokenizer = load_model_and_tokenizer(adapter_info(run.name, profile).base_model, profile)
    sft = get_peft_model(base, recipes.SFT_MCQ[profile.name].lora_config())
    sft.save_pretrained(folder / "sft_adapter")
    model = load_policy_and_reference(prepare_base(sft.unload(), profile), str(folder / "sft_adapter"))
    value_head = ValueHead(model.config.hidden_size).to(model.device)
    questions = rl_items(run.task, profile)
    conversations = [prompts.mcq_messages(q) for q in questions]
    columns = mcq_columns(questions)
    started = time.time()
    train_ppo(model, value_head, tokenizer, conversations, columns, *reward_functions(run.rewards), config, steps,
              folder / "ppo_log.json", folder / "ppo_checkpoints")
    seconds = (time.time() - started) / steps
    return {"seconds_per_step": seconds, "weights": weight_format(model),
            "rollout_tokens_per_s": rollout_speed(model, tokenizer, conversations[:config.batch_size],
                                                  config.max_new_tokens, config.temperature, config.min_p)}


def run_grpo_case(run: CourseRun, recipe, profile) -> dict:
    from medlab import recipes
    from medlab.grpo import grpo_config, reward_rows, run_grpo
    from medlab.models import load_judge, load_model_and_tokenizer
    from medlab.rewards import JUDGE, make_judge_reward, reward_functions
    from medlab.runlog import runs_dir
    from medlab.training import add_lora

    judge = make_judge_reward(*load_judge(profile)) if JUDGE in run.rewards else None  # on the GPU beside the policy
    rewards = reward_functions(run.rewards, judge)
    info = adapter_info(run.name, profile)
    model, tokenizer = load_model_and_tokenizer(info.base_model, profile)
    model = add_lora(model, recipes.SFT_SMALL[profile.name][run.task], profile)  # the warm start's shape
    rows = reward_rows(run, rl_items(run.task, profile))
    conversations = [row["prompt"] for row in rows]
    args = grpo_config(recipe, profile, runs_dir(profile.name) / "gpu_fit" / run.name, seed=0,
                       reward_weights=list(run.weights) if run.weights else None)
    log, seconds = run_grpo(model, tokenizer, rows, rewards, args, profile, info)
    return {"seconds_per_step": seconds / recipe.steps, "weights": weight_format(model),
            "rollout_tokens_per_s": rollout_speed(model, tokenizer, conversations[:recipe.num_generations],
                                                  recipe.max_completion_length, recipe.temperature, recipe.min_p)}


def rollout_speed(model, tokenizer, conversations, max_new_tokens: int, temperature: float, min_p: float) -> float:
    """New tokens per second of one sampled batch through plain `generate`, unmerged adapter."""
    from medlab.generation import Sampling, generate_ids, render_prompts

    sampling = Sampling(max_new_tokens=max_new_tokens, do_sample=True, temperature=temperature, min_p=min_p)
    rows = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in render_prompts(tokenizer, conversations)]
    model.eval()
    started = time.time()
    replies = generate_ids(model, tokenizer, rows, sampling)
    return sum(len(reply) for reply in replies) / (time.time() - started)


# ---- measuring ---------------------------------------------------------------------------------

def weight_format(model) -> str:
    """How the model's linear layers are held: "nf4" where bitsandbytes quantized them, else their
    dtype. Read from the loaded model, so the table shows what ran, not what the profile asked."""
    from bitsandbytes.nn import Linear4bit

    quantized = [module for module in model.modules() if isinstance(module, Linear4bit)]
    if quantized:
        return quantized[0].weight.quant_type
    return str(next(model.parameters()).dtype).removeprefix("torch.")


def cap_gpu_memory(cap_gib: float) -> None:
    """Let this process allocate at most `cap_gib` of the GPU, as a T4 would (15 GB usable)."""
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(min(1.0, cap_gib * 2**30 / total))


def measured(run: CourseRun, profile, steps: int, dry_run: bool) -> dict:
    """One run's row of the table; an out-of-memory error is a result ("does not fit"), not a crash."""
    free_memory()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    row = {"recipe": run.name, "notebook": run.notebook[:2]}
    try:
        row.update(run_case(run, profile, steps, dry_run))
        row["fits"] = "yes"
    except torch.OutOfMemoryError as error:
        row["fits"] = f"no: {str(error).splitlines()[0][:80]}"
    if torch.cuda.is_available():
        row["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
        row["reserved_gib"] = torch.cuda.max_memory_reserved() / 2**30
    free_memory()
    return row


def print_table(rows: list[dict], device: str) -> None:
    print(f"\n{device}")
    print("| recipe | notebook | fits | weights | peak GiB | reserved GiB | s / step | rollout tokens/s |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        cells = [row["recipe"], row["notebook"], row["fits"], row.get("weights", "-")]
        for key, digits in (("peak_gib", 2), ("reserved_gib", 2), ("seconds_per_step", 2), ("rollout_tokens_per_s", 1)):
            cells.append(f"{row[key]:.{digits}f}" if row.get(key) is not None else "-")
        print("| " + " | ".join(cells) + " |")


def profile_for(dry_run: bool, models: dict[str, str]):
    """The t4 profile on the random checkpoints, course data; a dry run shrinks it to the CPU."""
    from medlab.profiles import load_profile

    overrides = dict(large_model=models["llama-3.1-8b"], small_model=models["llama-3.2-3b"],
                     judge_model=models["qwen2.5-1.5b"], data_source="course", offline=True)
    if dry_run:  # bitsandbytes' CPU backend keeps 4-bit NF4 and paged 8-bit AdamW; fp32 compute on a CPU
        return replace(load_profile("t4", **overrides), device="cpu", max_seq_len=320, max_new_tokens=16)
    return replace(load_profile("t4", **overrides), precision="fp16")  # a T4's path, even on an H100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny shapes on the CPU: checks code, measures nothing")
    parser.add_argument("--only", nargs="*", choices=[c.name for c in CASES], help="these recipes only")
    parser.add_argument("--steps", type=int, default=3, help="optimiser steps per recipe")
    parser.add_argument("--cap-gib", type=float, default=14.0, help="GPU memory the process may use (a T4: 14)")
    parser.add_argument("--models", type=Path, default=None, help="where the random checkpoints are kept")
    args = parser.parse_args()
    if not args.dry_run and not torch.cuda.is_available():
        parser.error("no GPU here: run with --dry-run, or on a machine with a CUDA GPU")

    scratch = Path(tempfile.mkdtemp(prefix="gpu_fit-"))
    os.environ["MEDLAB_HOME"] = str(scratch)  # adapters and logs land here, never in the course's runs/
    from medlab.models import load_tokenizer
    from medlab.profiles import POCKET

    tokenizer = load_tokenizer(POCKET)
    models_dir = args.models or scratch / "models"
    models = {name: build_random_model(name, models_dir / (name + ("-dry" if args.dry_run else "")), tokenizer,
                                       args.dry_run)
              for name in ARCHITECTURES}
    profile = profile_for(args.dry_run, models)
    if not args.dry_run:
        cap_gpu_memory(args.cap_gib)
    device = ("dry run, tiny shapes on the CPU: not a measurement" if args.dry_run else
              f"{torch.cuda.get_device_name(0)}, capped at {args.cap_gib:g} GiB")
    try:
        rows = [measured(run, profile, args.steps, args.dry_run) for run in CASES
                if not args.only or run.name in args.only]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # random checkpoints: about 25 GB on a GPU run
    print_table(rows, device)
    if any(row["fits"] != "yes" for row in rows):
        raise SystemExit("some recipes do not fit: change them (batch, lengths, rank) until they do")


if __name__ == "__main__":
    main()
