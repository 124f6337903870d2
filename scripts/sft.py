"""Supervised LoRA fine-tuning, notebook 03's or 04's recipe, as a program.

    python scripts/sft.py --task mcq --profile t4                            # one GPU
    accelerate launch --config_file scripts/accelerate/ddp.yaml scripts/sft.py --task reasoning --profile t4
    torchrun --nproc_per_node 2 scripts/sft.py --task triage --profile tiny --max-steps 4   # 2 CPU processes

Saves the adapter (`sft_mcq`, `sft_reasoning`, `sft_triage`, `sft_imaging`) under
`runs/<profile>/adapters/`, where the RL scripts and notebook 08 find it.
"""

from __future__ import annotations

from dataclasses import replace

from common import LaunchRecord, command_line, in_one_line, start

from medlab import prompts, recipes
from medlab.adapters import AdapterInfo
from medlab.data import sources
from medlab.evaluation import base_model
from medlab.grpo import warm_start_conversations, warm_start_rows
from medlab.models import load_model_and_tokenizer
from medlab.training import checkpoint_dir, run_sft, sft_config

# task: (adapter name, the data's task, the evaluation tasks it is for, the notebook it comes from)
TASKS = {
    "mcq": ("sft_mcq", "medqa", ("medqa", "medmcqa"), "03_sft_mcq"),
    "reasoning": ("sft_reasoning", "reasoning", ("reasoning",), "04_sft_reasoning"),
    "triage": ("sft_triage", "triage", ("triage",), "04_sft_reasoning"),
    "imaging": ("sft_imaging", "imaging", ("imaging", "imaging_citations"), "04_sft_reasoning"),
}


def training_conversations(task: str, profile, seed: int) -> list[list[dict]]:
    """The conversations the notebook trains `task` on, built as it builds them, from the data
    the profile names (`--set direct_dir=...` for your DiReCT copy, and so on)."""
    if task == "mcq":
        items = profile.cap_train(sources.splits("medqa", profile, seed).train)
        return [prompts.mcq_messages(item, with_answer=True) for item in items]
    if task == "reasoning":
        notes = profile.cap_train(sources.splits("reasoning", profile, seed).train)
        return [prompts.reasoning_messages(note, with_answer=True) for note in notes]
    return warm_start_conversations(task, warm_start_rows(task, sources.splits(task, profile, seed).train, profile))


def main() -> None:
    parser = command_line(__doc__.splitlines()[0])
    parser.add_argument("--task", required=True, choices=TASKS)
    args = parser.parse_args()
    profile = start(f"script_sft_{args.task}", args, parser)
    name, data_task, tasks, notebook = TASKS[args.task]
    recipe = recipes.sft_recipe(data_task, profile)
    if args.max_steps:
        recipe = replace(recipe, max_steps=args.max_steps)
    conversations = training_conversations(args.task, profile, args.seed)
    # The trainer's config before the model: under ZeRO-3 from_pretrained then loads shard by shard.
    config = sft_config(profile, recipe, checkpoint_dir(profile, name, recipe), args.seed, args.report_to)
    model, tokenizer = load_model_and_tokenizer(base_model(data_task, profile), profile)
    info = AdapterInfo(name=name, base_model=base_model(data_task, profile), tasks=tasks, notebook=notebook,
                       method="sft", smoke_steps=args.max_steps)
    run_sft(model, tokenizer, conversations, profile, recipe, info, seed=args.seed,
            callbacks=[LaunchRecord(profile, name)], args=config)


if __name__ == "__main__":
    in_one_line(main)
