"""Benchmark: the RL half of the course (04-07, with the 00 and 03 they start from) on several
seeds, and each headline with its spread across them.

    .venv/bin/python benchmarks/rl_seeds.py [--seeds 0 1 2] [--profile tiny] [--home runs-seeds]

Each seed runs the notebooks through the course runner in its own folder (`<home>/seed<N>`,
so the course's own `runs/` stays as it was) and the script prints one line per headline:
the value on each seed, then the lowest and highest. A claim in the notebooks' text should be
one that holds on every seed; a headline whose spread crosses the majority line is not yet a
result. Already-run seeds are read back, not run again (delete a seed's folder to redo it).
On `tiny` with a 2-core CPU a seed takes about 5 1/2-9 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

NOTEBOOKS = ("00", "03", "04", "05", "06", "07")


def run_seed(seed: int, profile: str, home: Path) -> Path:
    """Run the notebooks for `seed` in `home/seed<N>` unless a passed run is there; return the
    folder of its metrics."""
    folder = home / f"seed{seed}"
    metrics = folder / "runs" / profile / "metrics"
    summary = folder / "runs" / profile / "summary.json"
    if summary.is_file() and json.loads(summary.read_text()).get("status") == "passed":
        print(f"seed {seed}: read back from {folder}", flush=True)
        return metrics
    env = {**os.environ, "MEDLAB_HOME": str(folder)}
    command = [sys.executable, "-m", "medlab.runner", "--profile", profile, "--seed", str(seed), "--only", *NOTEBOOKS]
    print(f"seed {seed}: {' '.join(command[1:])}", flush=True)
    if subprocess.run(command, env=env).returncode:
        raise SystemExit(f"seed {seed} failed: see {folder / 'runs' / profile}")
    return metrics


def headlines(metrics: Path) -> dict[str, float]:
    """The figures the notebooks' conclusions rest on, by name, from one run's metrics files."""
    def read(notebook: str) -> dict:
        return json.loads((metrics / f"{notebook}.json").read_text())["metrics"]

    found = {}
    warm = read("04_sft_reasoning")["warm_start_discrimination"]
    found["04 triage warm start, held-out kappa"] = warm["triage"]["kappa"][0]
    found["04 imaging warm start, held-out macro-F1 (evidence)"] = warm["imaging"]["macro_f1"][0]
    ppo = read("05_ppo_mcq")
    found["05 SFT held-out accuracy"] = ppo["accuracy_before_ci"][0]
    found["05 PPO held-out accuracy"] = ppo["accuracy_after_ci"][0]
    sampled_gain = ppo["sampled_after"]["reward"] - ppo["sampled_before"]["reward"]
    found["05 PPO sampled reward gain (training probe)"] = sampled_gain
    if ppo.get("grpo"):
        found["05 GRPO held-out accuracy"] = ppo["grpo"]["heldout_after"]["accuracy"]
    imaging = read("06_grpo_appropriateness")
    for variant, summary in imaging["variants"].items():
        found[f"06 {variant}, held-out macro-F1"] = summary["heldout"]["macro_f1"][0]
        found[f"06 {variant}, categories used (of 3)"] = summary["heldout"]["labels_predicted"]
    found["06 majority policy macro-F1"] = next(iter(imaging["variants"].values()))["heldout"]["majority"]
    triage = read("07_grpo_triage")
    for variant, summary in triage["runs"].items():
        found[f"07 {variant}, held-out kappa"] = summary["heldout"]["kappa"][0]
        found[f"07 {variant}, levels used (of 5)"] = summary["heldout"]["labels_predicted"]
        found[f"07 {variant}, rule probes exact"] = summary["probes_exact"][0]
    found["07 bonus minus no bonus, rule probes exact"] = (triage["runs"]["bonus"]["probes_exact"][0]
                                                         - triage["runs"]["no_bonus"]["probes_exact"][0])
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--home", type=Path, default=Path("runs-seeds"))
    args = parser.parse_args()
    by_seed = {seed: headlines(run_seed(seed, args.profile, args.home.resolve())) for seed in args.seeds}
    names = list(next(iter(by_seed.values())))
    print(f"\n{'headline':<55} " + " ".join(f"{'seed ' + str(s):>8}" for s in args.seeds) + f" {'range':>15}")
    for name in names:
        values = [by_seed[seed].get(name) for seed in args.seeds]
        shown = [v for v in values if v is not None]
        cells = " ".join(f"{v:>8.3f}" if v is not None else f"{'-':>8}" for v in values)
        print(f"{name:<55} {cells} {min(shown):>7.3f}..{max(shown):<7.3f}")


if __name__ == "__main__":
    main()
