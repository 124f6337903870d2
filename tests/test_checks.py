"""Learning checks against policies whose verdict is known: one answer to everything must fail,
reading the cases must pass. Also the evaluation records they read: the majority policy and
intervals for proportions that stay open at 0 and n."""

import json
from collections import Counter

import pytest

from medlab.checks import (
    NotLearned,
    beats,
    discriminates,
    labels_needed,
    require_beats,
    require_discriminates,
)
from medlab.data import sources
from medlab.evaluation import TASKS, constant_policy, evaluate, evaluate_replies, results_table
from medlab.metrics import wilson_ci
from medlab.profiles import load_profile

HEADLINES = {"imaging": ("accuracy", "macro_f1"), "triage": ("exact", "kappa"), "medqa": ("accuracy",)}


@pytest.fixture(scope="module")
def eval_sets():
    """(task name, items) of each set the checks are tried on; loading them takes well under a second."""
    tiny = load_profile("tiny")
    return {"imaging test": ("imaging", sources.splits("imaging", tiny, 0).test),
            "triage benchmark": ("triage", sources.triage_benchmark()[0]),
            "triage test": ("triage", sources.splits("triage", tiny, 0).test),
            "medqa test": ("medqa", tiny.cap_eval(sources.splits("medqa", tiny, 0).test))}  # 05's held-out set


@pytest.fixture(scope="module")
def probes():
    return [case for _, case in sources.rule_probes()]


SET_METRICS = [(name, metric) for name, task in
               (("imaging test", "imaging"), ("triage benchmark", "triage"), ("triage test", "triage"),
                ("medqa test", "medqa"))
               for metric in HEADLINES[task]]


def most_common(labels: list) -> tuple:
    """(label, count) of the most common label, the lowest first among ties: computed here by hand."""
    counts = Counter(labels)
    top = max(counts.values())
    return min(label for label, c in counts.items() if c == top), top


def other_label(task_name: str, label):
    """A valid label next to `label` (the next one, or the one before for the last)."""
    labels = TASKS[task_name].labels
    i = labels.index(label)
    return labels[i + 1] if i + 1 < len(labels) else labels[i - 1]


def policy(task_name: str, items: list, answer, name: str):
    """The result of replying `answer(index, item)` to each item, in the task's own format."""
    task = TASKS[task_name]
    replies = [task.reply_for(answer(i, item)) for i, item in enumerate(items)]
    return evaluate_replies(task_name, items, replies, name, reasoning=False)


def gold_policy(task_name: str, items: list):
    return policy(task_name, items, lambda i, item: TASKS[task_name].gold(item), "gold")


def mostly_gold_policy(task_name: str, items: list):
    """The gold on six cases of seven (86%), a neighbouring label on the seventh."""
    gold = TASKS[task_name].gold
    return policy(task_name, items, lambda i, item: other_label(task_name, gold(item)) if i % 7 == 3 else gold(item),
                  "mostly gold")


# ---- discriminates ------------------------------------------------------------------------------

@pytest.mark.parametrize("set_name, metric", SET_METRICS)
def test_one_answer_to_everything_does_not_count_as_learning(set_name, metric, eval_sets):
    task_name, items = eval_sets[set_name]
    for label in TASKS[task_name].labels:
        result = constant_policy(task_name, items, label)
        problems = discriminates(result, metric)
        assert len(problems) == 2, (label, problems)  # no better than the majority, and one label used
        assert "does not clear the majority policy" in problems[0] and "predicted 1 of" in problems[1]
        with pytest.raises(NotLearned, match="does not count as learning"):
            require_discriminates(result, metric)


def test_the_problem_names_the_figures_and_the_majority_answer(eval_sets):
    items = eval_sets["imaging test"][1]
    label, _ = most_common([i.appropriateness for i in items])  # 'Usually Not Appropriate' when written
    result = constant_policy("imaging", items)  # the majority label itself
    floor, value, low, high = (result.extras["majority"]["macro_f1"], *result.metrics["macro_f1"])
    first, second = discriminates(result, "macro_f1")
    assert first.startswith(f"macro_f1 {value:.3f} [{low:.2f}, {high:.2f}] does not clear the majority "
                            f"policy's {floor:.3f} ('{label}' to every case)")
    assert second.startswith("It predicted 1 of the 3 labels present in the gold answers")


