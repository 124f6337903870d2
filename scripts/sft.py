"""Supervised LoRA fine-tuning, notebook 03's or 04's recipe, as a program.

    python scripts/sft.py --task medqa --profile t4                           # one GPU
    accelerate launch --config_file scripts/accelerate/ddp.yaml scripts/sft.py --task reasoning --profile t4
    torchrun --nproc_per_node 2 scripts/sft.py --task triage --profile tiny --max-steps 4   # 2 CPU processes

Saves the adapter (`sft_mcq`, `sft_reasoning`, `sft_triage`, `sft_imaging`) under
`runs/<profile>/adapters/`, where the RL scripts and notebook 08 find it.
"""

from __future__ import annotations

from dataclasses import replace

from common import LaunchRecord, command_line, in_one_line, start

from medlab import course, prompts, recipes
from medlab.data import sources
from medlab.grpo import warm_start_conversations
from medlab.models import load_model_and_tokenizer
from medlab.training import checkpoint_dir, run_sft, sft_config

RUNS = course.scripted("sft")  # by the data task each trains on: medqa, reasoning, triage, imaging


def training_conversations(task: str, profile, seed: int) -> list[list[dict]]:
    """The conversations the notebook trains `task` on, built as it builds them, from the data
    the profile names (`--set direct_dir=...` for your DiReCT copy, and so on)."""
    if task == "medqa":
        items = profile.cap_train(sources.splits("medqa", profile, seed).train)
        return [prompts.mcq_messages(item, with_answer=True) for item in items]
    if task == "reasoning":
        notes = profile.cap_train(sources.splits("reasoning", profile, seed).train)
        return [prompts.reasoning_messages(note, with_answer=True) for note in notes]
    rows = recipes.warm_start_rows(task, sources.splits(task, profile, seed).train, profile)
    return warm_start_conversations(task, rows)


def build_parser():
    parser = command_line(__doc__.splitlines()[0])
    parser.add_argument("--task", required=True, choices=RUNS)
    return parser


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    run = RUNS[args.task]
    profile = start(f"script_{run.name}", args, parser)
    recipe = recipes.sft_recipe(run.task, profile)
    if args.max_steps:
        recipe = replace(recipe, max_steps=args.max_steps)
    conversations = training_conversations(args.task, profile, args.seed)
    # The trainer's config before the model: under ZeRO-3 from_pretrained then loads shard by shard.
    config = sft_config(profile, recipe, checkpoint_dir(profile, run.name, recipe), args.seed, args.report_to)
    info = course.adapter_info(run.name, profile, smoke_steps=args.max_steps)
    model, tokenizer = load_model_and_tokenizer(info.base_model, profile)
    run_sft(model, tokenizer, conversations, profile, recipe, info, seed=args.seed,
            callbacks=[LaunchRecord(profile, run.name)], args=config)


if __name__ == "__main__":
    in_one_line(main)
