"""Every metric on cases computed by hand."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score, precision_recall_fscore_support

from medlab.metrics import (
    accuracy,
    bleu,
    bleu_ci,
    bootstrap_ci,
    bootstrap_cis,
    confusion,
    embedding_cosine,
    evidence_coverage,
    macro_prf,
    majority_label,
    mean_ci,
    no_parse_rate,
    quadratic_kappa,
    rouge_l,
    rule_of_three,
    same_diagnosis,
    triage_metrics,
    wilson_ci,
)


def test_accuracy_and_no_parse():
    assert accuracy(["A", "B", "C", "D"], ["A", "C", None, "D"]) == 0.5
    assert no_parse_rate(["A", None, None, "D"]) == 0.5


def test_macro_prf_by_hand():
    gold = ["x", "x", "y", "y"]
    pred = ["x", "y", "y", None]
    # x: precision 1/1, recall 1/2; y: precision 1/2, recall 1/2
    result = macro_prf(gold, pred, ["x", "y"])
    assert result["precision"] == pytest.approx((1 + 0.5) / 2)
    assert result["recall"] == pytest.approx(0.5)
    f_x, f_y = 2 * 1 * 0.5 / 1.5, 0.5
    assert result["f1"] == pytest.approx((f_x + f_y) / 2)


def test_confusion_with_no_parse_column():
    assert confusion([1, 2, 2, 3], [1, 3, None, 3], [1, 2, 3]).tolist() == [[1, 0, 0, 0], [0, 0, 1, 1], [0, 0, 1, 0]]


def test_triage_metrics_by_hand():
    gold = [1, 1, 2, 3, 4, 5, 3, 2]
    pred = [1, 2, 4, 3, 3, None, 5, 2]
    m = triage_metrics(gold, pred)
    assert m["exact"] == 3 / 8  # cases 0, 3, 7
    assert m["adjacent"] == 5 / 8  # plus cases 1 (1->2) and 4 (4->3)
    assert m["under_triage"] == 3 / 8  # 1->2, 2->4, 3->5
    assert m["critical_under_triage"] == 1 / 8  # an ESI 1-2 patient called 3-5: 2->4 (1->2 is not)
    assert m["over_triage"] == 1 / 8  # 4->3
    assert m["no_parse"] == 1 / 8


def test_quadratic_kappa_by_hand():
    assert quadratic_kappa([1, 2, 3, 4, 5], [1, 2, 3, 4, 5]) == pytest.approx(1.0)
    # kappa = 1 - observed / chance-expected weighted disagreement, computed by hand
    gold, pred = [1, 2, 3], [1, 3, 2]
    weights = lambda i, j: (i - j) ** 2 / 16  # noqa: E731  quadratic weights over 5 levels
    observed = sum(weights(g, p) for g, p in zip(gold, pred, strict=True)) / 3
    expected = sum(weights(g, p) for g in gold for p in pred) / 9
    assert quadratic_kappa(gold, pred) == pytest.approx(1 - observed / expected)
    assert quadratic_kappa([3, 3], [3, 3]) == 0.0  # undefined with one class: reported as 0


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.UndefinedMetricWarning")
@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), st.integers(1, 5)), min_size=2, max_size=40))
def test_quadratic_kappa_agrees_with_scikit_learn(pairs):
    gold, pred = [g for g, _ in pairs], [p for _, p in pairs]
    expected = cohen_kappa_score(gold, pred, labels=[1, 2, 3, 4, 5], weights="quadratic")
    if len(set(gold) | set(pred)) < 2 or np.isnan(expected):
        expected = 0.0
    assert quadratic_kappa(gold, pred) == pytest.approx(expected, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("ABCD"), st.sampled_from(["A", "B", "C", "D", None])), min_size=1,
                max_size=40))
def test_macro_prf_agrees_with_scikit_learn(pairs):
    gold, pred = [g for g, _ in pairs], [p for _, p in pairs]
    filled = ["no parse" if p is None else p for p in pred]
    expected = precision_recall_fscore_support(gold, filled, labels=list("ABCD"), average="macro", zero_division=0)
    got = macro_prf(gold, pred, "ABCD")
    assert [got["precision"], got["recall"], got["f1"]] == pytest.approx(list(expected[:3]), abs=1e-9)


def test_bleu_interval_from_counted_ngrams_matches_rescoring_each_resample():
    references = ["the troponin is raised", "chest x-ray shows consolidation", "no haemorrhage on CT",
                  "the pulse is irregular", "spirometry shows obstruction"]
    written = ["troponin is raised", "chest x-ray shows a consolidation", "a bleed on CT", "", "spirometry shows"]
    fast = bleu_ci(references, written, n_resamples=100, seed=2)
    slow = bootstrap_ci(bleu, references, written, n_resamples=100, seed=2)
    assert fast == pytest.approx(slow)
    assert fast[0] == pytest.approx(bleu(references, written)) and fast[1] < fast[0] < fast[2]


def test_one_bootstrap_for_many_metrics_matches_one_at_a_time():
    gold, pred = [1, 2, 2, 3, 4, 5, 1, 3, 2, 4], [1, 3, 2, 3, None, 4, 2, 3, 1, 4]
    together = bootstrap_cis(triage_metrics, gold, pred, n_resamples=200, seed=5)
    for key in ("exact", "under_triage", "kappa"):
        alone = bootstrap_ci(lambda g, p, key=key: triage_metrics(g, p)[key], gold, pred, n_resamples=200, seed=5)
        assert together[key] == pytest.approx(alone)


def test_bootstrap_interval_contains_estimate_and_narrows_with_n():
    small = bootstrap_ci(accuracy, [1] * 36, [1] * 27 + [0] * 9, seed=1)
    large = bootstrap_ci(accuracy, [1] * 360, [1] * 270 + [0] * 90, seed=1)
    assert small[0] == large[0] == 0.75
    assert small[1] < 0.75 < small[2] and large[1] < 0.75 < large[2]
    assert (large[2] - large[1]) < (small[2] - small[1]) / 2  # ~sqrt(10) narrower
    # the 36-case interval is about +-14 points: 1.96 * sqrt(0.75 * 0.25 / 36)
    assert (small[2] - small[1]) / 2 == pytest.approx(1.96 * math.sqrt(0.75 * 0.25 / 36), abs=0.03)
    assert bootstrap_ci(accuracy, [1] * 10, [1] * 10) == (1.0, 1.0, 1.0)
    assert mean_ci([0.2, 0.4])[0] == pytest.approx(0.3)


def test_reasoning_similarity():
    assert rouge_l(["a b c d"], ["a b c d"]) == [1.0]
    assert rouge_l(["a b c d"], ["x y z"]) == [0.0]
    close, far = embedding_cosine(["crushing chest pain with ST elevation"] * 2,
                                  ["chest pain and ST elevation", "a rash on both legs"])
    assert close > 0.6 > far
    assert np.isclose(embedding_cosine(["same text"], ["same text"])[0], 1.0, atol=1e-5)


def test_direct_style_metrics():
    assert same_diagnosis("Tuberculosis", "pulmonary tuberculosis.")
    assert not same_diagnosis("Tuberculosis", "Pneumonia") and not same_diagnosis("x", None)
    gold = ["Troponin I 0.9 ng/mL rising", "ST depression in V4-V6", "smoker"]
    assert evidence_coverage(gold, ["troponin I 0.9 ng/mL rising to 2.4", "ST depression in V4 to V6"]) == 2 / 3
    assert evidence_coverage(gold, []) == 0.0 and evidence_coverage([], ["x"]) == 0.0


# ---- intervals for proportions of cases ---------------------------------------------------------

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile


def wilson_by_formula(k: int, n: int) -> tuple[float, float]:
    """The Wilson score interval written out: the p where (k - n p)^2 = z^2 n p (1 - p)."""
    a = n + Z95**2
    b = -(2 * k + Z95**2)
    c = k * k / n
    root = math.sqrt(b * b - 4 * a * c)
    return (-b - root) / (2 * a), (-b + root) / (2 * a)


@pytest.mark.parametrize("k, n", [(0, 36), (18, 36), (36, 36), (1, 10), (7, 25), (0, 25), (120, 240), (3, 4)])
def test_wilson_interval_against_references(k, n):
    value, low, high = wilson_ci(k, n)
    assert value == k / n
    assert (low, high) == pytest.approx(wilson_by_formula(k, n), abs=1e-9)
    stats = pytest.importorskip("scipy.stats")
    reference = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert (low, high) == pytest.approx((reference.low, reference.high), abs=1e-9)


def test_wilson_interval_known_numbers():
    assert wilson_ci(0, 36)[2] == pytest.approx(Z95**2 / (36 + Z95**2)) == pytest.approx(0.0964, abs=1e-4)
    assert wilson_ci(18, 36)[1:] == pytest.approx((0.345, 0.655), abs=1e-3)
    assert wilson_ci(0, 0) == (0.0, 0.0, 1.0)  # nothing seen, nothing known
    assert wilson_ci(0, 36, level=0.99)[2] > wilson_ci(0, 36)[2] > wilson_ci(0, 36, level=0.8)[2]
    with pytest.raises(ValueError):
        wilson_ci(5, 4)


def test_the_bootstrap_collapses_where_wilson_does_not():
    # why proportions moved to Wilson: no miss in 36 cases is not a certain 0
    assert bootstrap_ci(accuracy, [1] * 36, [0] * 36) == (0.0, 0.0, 0.0)
    assert wilson_ci(0, 36)[2] > 0.09 and wilson_ci(36, 36)[1] < 0.91


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 2000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_never_collapses_and_holds_its_estimate(pair):
    k, n = pair
    value, low, high = wilson_ci(k, n)
    assert 0.0 <= low <= value <= high <= 1.0 and low < high
    if k == 0:
        assert low == 0.0 and high == pytest.approx(Z95**2 / (n + Z95**2))
    if k == n:
        assert high == 1.0 and low == pytest.approx(n / (n + Z95**2))


def test_rule_of_three():
    assert rule_of_three(25) == 0.12
    assert rule_of_three(36) == pytest.approx(1 / 12)
    assert rule_of_three(300) == pytest.approx(-math.log(0.05) / 300, rel=0.01)  # 3/n approximates the exact bound
    assert rule_of_three(2) == rule_of_three(0) == 1.0


def test_majority_label_and_its_ties():
    assert majority_label(["UA", "UNA", "UNA", "MBA"]) == "UNA"
    assert majority_label([3, 1, 3, 1, 2]) == 1  # a tie goes to the first in sorted order
    rng = np.random.default_rng(0)
    labels = ["B", "A", "B", "A", "C", "C"]
    assert {majority_label(list(rng.permutation(labels))) for _ in range(20)} == {"A"}  # whatever the order
    with pytest.raises(ValueError):
        majority_label([])


def test_each_distinct_text_is_encoded_once_and_remembered(monkeypatch):
    import medlab.metrics as metrics

    encoded = []

    class CountingEmbedder:
        def encode(self, texts, **_):
            encoded.extend(texts)
            return np.array([[len(t), 1.0] for t in texts]) / np.hypot([len(t) for t in texts], 1.0)[:, None]

    monkeypatch.setattr(metrics, "embedder", CountingEmbedder)
    monkeypatch.setattr(metrics, "_EMBEDDED", {})
    gold = ["a long prompt"] * 4 + ["another prompt"] * 4  # a GRPO step: four replies to each prompt
    first = metrics.embedding_cosine(gold, ["x", "yy", "x", "zzz", "x", "yy", "w", "v"])
    assert sorted(encoded) == sorted(["a long prompt", "another prompt", "x", "yy", "zzz", "w", "v"])
    metrics.embedding_cosine(gold[:2], ["x", "new"])
    assert encoded.count("a long prompt") == 1 and encoded[-1] == "new"  # the next step re-encodes nothing old
    assert first[0] == first[2] and len(first) == 8
