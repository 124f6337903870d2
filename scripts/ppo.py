"""PPO from the SFT adapter, notebook 05's recipe, as a program. One process only.

    python scripts/ppo.py --profile t4

The course's PPO (`medlab.ppo`) is written from first principles, for reading: rollouts, the
frozen reference, the value head and the update all live in one process, and nothing averages
gradients between processes. Launched on several, each process would train its own copy on
its own rollouts and they would drift apart, so the script refuses. For several GPUs, use
`scripts/grpo.py`, which TRL distributes, or give PPO one larger GPU (`--profile full`).
Saves `ppo_mcq` under `runs/<profile>/adapters/`, where notebook 08 finds it.
"""

from __future__ import annotations

import os
import sys
import time

from common import command_line, in_one_line, start

from medlab import course, prompts, recipes
from medlab.adapters import adapter_digest, save_adapter, saved_adapter
from medlab.data import sources
from medlab.evaluation import base_model
from medlab.models import load_model_and_tokenizer
from medlab.ppo import ValueHead, card_settings, load_policy_and_reference, train_ppo
from medlab.rewards import mcq_columns, reward_functions
from medlab.training import checkpoint_dir, log_path, prepare_base

RUN = course.scripted("ppo")[""]  # ppo_mcq: the one run this script trains


def refuse_several_processes() -> None:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        sys.exit(f"scripts/ppo.py runs in one process, and this launch started {world}: the course's PPO "
                 "does not average gradients between processes. Run `python scripts/ppo.py ...` without "
                 "accelerate or torchrun, or use scripts/grpo.py for several GPUs.")


def build_parser():
    return command_line(__doc__.splitlines()[0])


def main() -> None:
    refuse_several_processes()
    parser = build_parser()
    args = parser.parse_args()
    profile = start(f"script_{RUN.name}", args, parser)
    config = recipes.ppo_recipe(profile)
    mcq = sources.splits(RUN.task, profile, args.seed)
    questions, _ = recipes.ppo_questions(mcq.train, profile)  # as 05 takes them
    steps = args.max_steps or recipes.ppo_steps(profile, len(questions))
    conversations = [prompts.mcq_messages(q) for q in questions]
    columns = mcq_columns(questions)

    base, tokenizer = load_model_and_tokenizer(base_model(RUN.task, profile), profile)
    sft = saved_adapter(profile, RUN.start)
    model = load_policy_and_reference(prepare_base(base, profile), sft.path)
    value_head = ValueHead(model.config.hidden_size).to(model.device)
    (reward,) = reward_functions(RUN.rewards)
    started = time.time()
    log = train_ppo(model, value_head, tokenizer, conversations, columns, reward, config, steps,
                    log_path(profile, RUN.name), checkpoint_dir(profile, RUN.name, config), seed=args.seed,
                    start=adapter_digest(sft))
    info = course.adapter_info(RUN.name, profile, smoke_steps=args.max_steps, steps=len(log["step"]),
                               train_seconds=round(time.time() - started, 1), training=card_settings(config, args.seed))
    print("adapter saved to", save_adapter(model, profile, info, adapter_name="policy"))


if __name__ == "__main__":
    in_one_line(main)
