"""What an RL run bought, written from its own numbers: the tables and sentences that 05, 06
and 07 end with, so that no figure in a conclusion comes from anywhere but the run above it.

A rising training reward says the policy learned what the reward pays on the prompts it
trained on; only held-out cases, beside the majority policy (the most common answer given to
everyone), say whether it learned the task. Each table therefore shows, per stage: the training
reward, a probe on training prompts (labelled as such), and held-out results with their
intervals and the majority line.

First used in notebooks/05_ppo_mcq.ipynb.
"""

from __future__ import annotations

from medlab.checks import beats


def interval(triple) -> str:
    """`[value, low, high]` as "0.62 [0.48, 0.74]".

    >>> interval([0.625, 0.48, 0.74])
    '0.62 [0.48, 0.74]'
    """
    value, low, high = triple
    return f"{value:.2f} [{low:.2f}, {high:.2f}]"


def stage_row(stage: str, held_out, metric: str, reward: tuple[float, float] | None = None,
              training_probe=None) -> dict:
    """One row of the table of what RL bought: `held_out` (an `EvalResult`) on `metric` beside
    the majority policy and the labels used, `reward` as (first quarter, last quarter) of the
    training reward, and `training_probe` (an `EvalResult` on training prompts) on `metric`."""
    row = {"stage": stage,
           "training reward (first -> last quarter)": "" if reward is None else f"{reward[0]:.2f} -> {reward[1]:.2f}",
           f"{metric}, training prompts": "" if training_probe is None else interval(training_probe.metrics[metric]),
           f"{metric}, held out": interval(held_out.metrics[metric])}
    majority = held_out.extras.get("majority")
    if majority is not None:
        row["majority policy"] = f"{majority[metric]:.2f} ({majority['label']})"
        row["labels used"] = labels_used(held_out.extras)
    return row


def labels_used(extras: dict) -> str:
    """How many labels the replies used beside how many the gold answers hold: "1 of 3" is one
    answer to everything. Where the replies used more labels than the set holds (the triage rule
    probes hold two levels), "of" would read as a fraction, so the gold's count is named.

    >>> [labels_used({"labels_predicted": used, "labels_present": held}) for used, held in ((1, 3), (4, 2))]
    ['1 of 3', '4, the gold holds 2']
    """
    predicted, present = extras["labels_predicted"], extras["labels_present"]
    return f"{predicted} of {present}" if predicted <= present else f"{predicted}, the gold holds {present}"


def stage_table(rows: list[dict]):
    import pandas as pd

    return pd.DataFrame(rows).set_index("stage")


def comparison(name: str, result, other_name: str, other, metric: str) -> str:
    """One sentence comparing two results on the same cases, as `medlab.checks.beats` judges:
    which is above the top of the other's interval, or that they are within chance.

    >>> from types import SimpleNamespace as R
    >>> a = R(model="a", metrics={"exact": [0.80, 0.65, 0.90]}, extras={}, gold=[1] * 36)
    >>> b = R(model="b", metrics={"exact": [0.50, 0.35, 0.65]}, extras={}, gold=[1] * 36)
    >>> comparison("bonus", a, "no bonus", b, "exact")
    'bonus 0.80 [0.65, 0.90] is above the top of no bonus 0.50 [0.35, 0.65]'
    >>> comparison("no bonus", b, "bonus", a, "exact")
    'no bonus 0.50 [0.35, 0.65] is below the bottom of bonus 0.80 [0.65, 0.90]'
    """
    this, that = f"{name} {interval(result.metrics[metric])}", f"{other_name} {interval(other.metrics[metric])}"
    if not beats(result, other, metric):
        return f"{this} is above the top of {that}"
    if not beats(other, result, metric):
        return f"{this} is below the bottom of {that}"
    return f"{this} and {that} are within chance of each other"


def replies_before_after(before, after, k: int = 3, width: int = 220, show=lambda text: text):
    """`k` held-out cases with the gold answer and the reply before and after training: cases
    whose answer changed first, so the table shows what training did where it did something.
    `show`: what a reply is shown as (`sources.shown`, for a learner's credentialed data)."""
    import pandas as pd

    order = sorted(range(len(after.gold)), key=lambda i: before.pred[i] == after.pred[i])[:k]
    return pd.DataFrame([{"gold": after.gold[i], "before": before.pred[i], "after": after.pred[i],
                          "reply before": show(before.replies[i][:width]),
                          "reply after": show(after.replies[i][:width])} for i in order])


STAGE_ORDER = {"base": 0, "sft": 1, "ppo": 2, "grpo": 3}


def per_stage_summary(results: list[dict], methods: dict[str, str]):
    """One row per task and model, in workflow order (base, SFT, PPO, GRPO): the task's headline
    with its interval, the majority policy's value and the labels used, from saved results
    (`evaluation.load_results`), thinking on. `methods` maps each adapter's name to how it was
    trained ("sft", "ppo", "grpo"); anything else is the base model."""
    import pandas as pd

    from medlab.evaluation import TASKS

    rows = []
    for r in results:
        if not r["extras"].get("enable_thinking", True):
            continue
        headline, extras = TASKS[r["task"]].headline, r["extras"]
        majority = extras.get("majority") or {}
        stage = methods.get(r["model"], "base")
        rows.append({"task": r["task"], "stage": stage, "model": r["model"],
                     "headline": f"{headline} {interval(r['metrics'][headline])}",
                     "majority policy": "" if headline not in majority else f"{majority[headline]:.2f}",
                     "labels used": labels_used(extras) if "labels_predicted" in extras else "",
                     "_order": (r["task"], STAGE_ORDER.get(stage, 9), r["model"])})
    table = pd.DataFrame(rows)
    return table.sort_values("_order").drop(columns="_order").reset_index(drop=True) if rows else table
