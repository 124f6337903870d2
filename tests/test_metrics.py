"""Every metric on cases computed by hand."""

import math

import numpy as np
import pytest

from medlab.metrics import (
    accuracy,
    bootstrap_ci,
    confusion,
    embedding_cosine,
    evidence_coverage,
    macro_prf,
    mean_ci,
    no_parse_rate,
    quadratic_kappa,
    rouge_l,
    same_diagnosis,
    triage_metrics,
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
    assert m["critical_under_triage"] == 2 / 8  # gold 1 or 2: 1->2, 2->4
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
