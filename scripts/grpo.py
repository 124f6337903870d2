"""GRPO from a warm-start adapter, notebook 06's or 07's recipe and rewards, as a program.

    python scripts/grpo.py --variant triage_bonus --profile t4                     # one GPU
    accelerate launch --config_file scripts/accelerate/ddp.yaml scripts/grpo.py --variant imaging_llm_eval --profile t4
    torchrun --nproc_per_node 2 scripts/grpo.py --variant triage_no_bonus --profile tiny --max-steps 2

Starts from the warm start that 04 (or `scripts/sft.py --task imaging|triage`) saved, and saves
`grpo_<variant>` under `runs/<profile>/adapters/`, where notebook 08 finds it. The variants, their
rewards and warm starts are the course's runs (`medlab.course.RUNS`), as 06 and 07 train them.
Under several processes TRL's GRPOTrainer splits each step's prompts between them: each
generates and scores its share, and the gradients are averaged.
"""

from __future__ import annotations

from dataclasses import replace

from common import LaunchRecord, command_line, in_one_line, start

from medlab import course, recipes
from medlab.data import sources
from medlab.grpo import grpo_config, reward_rows, run_grpo, warm_start
from medlab.rewards import JUDGE, make_judge_reward, reward_functions
from medlab.training import checkpoint_dir

RUNS = course.scripted("grpo")


def build_parser():
    parser = command_line(__doc__.splitlines()[0])
    parser.add_argument("--variant", required=True, choices=RUNS)
    return parser


def judge_reward(run, profile):
    """06's judge reward, for the run that uses it (the judge is loaded only then); else None."""
    if JUDGE not in run.rewards:
        return None
    from medlab.models import load_judge

    judge, judge_tokenizer = load_judge(profile)
    return make_judge_reward(judge.eval(), judge_tokenizer)


def rl_pool(task: str, profile, seed: int) -> list:
    """06's or 07's RL pool: the rows the warm start did not take, balanced as the notebook balances them."""
    rest, _ = recipes.rows_after_warm_start(task, sources.splits(task, profile, seed).train, profile)
    return recipes.imaging_pool(rest, profile) if task == "imaging" else recipes.triage_pool(rest, profile)[0]


def main() -> None:
    parser = build_parser()
    args = parser.parse_args()
    run = RUNS[args.variant]
    profile = start(f"script_{run.name}", args, parser)
    recipe = recipes.grpo_recipe(run.task, profile)
    if args.max_steps:
        recipe = replace(recipe, steps=args.max_steps)
    rows = reward_rows(run, rl_pool(run.task, profile, args.seed))
    rewards = reward_functions(run.rewards, judge_reward(run, profile))
    info = course.adapter_info(run.name, profile, smoke_steps=args.max_steps)
    config = grpo_config(recipe, profile, checkpoint_dir(profile, run.name, recipe), args.seed,
                         report_to=args.report_to, reward_weights=list(run.weights) if run.weights else None)
    model, tokenizer = warm_start(run.start, profile)
    run_grpo(model, tokenizer, rows, rewards, config, profile, info, callbacks=[LaunchRecord(profile, run.name)])


if __name__ == "__main__":
    in_one_line(main)
