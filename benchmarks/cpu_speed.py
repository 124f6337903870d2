"""Benchmark: this machine's speed in the course's own unit, 100 steps of 04's triage warm start.

    .venv/bin/python benchmarks/cpu_speed.py [--steps 100] [--repeats 3]

Prints the seconds of each repeat and a last line `seconds per 100 steps: X` (the median). The
course's time on a CPU scales with it: the README gives the course's time beside this figure,
measured on the same machine minutes apart, because a shared VM's speed drifts by a third from
hour to hour and a course time alone cannot say whether a change or the machine moved it.
Nothing is saved: each repeat trains into a scratch folder of its own.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import replace


def one_run(steps: int) -> float:
    from medlab.course import adapter_info
    from medlab.data import sources
    from medlab.grpo import warm_start_conversations
    from medlab.models import load_model_and_tokenizer
    from medlab.profiles import load_profile
    from medlab.recipes import sft_recipe, warm_start_rows
    from medlab.training import run_sft

    profile = load_profile("tiny")
    cases = sources.splits("triage", profile, 0).train
    rows = warm_start_conversations("triage", warm_start_rows("triage", cases, profile))
    recipe = replace(sft_recipe("triage", profile), max_steps=steps)
    info = adapter_info("sft_triage", profile, saved_as="cpu_speed")  # 04's triage warm start, saved aside
    model, tokenizer = load_model_and_tokenizer(info.base_model, profile)
    started = time.time()
    run_sft(model, tokenizer, rows, profile, recipe, info, save_steps=10 * steps)
    return time.time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    seconds = []
    for _ in range(args.repeats):
        # a folder per repeat: in one folder the second run of the same settings is skipped as done
        with tempfile.TemporaryDirectory() as scratch:
            os.environ["MEDLAB_HOME"] = scratch  # adapters and logs of the run land here, then vanish
            seconds.append(one_run(args.steps))
    for k, value in enumerate(seconds, 1):
        print(f"repeat {k}: {value:.1f} s")
    print(f"seconds per {args.steps} steps: {statistics.median(seconds):.1f}")


if __name__ == "__main__":
    main()