@pytest.mark.parametrize("set_name, metric", SET_METRICS)
def test_answering_from_the_case_counts_as_learning(set_name, metric, eval_sets):
    task_name, items = eval_sets[set_name]
    for result in (gold_policy(task_name, items), mostly_gold_policy(task_name, items)):
        assert discriminates(result, metric) == [], result.model
        assert require_discriminates(result, metric) is None


def test_a_good_score_from_too_few_labels_fails_on_the_labels_alone(eval_sets):
    items = eval_sets["triage test"][1]  # about 20 cases of each level
    result = policy("triage", items, lambda i, item: min(item.level, 3), "never 4 or 5")
    assert result.metrics["exact"][1] > result.extras["majority"]["exact"]  # about 0.60 clears about 0.22
    assert discriminates(result, "exact") == [
        "It predicted 3 of the 5 labels present in the gold answers; a model that reads the cases uses at least 4 "
        "(two thirds, rounded up)."]


def test_every_label_used_but_below_the_majority_fails_on_the_score_alone(eval_sets):
    items = eval_sets["imaging test"][1]
    labels = TASKS["imaging"].labels
    result = policy("imaging", items, lambda i, item: labels[i % 3], "in turn")
    problems = discriminates(result, "accuracy")
    assert len(problems) == 1 and "does not clear the majority policy" in problems[0]


def test_two_thirds_of_the_labels_rounded_up():
    assert [labels_needed(n) for n in (0, 1, 2, 3, 4, 5, 6)] == [0, 1, 2, 2, 3, 4, 4]


def test_saved_results_are_checked_as_fresh_ones_and_old_ones_are_refused(eval_sets):
    result = constant_policy("triage", eval_sets["triage benchmark"][1])
    saved = json.loads(json.dumps(result.to_dict()))
    assert discriminates(saved, "exact") == discriminates(result, "exact")
    del saved["extras"]["majority"]  # as results saved before the majority policy was recorded
    with pytest.raises(ValueError, match="no majority policy"):
        discriminates(saved, "exact")
    with pytest.raises(ValueError, match="better when lower"):
        discriminates(result, "critical_under_triage")
    with pytest.raises(ValueError, match="no labels"):
        constant_policy("reasoning", [])


# ---- beats --------------------------------------------------------------------------------------

def right_on_first(items: list, k: int, name: str):
    """Triage replies right on the first `k` items and a neighbouring level on the rest."""
    return policy("triage", items, lambda i, item: item.level if i < k else other_label("triage", item.level), name)


