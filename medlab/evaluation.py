"""One evaluation harness for every model the course produces.

A `Task` says how to ask (chat messages), what the right answer is, how to read the reply,
what keeps the answer format, and which metrics apply. `evaluate` generates replies in
batches, parses them, computes the metrics with bootstrap 95% intervals, and saves replies and
numbers under `runs/<profile>/eval/`, where the evaluation notebook finds them.

Introduced in notebooks/02_baseline.ipynb.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from medlab import metrics, parsers, prompts
from medlab.data.load.appropriateness import CATEGORIES
from medlab.data.load.direct import to_target_text
from medlab.data.load.mcq import LETTERS
from medlab.generation import Sampling, count_new_tokens, generate
from medlab.metrics import triage_metrics  # noqa: F401  (the course refers to it from here)
from medlab.profiles import Profile
from medlab.runlog import write_json

ESI_LEVELS = (1, 2, 3, 4, 5)


# ---- how each task is scored: its own metrics, each as [value, low, high] --------------------

def choice_scores(labels: tuple) -> Callable:
    """Accuracy and macro F1 over `labels`, for tasks with one label per item."""
    def scores(items, replies, gold, pred, seed):
        def ci(metric):
            return list(metrics.bootstrap_ci(metric, gold, pred, seed=seed))

        return {"accuracy": ci(metrics.accuracy),
                "macro_f1": ci(lambda g, p: metrics.macro_prf(g, p, labels)["f1"])}
    return scores


def triage_scores(items, replies, gold, pred, seed) -> dict:
    """Exact and adjacent accuracy, under-, critical under- and over-triage, quadratic kappa."""
    triage = metrics.bootstrap_cis(metrics.triage_metrics, gold, pred, seed=seed)
    return {key: list(triage[key]) for key in
            ("exact", "adjacent", "under_triage", "critical_under_triage", "over_triage", "kappa")}


def diagnosis_scores(items, replies, gold, pred, seed) -> dict:
    """DiReCT-style diagnosis accuracy, and the share of the gold evidence the chain cites."""
    coverage = [metrics.evidence_coverage([e for s in item.steps for e in s.evidence], parsers.parse_evidence(reply))
                for item, reply in zip(items, replies, strict=True)]
    same = lambda g, p: sum(metrics.same_diagnosis(a, b) for a, b in zip(g, p, strict=True)) / len(g)  # noqa: E731
    return {"diagnosis_accuracy": list(metrics.bootstrap_ci(same, gold, pred, seed=seed)),
            "evidence_coverage": list(metrics.mean_ci(coverage, seed=seed))}


# ---- what counts as keeping the answer format ---------------------------------------------------

def answer_line_format(reply: str) -> bool:
    """Exactly one `Answer: ...` line, as the MCQ prompt asks."""
    return bool(re.fullmatch(r"\s*answer\s*:[^\n]+", (reply or "").strip(), re.I))


def chain_format(reply: str) -> bool:
    """A `FINAL DIAGNOSIS`, a `Step 1:` and at least one `Supporting evidence` line."""
    return bool(parsers.parse_diagnosis(reply)) and bool(re.search(r"step\s+1\s*:", reply or "", re.I)) \
        and bool(parsers.parse_evidence(reply))


def reasoning_or_reply(reply: str) -> str:
    """The `<think>` part of a reply, or all of it when there is none."""
    return parsers.reasoning_span(reply) or reply


@dataclass(frozen=True)
class Task:
    """One evaluation task: how to ask, what is right, how to read and score a reply.

    Notebooks never switch on a task's name: what differs between tasks is a field here.
    """

    name: str
    messages: Callable  # item -> chat messages without the answer
    gold: Callable  # item -> the right label
    parse: Callable  # (reply, item) -> label or None
    format_ok: Callable  # reply -> did it keep the task's answer format (right or not)?
    scores: Callable  # (items, replies, gold, pred, seed) -> the task's own metrics
    headline: str  # the metric tables and before/after checks report
    # New tokens a reply may take, per profile. The pocket model writes the course's terse
    # formats in its 2,048-piece vocabulary; Llama reasons at length before it answers, and a
    # reply cut off before its answer is a no-parse. 1024 is the ESI system's budget.
    budgets: dict
    base: str = "small_model"  # the profile field naming this task's base model
    labels: tuple = ()
    reference: Callable | None = None  # item -> gold reasoning text, for reasoning metrics
    reasoning_of: Callable = reasoning_or_reply  # reply -> the part compared with the reference


_MEDQA = Task("medqa", prompts.mcq_messages, lambda i: i.answer, lambda r, i: parsers.parse_mcq(r, i.options),
              answer_line_format, choice_scores(tuple(LETTERS)), "accuracy",
              {"tiny": 24, "t4": 512, "full": 1024}, base="large_model", labels=tuple(LETTERS))
_IMAGING = Task("imaging", prompts.imaging_messages, lambda i: i.appropriateness,
                lambda r, i: parsers.parse_appropriateness(r), parsers.has_think_answer_format,
                choice_scores(CATEGORIES), "accuracy", {"tiny": 224, "t4": 768, "full": 1024},
                labels=CATEGORIES, reference=lambda i: i.rationale)
TASKS = {
    "medqa": _MEDQA,
    "medmcqa": replace(_MEDQA, name="medmcqa"),  # same schema after loading, same answer format
    "imaging": _IMAGING,
    "imaging_citations": replace(_IMAGING, name="imaging_citations",
                                 messages=lambda i: prompts.imaging_messages(i, citations=True)),
    "triage": Task("triage", prompts.triage_messages, lambda r: r.level, lambda r, i: parsers.parse_esi(r),
                   parsers.has_think_answer_format, triage_scores, "exact", {"tiny": 160, "t4": 1024, "full": 1024},
                   labels=ESI_LEVELS, reference=lambda r: "\n".join(r.trail)),
    "reasoning": Task("reasoning", prompts.reasoning_messages, lambda n: n.final_diagnosis,
                      lambda r, i: parsers.parse_diagnosis(r), chain_format, diagnosis_scores, "diagnosis_accuracy",
                      {"tiny": 320, "t4": 1024, "full": 1024}, reference=to_target_text,
                      reasoning_of=lambda reply: reply),  # the whole chain is the reasoning
}


def base_model(task_name: str, profile: Profile) -> str:
    """The model id a task's base (and its adapters) use: MedQA and MedMCQA follow the MedLLM
    recipe on the larger model, the other tasks use the smaller one.

    >>> from medlab.profiles import load_profile
    >>> base_model("medqa", load_profile("t4")), base_model("triage", load_profile("t4"))
    ('meta-llama/Llama-3.1-8B-Instruct', 'meta-llama/Llama-3.2-3B-Instruct')
    """
    return getattr(profile, TASKS[task_name].base)


def tasks_by_base(task_names, profile: Profile) -> dict[str, list[str]]:
    """`task_names` grouped by base model id, so each base is loaded once (on `tiny` all share one)."""
    plan: dict[str, list[str]] = {}
    for name in task_names:
        plan.setdefault(base_model(name, profile), []).append(name)
    return plan


def token_budget(task: Task, profile: Profile) -> int:
    """New tokens a reply to `task` may take under `profile`, never above its `max_new_tokens`.

    >>> from medlab.profiles import load_profile
    >>> token_budget(TASKS["triage"], load_profile("tiny")), token_budget(TASKS["triage"], load_profile("t4"))
    (160, 1024)
    """
    return min(task.budgets[profile.name], profile.max_new_tokens)


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
        mode = "" if self.extras.get("enable_thinking", True) else "__nothink"
        return write_json(folder / f"{self.model}__{self.task}{mode}.json", self.to_dict(), indent=1)


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


def sampled_rewards(model, tokenizer, conversations: list[list[dict]], reward_fn, columns: dict[str, list],
                    sampling: Sampling, samples: int = 4, seed: int = 0, batch_size: int = 256) -> list:
    """`reward_fn`'s score of `samples` sampled replies to each conversation, each conversation's
    replies side by side: what an RL run will see, measured before and after it.

    Greedy accuracy can look finished while sampled replies, the only thing RL learns from, are
    malformed. The seed is fixed and the global random state left untouched, so "before" and
    "after" draw the same random numbers.
    """
    repeated = [c for c in conversations for _ in range(samples)]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        replies = generate(model, tokenizer, repeated, sampling, batch_size, desc="sampling")
    return reward_fn(completions=replies, **{name: [v for v in values for _ in range(samples)]
                                             for name, values in columns.items()})


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
    """Format and no-parse rates, the task's own metrics, and reasoning metrics where a gold
    reasoning exists; each as [value, low, high] with a bootstrap 95% interval."""
    formats = [float(task.format_ok(r)) for r in replies]
    unparsed = [float(p is None) for p in pred]
    result = {"format_rate": list(metrics.mean_ci(formats, seed=seed)),
              "no_parse": list(metrics.mean_ci(unparsed, seed=seed)),
              **task.scores(items, replies, gold, pred, seed)}
    if task.reference is not None:
        # Only where a gold reasoning exists: MIETIC-format files, for one, carry none.
        pairs = [(task.reference(i), r) for i, r in zip(items, replies, strict=True)]
        pairs = [(ref, r) for ref, r in pairs if ref]
        if pairs:
            result.update(reasoning_scores([ref for ref, _ in pairs], [task.reasoning_of(r) for _, r in pairs], seed))
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
        headline = TASKS[r["task"]].headline
        value, low, high = r["metrics"][headline]
        rows.append({"model": r["model"], "task": r["task"], "metric": headline, "value": round(value, 3),
                     "95% CI": f"[{low:.2f}, {high:.2f}]", "no_parse": round(r["metrics"]["no_parse"][0], 3),
                     "format_rate": round(r["metrics"]["format_rate"][0], 3), "n": r["extras"]["n"],
                     "thinking": r["extras"].get("enable_thinking", True)})
    return pd.DataFrame(rows)


def rose_beyond_interval(before: EvalResult, after: EvalResult, metric: str) -> bool:
    """Did `metric` rise beyond chance variation: the lower end of its interval after training
    above the upper end before? One lucky answer cannot pass this; `after > before` at 0 can."""
    return after.metrics[metric][1] > before.metrics[metric][2]


def heldout_summary(result: EvalResult) -> dict[str, float]:
    """`{"accuracy": ..., "format_rate": ...}`: what training notebooks record before and after,
    with the task's headline metric as the accuracy (exact level for triage, diagnosis for notes)."""
    headline = TASKS[result.task].headline
    return {"accuracy": round(result.metrics[headline][0], 4),
            "format_rate": round(result.metrics["format_rate"][0], 4)}
