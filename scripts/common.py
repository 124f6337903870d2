"""What the training scripts share: their command line, the profile, and the launch record.

The scripts run a notebook's recipe (`medlab.recipes`) as a program, on one GPU or on several
under `accelerate launch`, and save adapters and logs where the notebooks do
(`runs/<profile>/`), so notebooks/08_evaluation.ipynb evaluates them like the notebooks' own.
"""

from __future__ import annotations

import argparse
import os
import sys

from transformers import TrainerCallback

from medlab.profiles import Profile, ProfileError, parse_overrides
from medlab.runlog import HomeNotWritable, runs_dir, start_notebook, write_json


def command_line(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--profile", default="auto", help="tiny, t4 or full (auto: t4 on Colab, else tiny)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="profile overrides, as `python -m medlab.runner --set` takes them")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-steps", type=steps_at_most, default=0,
                        help="optimiser steps at most (0: the recipe decides); the adapter is then labelled a run cut "
                             "short, which notebook 08 does not take for the recipe's")
    parser.add_argument("--report-to", default="none", help="none, tensorboard or trackio")
    return parser


def steps_at_most(text: str) -> int:
    """`--max-steps`: 0 (the recipe decides) or a positive count."""
    steps = int(text)
    if steps < 0:
        raise argparse.ArgumentTypeError(f"{steps}: give a positive number of steps, or 0 for the recipe's")
    return steps


def start(name: str, args: argparse.Namespace, parser: argparse.ArgumentParser) -> Profile:
    """The profile the command line names, with its overrides, set up as a notebook's setup cell
    does (seeds, the hub switched off on tiny, the device checked); a bad one, or a GPU profile
    on a machine without a GPU, stops with the reason in one line."""
    try:
        return start_notebook(name, args.profile, seed=args.seed, **parse_overrides(args.set)).profile
    except (ProfileError, RuntimeError, HomeNotWritable) as error:
        parser.error(str(error))


def in_one_line(main) -> None:
    """Run a script's `main`; what the user can fix (a start adapter not trained yet, a data file
    not found, a gated model) ends in one line naming it, not a traceback."""
    try:
        main()
    except (FileNotFoundError, PermissionError) as error:
        sys.exit(f"error{launch_process()}: {error}")


def launch_process() -> str:
    """Which process of a launch this is, for its error line (torchrun and accelerate set these);
    nothing when it runs alone."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return f" (process {os.environ.get('RANK', '?')} of {world})" if world > 1 else ""


class LaunchRecord(TrainerCallback):
    """Writes what this launch was to `runs/<profile>/launches/<adapter>.json` when training
    ends: how many processes took part and the batch they made together."""

    def __init__(self, profile: Profile, name: str):
        self.path = runs_dir(profile.name) / "launches" / f"{name}.json"
        self.name = name

    def on_train_end(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        launch = {"adapter": self.name, "world_size": args.world_size, "distributed": str(args.parallel_mode),
                  "per_device_batch": args.per_device_train_batch_size,
                  "gradient_accumulation": args.gradient_accumulation_steps,
                  "global_batch": args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size,
                  "optimiser_steps": state.global_step, "epochs": round(state.epoch or 0.0, 4)}
        write_json(self.path, launch)
        print(f"{self.name}: {state.global_step} optimiser steps on {args.world_size} process(es), "
              f"global batch {launch['global_batch']}")