def test_equal_results_do_not_beat_each_other(probes):
    half = right_on_first(probes, len(probes) // 2, "half")
    for result in (gold_policy("triage", probes), half, constant_policy("triage", probes)):
        assert beats(result, result, "exact") != []
        with pytest.raises(NotLearned, match="does not beat"):
            require_beats(result, result, "exact")


def test_a_clearly_better_result_beats(probes):
    worse = constant_policy("triage", probes)  # the most common level to everyone: 24 of 36 ESI 2 when written
    assert beats(gold_policy("triage", probes), worse, "exact") == []
    assert require_beats(gold_policy("triage", probes), worse, "exact") is None
    assert beats(worse, gold_policy("triage", probes), "exact") != []


def test_beats_needs_the_value_above_the_top_of_the_other_interval(probes):
    n = len(probes)  # 36: half right is 0.50 [0.345, 0.655], so 24 right (0.667) beats it and 23 (0.639) does not
    worse = right_on_first(probes, n // 2, "no bonus")
    top = worse.metrics["exact"][2]
    enough = next(k for k in range(n + 1) if k / n > top)
    assert enough - n // 2 >= 3  # more than a case or two of chance
    assert beats(right_on_first(probes, enough, "bonus"), worse, "exact") == []
    short = right_on_first(probes, enough - 1, "bonus")
    (problem,) = beats(short, worse, "exact")
    value, low, high = short.metrics["exact"]
    assert problem == (f"bonus's exact {value:.3f} [{low:.2f}, {high:.2f}] is not above the top of no bonus's "
                       f"interval, 0.500 [{worse.metrics['exact'][1]:.2f}, {top:.2f}]: on these {n} cases the "
                       f"difference is within chance.")


def test_beats_refuses_results_on_different_cases(probes, eval_sets):
    with pytest.raises(ValueError, match="same cases"):
        beats(gold_policy("triage", probes), constant_policy("triage", eval_sets["triage benchmark"][1]), "exact")


# ---- what evaluation records for the checks -----------------------------------------------------

def test_rates_never_seen_keep_an_upper_bound(eval_sets):
    result = gold_policy("triage", eval_sets["triage benchmark"][1])  # 36 cases, all right
    upper = wilson_ci(0, 36)[2]
    assert upper == pytest.approx(0.0964, abs=1e-4)
    for rate in ("under_triage", "critical_under_triage", "over_triage", "no_parse"):
        assert result.metrics[rate] == pytest.approx([0.0, 0.0, upper]), rate  # not a certain [0, 0]
    assert result.metrics["exact"] == pytest.approx([1.0, 1 - upper, 1.0])
    assert result.metrics["format_rate"] == pytest.approx([1.0, 1 - upper, 1.0])


def test_choice_accuracy_is_a_wilson_interval_and_macro_f1_a_bootstrap(eval_sets):
    items = eval_sets["imaging test"][1]  # 33 of 54 'Usually Not Appropriate' when written
    label, count = most_common([i.appropriateness for i in items])
    share = count / len(items)
    result = constant_policy("imaging", items)
    assert result.metrics["accuracy"] == pytest.approx(list(wilson_ci(count, len(items))))
    value, low, high = result.metrics["macro_f1"]
    assert value == pytest.approx(2 * share / (1 + share) / 3) and low < value < high  # one class's F1, over 3


def test_the_majority_policy_is_recorded_beside_a_result(eval_sets):
    items = eval_sets["imaging test"][1]
    label, count = most_common([i.appropriateness for i in items])
    share = count / len(items)
    result = gold_policy("imaging", items)
    assert result.extras["majority"] == {"label": label, "accuracy": pytest.approx(share),
                                         "macro_f1": pytest.approx(2 * share / (1 + share) / 3)}
    assert result.extras["labels_predicted"] == result.extras["labels_present"] == 3
    cases = eval_sets["triage test"][1]
    level, count = most_common([r.level for r in cases])
    triage = constant_policy("triage", cases, label=5 if level != 5 else 1)
    assert triage.extras["majority"]["label"] == level
    assert triage.extras["majority"]["exact"] == pytest.approx(count / len(cases))
    assert triage.extras["majority"]["kappa"] == 0.0  # a constant answer agrees no better than chance
    assert (triage.extras["labels_predicted"], triage.extras["labels_present"]) == (1, 5)


def test_evaluate_records_the_majority_policy(monkeypatch, eval_sets):
    items = eval_sets["triage benchmark"][1]
    level, _ = most_common([r.level for r in items])  # ESI 1, 14 of 36, when written

    def fake_generate(model, tokenizer, conversations, sampling, batch_size, desc):
        return [TASKS["triage"].reply_for(level)] * len(conversations)

    monkeypatch.setattr("medlab.evaluation.generate", fake_generate)
    monkeypatch.setattr("medlab.evaluation.count_new_tokens", lambda tokenizer, replies: 1)
    result = evaluate(None, None, "triage", items, load_profile("tiny"), "fake", enable_thinking=False,
                      keep=False)
    assert {"n", "seconds", "enable_thinking", "tokens_per_second", "confusion"} <= set(result.extras)
    assert result.extras["majority"]["label"] == level and result.extras["labels_predicted"] == 1
    assert result.extras["enable_thinking"] is False
    with pytest.raises(NotLearned):  # the majority policy itself
        require_discriminates(result, "exact")


def test_results_table_shows_the_majority_and_survives_older_results(eval_sets):
    new = gold_policy("imaging", eval_sets["imaging test"][1]).to_dict()
    old = json.loads(json.dumps(new))
    for key in ("majority", "labels_predicted", "labels_present"):
        del old["extras"][key]  # a result saved before these were recorded
    table = results_table([new, old])
    assert list(table["majority"]) == [round(new["extras"]["majority"]["accuracy"], 3), None]
    assert list(table["labels predicted"]) == ["3 of 3", None]
    assert table.loc[0, "value"] == 1.0


def test_rl_stops_before_it_starts_from_replies_that_earn_nothing():
    from medlab.checks import NothingToLearnFrom, require_answers

    require_answers(0.2, "sft_mcq")
    with pytest.raises(NothingToLearnFrom, match="only 5% of sft_mcq's sampled replies earn a reward"):
        require_answers(0.05, "sft_mcq")
