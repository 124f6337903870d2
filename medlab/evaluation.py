"""One evaluation harness for every model the course produces.

A `Task` says how to ask (chat messages), what the right answer is, how to read the reply,
and which metrics apply. `evaluate` generates replies in batches, parses them, computes the
metrics with bootstrap 95% intervals, and saves replies and numbers under
`runs/<profile>/eval/`, where the evaluation notebook finds them.

Introduced in notebooks/02_baseline.ipynb.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from medlab import metrics, parsers, prompts
from medlab.data.appropriateness import CATEGORIES
from medlab.data.direct import to_target_text
from medlab.generation import Sampling, count_new_tokens, generate
from medlab.metrics import triage_metrics  # noqa: F401  (the course refers to it from here)
from medlab.profiles import Profile

LETTERS = ("A", "B", "C", "D")
HEADLINE = {"mcq": "accuracy", "imaging": "accuracy", "triage": "exact", "reasoning": "diagnosis_accuracy"}
ESI_LEVELS = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Task:
    name: str
    kind: str  # "mcq", "imaging", "triage" or "reasoning": decides metrics and format
    messages: Callable  # item -> chat messages without the answer
    gold: Callable  # item -> the right label
    parse: Callable  # (reply, item) -> label or None
    labels: tuple = ()
    reference: Callable | None = None  # item -> gold reasoning text, for reasoning metrics


_MEDQA = Task("medqa", "mcq", prompts.mcq_messages, lambda i: i.answer,
              lambda r, i: parsers.parse_mcq(r, i.options), LETTERS)
_IMAGING = Task("imaging", "imaging", prompts.imaging_messages, lambda i: i.appropriateness,
                lambda r, i: parsers.parse_appropriateness(r), CATEGORIES, lambda i: i.rationale)
TASKS = {
    "medqa": _MEDQA,
    "medmcqa": replace(_MEDQA, name="medmcqa"),  # same schema after loading, same answer format
    "imaging": _IMAGING,
    "imaging_citations": replace(_IMAGING, name="imaging_citations",
                                 messages=lambda i: prompts.imaging_messages(i, citations=True)),
    "triage": Task("triage", "triage", prompts.triage_messages, lambda r: r.level,
                   lambda r, i: parsers.parse_esi(r), ESI_LEVELS, lambda r: "\n".join(r.trail)),
    "reasoning": Task("reasoning", "reasoning", prompts.reasoning_messages, lambda n: n.final_diagnosis,
                      lambda r, i: parsers.parse_diagnosis(r), (), to_target_text),
}


# Reply budgets in new tokens, per profile and task kind. The pocket model writes the course's
# terse formats in its own 2,048-piece vocabulary; Llama reasons at length before it answers,
# and a reply cut off before its answer counts as a no-parse, which would inflate the baseline's
# errors. 1024 is the ESI system's budget, chosen so replies were not clipped.
TOKEN_BUDGETS = {
    "tiny": {"mcq": 24, "imaging": 160, "triage": 160, "reasoning": 320},
    "t4": {"mcq": 512, "imaging": 768, "triage": 1024, "reasoning": 1024},
    "full": {"mcq": 1024, "imaging": 1024, "triage": 1024, "reasoning": 1024},
}


def token_budget(task: Task, profile: Profile) -> int:
    """New tokens a reply to `task` may take under `profile`, never above its `max_new_tokens`.

    >>> from medlab.profiles import load_profile
    >>> token_budget(TASKS["triage"], load_profile("tiny")), token_budget(TASKS["triage"], load_profile("t4"))
    (160, 1024)
    """
    return min(TOKEN_BUDGETS[profile.name][task.kind], profile.max_new_tokens)


def format_ok(task: Task, reply: str) -> bool:
    """Did the reply keep the task's answer format (whether or not it is right)?"""
    if task.kind == "mcq":
        return bool(re.fullmatch(r"\s*answer\s*:[^\n]+", (reply or "").strip(), re.I))
    if task.kind in ("imaging", "triage"):
        return parsers.has_think_answer_format(reply)
    return bool(parsers.parse_diagnosis(reply)) and bool(re.search(r"step\s+1\s*:", reply or "", re.I)) \
        and bool(parsers.parse_evidence(reply))


@dataclass
class EvalResult:
    model: str
    task: str
    replies: list[str]
    gold: list
    pred: list
    metrics: dict[str, list[float]]  # name -> [value, low, high]
    extras: dict = field(default_factory=dict)  # confusion matrix, no-parse, tokens/s, ...

    def to_dict(self) -> dict:
        return {"model": self.model, "task": self.task, "metrics": self.metrics, "extras": self.extras,
                "examples": [{"reply": r, "gold": g, "pred": p}
                             for r, g, p in zip(self.replies, self.gold, self.pred, strict=True)]}

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        mode = "" if self.extras.get("enable_thinking", True) else "__nothink"
        path = folder / f"{self.model}__{self.task}{mode}.json"
        path.write_text(json.dumps(self.to_dict(), indent=1, default=str) + "\n")
        return path


