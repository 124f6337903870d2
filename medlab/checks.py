"""Learning checks that a collapsed policy fails.

A model that answers one label to every case can look like progress: answering the most common
appropriateness category to every case is right on about 60% of the tiny held-out cases, a
reward rises while the policy learns to say it, and an "after" accuracy above the "before" one
proves nothing. These
checks say, in sentences a learner can act on, why a result does or does not count as learning.

Each check returns the problems it found (an empty list: the check passed), so a notebook can
print them; its `require_` twin raises `NotLearned`, an `AssertionError`, listing them, for a
notebook's assert. Results are `EvalResult`s from `medlab.evaluation`, or their saved form
(`EvalResult.to_dict()`, what `load_results` reads). Metrics are those where higher is better
(accuracy, macro_f1, exact, adjacent, kappa, ...); the rates of errors are refused.
"""

from __future__ import annotations

LOWER_IS_BETTER = frozenset({"under_triage", "critical_under_triage", "over_triage", "no_parse"})


class NotLearned(AssertionError):
    """A learning check failed; the message lists why, one sentence a problem."""


def _parts(result) -> tuple[str, dict, dict, list]:
    """(model, metrics, extras, gold) of an `EvalResult` or of its saved dictionary."""
    if isinstance(result, dict):
        return result["model"], result["metrics"], result["extras"], [e["gold"] for e in result["examples"]]
    return result.model, result.metrics, result.extras, list(result.gold)


def _higher_is_better(metric: str) -> None:
    if metric in LOWER_IS_BETTER:
        raise ValueError(f"{metric} is better when lower; these checks compare metrics where higher is better")


def _interval(metrics: dict, metric: str) -> str:
    value, low, high = metrics[metric]
    return f"{value:.3f} [{low:.2f}, {high:.2f}]"


def labels_needed(present: int) -> int:
    """Two thirds of the labels present, rounded up: 2 of 3 categories, 4 of 5 ESI levels.

    >>> [labels_needed(n) for n in (1, 2, 3, 4, 5)]
    [1, 2, 2, 3, 4]
    """
    return -(-2 * present // 3)


def discriminates(result, metric: str) -> list[str]:
    """Why `result` does not count as learning on `metric`; empty when it does.

    Two problems are looked for, each against what a model that learned one answer would show:

    1. `metric`'s interval does not clear the majority policy: the lower end of its 95% interval
       is not above the value that answering the eval set's most common gold label to every case
       gets (`extras["majority"]`, recorded by `evaluate`). Above it, the result is better than
       that policy beyond the chance variation of this many cases.
    2. Too few labels were predicted: fewer than two thirds (rounded up) of the distinct gold
       labels appear among the parsed answers. A model reading the cases uses most of the answers
       the cases call for; one that collapsed uses one or two, however good its score.

    Raises ValueError where the check cannot be made: a task without labels, a result saved
    before the majority policy was recorded, or a metric where lower is better.
    """
    _higher_is_better(metric)
    model, metrics, extras, _ = _parts(result)
    majority = extras.get("majority")
    if majority is None:
        raise ValueError(f"{model}'s result has no majority policy in its extras: its task has no labels, or it was "
                         f"saved before evaluate recorded one (evaluate it again)")
    if metric not in majority:
        raise ValueError(f"the majority policy has no {metric!r}; it has {sorted(k for k in majority if k != 'label')}")
    problems = []
    floor = majority[metric]
    if not metrics[metric][1] > floor:
        problems.append(f"{metric} {_interval(metrics, metric)} does not clear the majority policy's {floor:.3f} "
                        f"({majority['label']!r} to every case): the lower end of the 95% interval must be above it.")
    predicted, present = extras["labels_predicted"], extras["labels_present"]
    if predicted < labels_needed(present):
        problems.append(f"It predicted {predicted} of the {present} labels present in the gold answers; a model that "
                        f"reads the cases uses at least {labels_needed(present)} (two thirds, rounded up).")
    return problems


def beats(better, worse, metric: str) -> list[str]:
    """Why `better` does not beat `worse` on `metric`; empty when it does.

    The rule: both were scored on the same cases (same gold answers, same order; ValueError
    otherwise), and `better`'s value lies above the upper end of `worse`'s 95% interval.

    Why this rule. `worse`'s interval holds the values its true rate could plausibly have given
    these cases; a value of `better` beyond it is one `worse` would rarely produce. On 36 cases
    with `worse` at 18 right (0.50 [0.345, 0.655] by Wilson) `better` needs 24 (0.667). Plain
    `better > worse` passes when one case flips, which on 36 cases is 3 points of chance.
    Non-overlapping intervals (`evaluation.rose_beyond_interval`: `better`'s lower end above
    `worse`'s upper end) need 30 of 36 there, a difference few honest ablations on 36 cases show.
    The rule treats `better`'s value as exact, so it is lenient: for two independent runs it is
    about a one-sided test at 8% rather than 2.5%. Report both intervals beside the verdict.
    """
    _higher_is_better(metric)
    better_model, better_metrics, _, better_gold = _parts(better)
    worse_model, worse_metrics, _, worse_gold = _parts(worse)
    if better_gold != worse_gold:
        raise ValueError(f"{better_model} and {worse_model} were not scored on the same cases; compare runs on one set")
    value, high = better_metrics[metric][0], worse_metrics[metric][2]
    if value > high:
        return []
    return [f"{better_model}'s {metric} {_interval(better_metrics, metric)} is not above the top of {worse_model}'s "
            f"interval, {_interval(worse_metrics, metric)}: on these {len(better_gold)} cases the difference is "
            f"within chance."]


def _require(problems: list[str], what: str) -> None:
    if problems:
        raise NotLearned(f"{what}:\n- " + "\n- ".join(problems))


def require_discriminates(result, metric: str) -> None:
    """`discriminates` for an assert: raises `NotLearned` listing the problems, if any."""
    model, *_ = _parts(result)
    _require(discriminates(result, metric), f"{model} does not count as learning on {metric}")


def require_beats(better, worse, metric: str) -> None:
    """`beats` for an assert: raises `NotLearned` listing the problem, if any."""
    _require(beats(better, worse, metric), f"{_parts(better)[0]} does not beat {_parts(worse)[0]} on {metric}")


# ---- before RL: a start that RL can learn from ---------------------------------------------------

MIN_ANSWER_RATE = 0.2
"""The fewest of a start adapter's sampled replies that must earn a reward before RL runs."""


class NothingToLearnFrom(RuntimeError):
    """An RL run would start from replies that almost never earn a reward."""


def require_answers(answer_rate: float, adapter: str, minimum: float = MIN_ANSWER_RATE) -> None:
    """Stop before RL when fewer than `minimum` of `adapter`'s sampled replies earn any reward.

    PPO and GRPO learn from differences between rewards. When nearly every reply scores 0 (no
    answer line the reward can read), every advantage is about 0 and a run spends hours updating
    nothing. The message says what to change.

    >>> require_answers(0.6, "sft_mcq")  # passes: returns nothing
    """
    if answer_rate < minimum:
        raise NothingToLearnFrom(
            f"only {answer_rate:.0%} of {adapter}'s sampled replies earn a reward (at least {minimum:.0%} needed). "
            "RL learns from replies whose rewards differ, and nearly all of these score 0. Train the start "
            "adapter longer (more SFT steps), check that its replies end in the answer line the reward reads, "
            "or give replies more new tokens")
