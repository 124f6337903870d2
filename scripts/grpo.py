"""GRPO from a warm-start adapter, notebook 06's or 07's recipe and rewards, as a program.

    python scripts/grpo.py --variant triage_bonus --profile t4                     # one GPU
    accelerate launch --config_file scripts/accelerate/ddp.yaml scripts/grpo.py --variant imaging_llm_eval --profile t4
    torchrun --nproc_per_node 2 scripts/grpo.py --variant triage_no_bonus --profile tiny --max-steps 2

Starts from the warm start that 04 (or `scripts/sft.py --task imaging|triage`) saved, and saves
`grpo_<variant>` under `runs/<profile>/adapters/`, where notebook 08 finds it. Under several
processes TRL's GRPOTrainer splits each step's prompts between them: each generates and scores
its share, and the gradients are averaged.
"""

from __future__ import annotations

from dataclasses import replace

from common import LaunchRecord, command_line, in_one_line, start

from medlab import prompts, recipes
from medlab.adapters import AdapterInfo
from medlab.data import sources
from medlab.evaluation import base_model
from medlab.grpo import grpo_config, rows_after_warm_start, run_grpo, warm_start
from medlab.rewards import (
    appropriateness_answer_reward,
    embedding_reward,
    format_reward,
    make_judge_reward,
    triage_reward,
    triage_reward_no_bonus,
)
from medlab.training import checkpoint_dir

# run: (citations in the prompt, the rewards by name), as notebook 06 names its runs
IMAGING_RUNS = {
    "imaging_baseline": (False, ["format", "answer"]),
    "imaging_citations": (True, ["format", "answer"]),
    "imaging_llm_eval": (True, ["format", "answer", "judge"]),
    "imaging_embedding": (True, ["format", "embedding"]),
}
TRIAGE_RUNS = {  # the bonus run logs the plain reward at weight 0, for a curve comparable with the ablation's
    "triage_no_bonus": ([triage_reward_no_bonus], None),
    "triage_bonus": ([triage_reward, triage_reward_no_bonus], [1.0, 0.0]),
}


def imaging_rewards(names: list[str], profile) -> list:
    """06's reward functions by name; the judge is loaded only for the run that uses it."""
    rewards = {"format": format_reward, "answer": appropriateness_answer_reward, "embedding": embedding_reward}
    if "judge" in names:
        from medlab.models import load_judge

        judge, judge_tokenizer = load_judge(profile)
        rewards["judge"] = make_judge_reward(judge.eval(), judge_tokenizer)
    return [rewards[name] for name in names]


def imaging_rows(citations: bool, profile, seed: int) -> list[dict]:
    """06's RL pool (`recipes.imaging_pool`), as rows of the run's prompt and reward columns, from
    the table the profile names (`--set appropriateness_csv=...`) or the course's."""
    after_warm_start, _ = rows_after_warm_start("imaging", sources.splits("imaging", profile, seed).train, profile)
    pool = recipes.imaging_pool(after_warm_start, profile)
    return [{"prompt": prompts.imaging_messages(p, citations=citations), "appropriateness": p.appropriateness,
             "rationale": p.rationale} for p in pool]


def triage_rows(profile, seed: int) -> list[dict]:
    """07's RL pool: cases after the warm start's, rich in the cases the rule bonuses are about."""
    rest, _ = rows_after_warm_start("triage", sources.splits("triage", profile, seed).train, profile)
    pool, _ = recipes.triage_pool(rest, profile)
    return [{"prompt": prompts.triage_messages(c), "level": c.level, "narrative": c.narrative} for c in pool]


def main() -> None:
    parser = command_line(__doc__.splitlines()[0])
    parser.add_argument("--variant", required=True, choices=[*IMAGING_RUNS, *TRIAGE_RUNS])
    args = parser.parse_args()
    profile = start(f"script_grpo_{args.variant}", args, parser)
    task = "imaging" if args.variant in IMAGING_RUNS else "triage"
    recipe = recipes.grpo_recipe(task, profile)
    if args.max_steps:
        recipe = replace(recipe, steps=args.max_steps)
    if task == "imaging":
        citations, names = IMAGING_RUNS[args.variant]
        rewards, weights = imaging_rewards(names, profile), None
        rows = imaging_rows(citations, profile, args.seed)
        tasks = ("imaging_citations",) if citations else ("imaging",)
    else:
        rewards, weights = TRIAGE_RUNS[args.variant]
        rows, tasks = triage_rows(profile, args.seed), ("triage",)
    name = f"grpo_{args.variant}"
    notebook = "06_grpo_appropriateness" if task == "imaging" else "07_grpo_triage"
    info = AdapterInfo(name=name, base_model=base_model(task, profile), tasks=tasks, notebook=notebook, method="grpo",
                       smoke_steps=args.max_steps)
    config = grpo_config(recipe, profile, checkpoint_dir(profile, name, recipe), args.seed, report_to=args.report_to,
                         reward_weights=weights)
    model, tokenizer = warm_start(f"sft_{task}", profile)
    run_grpo(model, tokenizer, rows, rewards, config, profile, info, callbacks=[LaunchRecord(profile, name)])


if __name__ == "__main__":
    in_one_line(main)