def evaluate(model, tokenizer, task_name: str, items: list, profile: Profile, model_name: str,
             enable_thinking: bool = True, batch_size: int = 16, seed: int = 0) -> EvalResult:
    """Generate, parse and score `items` on one task; greedy decoding, so results are repeatable."""
    task = TASKS[task_name]
    sampling = Sampling(max_new_tokens=token_budget(task, profile), enable_thinking=enable_thinking)
    started = time.time()
    replies = generate(model, tokenizer, [task.messages(i) for i in items], sampling, batch_size,
                       desc=f"{model_name}: {task_name}")
    seconds = time.time() - started
    gold = [task.gold(i) for i in items]
    pred = [task.parse(r, i) for r, i in zip(replies, items, strict=True)]
    scores = score(task, items, replies, gold, pred, seed)
    extras = {"n": len(items), "seconds": round(seconds, 1), "enable_thinking": enable_thinking,
              "tokens_per_second": round(count_new_tokens(tokenizer, replies) / max(seconds, 1e-6), 1)}
    if task.labels:
        extras["labels"] = [str(label) for label in task.labels]
        extras["confusion"] = metrics.confusion(gold, pred, task.labels).tolist()
    return EvalResult(model_name, task_name, replies, gold, pred, scores, extras)


def thinking_modes(task_name: str) -> tuple[bool, ...]:
    """Triage is evaluated with thinking on and off, as the ESI system was; the rest with it on."""
    return (True, False) if task_name == "triage" else (True,)


def evaluate_tasks(model, tokenizer, model_name: str, eval_sets: dict[str, list], tasks, profile: Profile,
                   batch_size: int = 16, seed: int = 0) -> list[EvalResult]:
    """`evaluate` on each of `tasks`, in every thinking mode the task is judged in."""
    return [evaluate(model, tokenizer, task, eval_sets[task], profile, model_name, enable_thinking=thinking,
                     batch_size=batch_size, seed=seed)
            for task in tasks for thinking in thinking_modes(task)]


def score(task: Task, items: list, replies: list[str], gold: list, pred: list, seed: int = 0) -> dict:
    """Every metric of the task's kind, each as [value, low, high]."""
    def ci(metric) -> list[float]:
        return list(metrics.bootstrap_ci(metric, gold, pred, seed=seed))

    formats = [float(format_ok(task, r)) for r in replies]
    result = {"format_rate": list(metrics.mean_ci(formats, seed=seed)),
              "no_parse": [metrics.no_parse_rate(pred)] * 3}
    if task.kind in ("mcq", "imaging"):
        result["accuracy"] = ci(metrics.accuracy)
        result["macro_f1"] = ci(lambda g, p: metrics.macro_prf(g, p, task.labels)["f1"])
    if task.kind == "triage":
        triage = metrics.bootstrap_cis(metrics.triage_metrics, gold, pred, seed=seed)
        for key in ("exact", "adjacent", "under_triage", "critical_under_triage", "over_triage", "kappa"):
            result[key] = list(triage[key])
    if task.kind == "reasoning":
        result["diagnosis_accuracy"] = ci(
            lambda g, p: sum(metrics.same_diagnosis(a, b) for a, b in zip(g, p, strict=True)) / len(g))
        coverage = [metrics.evidence_coverage([e for s in item.steps for e in s.evidence],
                                              parsers.parse_evidence(reply))
                    for item, reply in zip(items, replies, strict=True)]
        result["evidence_coverage"] = list(metrics.mean_ci(coverage, seed=seed))
    if task.reference is not None:
        # Only where a gold reasoning exists: MIETIC-format files, for one, carry none.
        references = [task.reference(i) for i in items]
        pairs = [(ref, r) for ref, r in zip(references, replies, strict=True) if ref]
        if pairs:
            written = [r if task.kind == "reasoning" else (parsers.reasoning_span(r) or r) for _, r in pairs]
            result.update(reasoning_scores([ref for ref, _ in pairs], written, seed))
    return result


def reasoning_scores(references: list[str], written: list[str], seed: int = 0) -> dict:
    """ROUGE-L, BLEU and embedding cosine of written reasoning against the gold reasoning."""
    cosine = metrics.embedding_cosine(references, written)
    return {"rouge_l": list(metrics.mean_ci(metrics.rouge_l(references, written), seed=seed)),
            "bleu": list(metrics.bleu_ci(references, written, seed=seed)),
            "embedding_cosine": list(metrics.mean_ci(cosine, seed=seed))}


def load_results(folder: Path) -> list[dict]:
    """Every saved evaluation under `folder` (runs/<profile>/eval), as dictionaries."""
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*__*.json"))]


def results_table(results: list[dict]):
    """One row per (model, task): the headline metric with its interval, no-parse and format rates."""
    import pandas as pd

    rows = []
    for r in results:
        headline = HEADLINE[TASKS[r["task"]].kind]
        value, low, high = r["metrics"][headline]
        rows.append({"model": r["model"], "task": r["task"], "metric": headline, "value": round(value, 3),
                     "95% CI": f"[{low:.2f}, {high:.2f}]", "no_parse": round(r["metrics"]["no_parse"][0], 3),
                     "format_rate": round(r["metrics"]["format_rate"][0], 3), "n": r["extras"]["n"],
                     "thinking": r["extras"].get("enable_thinking", True)})
    return pd.DataFrame(rows)


def heldout_summary(result: EvalResult) -> dict[str, float]:
    """`{"accuracy": ..., "format_rate": ...}`: what training notebooks record before and after,
    with the task's headline metric as the accuracy (exact level for triage, diagnosis for notes)."""
    headline = HEADLINE[TASKS[result.task].kind]
    return {"accuracy": round(result.metrics[headline][0], 4),
            "format_rate": round(result.metrics["format_rate"][0], 4)}
