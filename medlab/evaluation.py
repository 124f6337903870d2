"""One evaluation harness for every model the course produces.

A `Task` says how to ask (chat messages), what the right answer is, how to read the reply,
what keeps the answer format, and which metrics apply. `evaluate` generates replies in
batches, parses them, computes the metrics with 95% intervals (Wilson for proportions of cases,
bootstrap for the rest: see `medlab.metrics`), and saves replies and numbers under
`runs/<profile>/eval/`, where the evaluation notebook finds them. Beside every result on a task
with labels stands the majority policy, the eval set's most common gold label answered to every
case: what a model that learned one answer would score (`medlab.checks` compares the two).

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
from medlab.pocket.chat import EMPTY_THINK_BLOCK
from medlab.profiles import Profile
from medlab.replies import keep_replies, kept_replies, replies_key, store
from medlab.report import labels_used
from medlab.runlog import write_json

ESI_LEVELS = (1, 2, 3, 4, 5)


# ---- how each task is scored: its own metrics, each as [value, low, high] --------------------

def rate(flags) -> list[float]:
    """[value, low, high] of the share of true `flags`: a proportion of cases, so a Wilson interval.

    >>> [round(x, 3) for x in rate([False] * 36)]
    [0.0, 0.0, 0.096]
    """
    flags = [bool(f) for f in flags]
    return list(metrics.wilson_ci(sum(flags), len(flags)))


def choice_scores(labels: tuple) -> Callable:
    """Accuracy (Wilson interval) and macro F1 over `labels` (bootstrap), for tasks with one label per item."""
    def scores(items, replies, gold, pred, seed):
        macro_f1 = metrics.bootstrap_ci(lambda g, p: metrics.macro_prf(g, p, labels)["f1"], gold, pred, seed=seed)
        return {"accuracy": rate(g == p for g, p in zip(gold, pred, strict=True)), "macro_f1": list(macro_f1)}
    return scores


TRIAGE_RATES = ("exact", "adjacent", "under_triage", "critical_under_triage", "over_triage")


def parsed_kappa(gold, pred) -> float:
    """Quadratic kappa over the parsed cases, as `triage_metrics` computes it."""
    pairs = [(g, p) for g, p in zip(gold, pred, strict=True) if p is not None]
    return metrics.quadratic_kappa([g for g, _ in pairs], [p for _, p in pairs])


def triage_scores(items, replies, gold, pred, seed) -> dict:
    """Exact and adjacent accuracy, under-, critical under- and over-triage, each a proportion of
    all cases with a Wilson interval (0 of 36 is [0, 0.10], not a certain 0), and quadratic kappa
    with a bootstrap interval."""
    n, values = len(gold), metrics.triage_metrics(gold, pred)
    rates = {key: list(metrics.wilson_ci(round(values[key] * n), n)) for key in TRIAGE_RATES}
    return {**rates, "kappa": list(metrics.bootstrap_ci(parsed_kappa, gold, pred, seed=seed))}


def diagnosis_scores(items, replies, gold, pred, seed) -> dict:
    """DiReCT-style diagnosis accuracy (Wilson interval), and the share of the gold evidence the
    chain cites (a mean of per-case shares: bootstrap interval)."""
    coverage = [metrics.evidence_coverage([e for s in item.steps for e in s.evidence], parsers.parse_evidence(reply))
                for item, reply in zip(items, replies, strict=True)]
    return {"diagnosis_accuracy": rate(metrics.same_diagnosis(g, p) for g, p in zip(gold, pred, strict=True)),
            "evidence_coverage": list(metrics.mean_ci(coverage, seed=seed))}


# ---- what counts as keeping the answer format ---------------------------------------------------

def answer_line_format(reply: str) -> bool:
    """Exactly one `Answer: ...` line, as the MCQ prompt asks (`parsers.answer_line`, which the
    MCQ reward reads too)."""
    return parsers.answer_line(reply) is not None


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
    reply_for: Callable | None = None  # label -> a well-formed reply answering it (constant policies)
    think_block: bool = False  # the format opens with a think block (which a thinking-off prompt supplies)


_MEDQA = Task("medqa", prompts.mcq_messages, lambda i: i.answer, lambda r, i: parsers.parse_mcq(r, i.options),
              answer_line_format, choice_scores(tuple(LETTERS)), "accuracy",
              {"tiny": 24, "t4": 512, "full": 1024}, base="large_model", labels=tuple(LETTERS),
              reply_for=lambda letter: f"Answer: {letter}")
_IMAGING = Task("imaging", prompts.imaging_messages, lambda i: i.appropriateness,
                lambda r, i: parsers.parse_appropriateness(r), parsers.has_think_answer_format,
                choice_scores(CATEGORIES), "accuracy", {"tiny": 224, "t4": 768, "full": 1024},
                labels=CATEGORIES, reference=lambda i: i.rationale, think_block=True,
                reply_for=lambda label: prompts.tagged("the same answer to every case", label))
TASKS = {
    "medqa": _MEDQA,
    "medmcqa": replace(_MEDQA, name="medmcqa"),  # same schema after loading, same answer format
    "imaging": _IMAGING,
    "imaging_citations": replace(_IMAGING, name="imaging_citations",
                                 messages=lambda i: prompts.imaging_messages(i, citations=True)),
    "triage": Task("triage", prompts.triage_messages, lambda r: r.level, lambda r, i: parsers.parse_esi(r),
                   parsers.has_think_answer_format, triage_scores, "exact", {"tiny": 160, "t4": 1024, "full": 1024},
                   labels=ESI_LEVELS, reference=lambda r: "\n".join(r.trail), think_block=True,
                   reply_for=lambda level: prompts.tagged("the same answer to every case", f"ESI {level}")),
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


def eval_batch_size(profile: Profile) -> int:
    """Prompts per generation batch in an evaluation: the profile's `eval_batch`, the same in
    every notebook (equal batches give the same greedy replies, which `medlab.replies` reads back)."""
    return profile.eval_batch


def evaluate(model, tokenizer, task_name: str, items: list, profile: Profile, model_name: str,
             enable_thinking: bool = True, batch_size: int | None = None, seed: int = 0,
             keep: bool = True) -> EvalResult:
    """Generate, parse and score `items` on one task; greedy decoding, so results are repeatable.

    With `keep`, the replies are kept under runs/<profile>/replies/, and a later evaluation of
    the same weights on the same prompts reads them back instead of generating them again
    (`medlab.replies`; the result's `extras["reused"]` says when they were written)."""
    task = TASKS[task_name]
    sampling = Sampling(max_new_tokens=token_budget(task, profile), enable_thinking=enable_thinking)
    batch_size = batch_size or eval_batch_size(profile)
    conversations = [task.messages(i) for i in items]
    key = replies_key(model, tokenizer, conversations, sampling, batch_size) if keep else None
    kept = kept_replies(store(profile.name), key) if keep else None
    if kept:
        replies, seconds = kept["replies"], kept["seconds"]
        print(f"{model_name}: {task_name}: {len(replies)} replies read back, written {kept['written']} "
              "by the same weights to the same prompts")
    else:
        started = time.time()
        replies = generate(model, tokenizer, conversations, sampling, batch_size, desc=f"{model_name}: {task_name}")
        seconds = time.time() - started
        if keep:
            keep_replies(store(profile.name), key, model_name, replies, seconds)
    result = evaluate_replies(task_name, items, replies, model_name, seed, thinking=enable_thinking)
    result.extras = {"n": len(items), "seconds": round(seconds, 1), "enable_thinking": enable_thinking,
                     "tokens_per_second": round(count_new_tokens(tokenizer, replies) / max(seconds, 1e-6), 1),
                     "reused": kept["written"] if kept else None, **result.extras}
    return result


def evaluate_replies(task_name: str, items: list, replies: list[str], model_name: str, seed: int = 0,
                     reasoning: bool = True, thinking: bool = True) -> EvalResult:
    """Parse and score replies already written, by a model or by a rule: `evaluate` without the
    generation. `reasoning=False` skips ROUGE-L, BLEU and cosine, which load an embedding model
    and mean nothing for replies a rule wrote. `thinking=False`: the replies were written after
    the empty think block a thinking-off prompt ends with, so the format is read with it.

    >>> from types import SimpleNamespace
    >>> items = [SimpleNamespace(level=level, trail=[]) for level in (1, 2, 2)]  # all `TASKS["triage"]` reads
    >>> result = evaluate_replies("triage", items, ["<think>x</think><answer>ESI 2</answer>"] * 3, "always 2")
    >>> round(result.metrics["exact"][0], 3), result.extras["majority"]["label"], result.extras["labels_predicted"]
    (0.667, 2, 1)
    """
    task = TASKS[task_name]
    gold = [task.gold(i) for i in items]
    pred = [task.parse(r, i) for r, i in zip(replies, items, strict=True)]
    extras = {"n": len(items)}
    if task.labels and gold:
        extras.update(label_extras(task, items, gold, pred, seed))
    return EvalResult(model_name, task_name, list(replies), gold, pred,
                      score(task, items, replies, gold, pred, seed, reasoning, thinking), extras)


def label_extras(task: Task, items: list, gold: list, pred: list, seed: int = 0) -> dict:
    """What a result on a task with labels carries beside its metrics.

    `confusion` (rows gold, columns predicted, then no-parse); `labels_predicted` and
    `labels_present`, the distinct labels parsed from the replies and found in `gold`; and
    `majority`: the label most common in `gold` with the task's own metrics (values only) for
    the policy answering it to every case. That policy is the strongest constant one on this
    set, so a model that collapsed to one answer scores no better than it.
    """
    label = metrics.majority_label(gold)
    constant_reply = task.reply_for(label) if task.reply_for else str(label)
    constant = task.scores(items, [constant_reply] * len(gold), gold, [label] * len(gold), seed)
    return {"labels": [str(x) for x in task.labels],
            "confusion": metrics.confusion(gold, pred, task.labels).tolist(),
            "majority": {"label": label, **{name: value for name, (value, _, _) in constant.items()}},
            "labels_predicted": len({p for p in pred if p is not None}),
            "labels_present": len(set(gold))}


def constant_policy(task_name: str, items: list, label=None, seed: int = 0) -> EvalResult:
    """The result of answering `label` to every item (the items' most common gold label when
    None), read and scored as a model's replies are: what a model that learned one answer scores.

    >>> from types import SimpleNamespace
    >>> result = constant_policy("imaging", [SimpleNamespace(appropriateness="Usually Appropriate")] * 2)
    >>> result.model, result.metrics["accuracy"][0], result.metrics["format_rate"][0]
    ('always Usually Appropriate', 1.0, 1.0)
    """
    task = TASKS[task_name]
    if task.reply_for is None:
        raise ValueError(f"task {task_name!r} has no labels to answer with")
    if label is None:
        label = metrics.majority_label([task.gold(i) for i in items])
    return evaluate_replies(task_name, items, [task.reply_for(label)] * len(items), f"always {label}", seed,
                            reasoning=False)


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
                   batch_size: int | None = None, seed: int = 0) -> list[EvalResult]:
    """`evaluate` on each of `tasks`, in every thinking mode the task is judged in."""
    return [evaluate(model, tokenizer, task, eval_sets[task], profile, model_name, enable_thinking=thinking,
                     batch_size=batch_size, seed=seed)
            for task in tasks for thinking in thinking_modes(task)]


def score(task: Task, items: list, replies: list[str], gold: list, pred: list, seed: int = 0,
          reasoning: bool = True, thinking: bool = True) -> dict:
    """Format and no-parse rates, the task's own metrics, and (with `reasoning`) reasoning
    metrics where a gold reasoning exists; each as [value, low, high] with a 95% interval:
    Wilson for proportions of cases, bootstrap for the rest."""
    # Thinking off, the prompt wrote the empty think block: the reply is read after it
    prefilled = task.think_block and not thinking
    written = [EMPTY_THINK_BLOCK + r for r in replies] if prefilled else replies
    result = {"format_rate": rate(task.format_ok(r) for r in written)}
    if prefilled:  # why a thinking-off format rate can read 0 with every answer read
        result["reasoned_anyway"] = rate(parsers.reasoned_anyway(r) for r in replies)
    result.update({"no_parse": rate(p is None for p in pred), **task.scores(items, replies, gold, pred, seed)})
    if reasoning and task.reference is not None:
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


def results_table(results: list[dict], metric: str | None = None):
    """One row per (model, task): the headline metric (or `metric`, where a result has it) with
    its interval, the majority policy's value of it, how many of the labels present were
    predicted ("1 of 3": one answer to everything), no-parse and format rates. Results saved
    before the majority policy was recorded show None in its columns."""
    import pandas as pd

    rows = []
    for r in results:
        headline = metric if metric in r["metrics"] else TASKS[r["task"]].headline
        extras = r["extras"]
        value, low, high = r["metrics"][headline]
        majority = (extras.get("majority") or {}).get(headline)
        counted = "labels_predicted" in extras and "labels_present" in extras
        rows.append({"model": r["model"], "task": r["task"], "metric": headline, "value": round(value, 3),
                     "95% CI": f"[{low:.2f}, {high:.2f}]",
                     "majority": None if majority is None else round(majority, 3),
                     "labels predicted": labels_used(extras) if counted else None,
                     "no_parse": round(r["metrics"]["no_parse"][0], 3),
                     "format_rate": round(r["metrics"]["format_rate"][0], 3), "n": extras["n"],
                     "thinking": extras.get("enable_thinking", True)})
    table = pd.DataFrame(rows)
    for column in ("majority", "labels predicted") if rows else ():  # None where a result lacks it, not NaN
        table[column] = pd.Series([row[column] for row in rows], dtype=object)
    return table


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


def discrimination(result: EvalResult, metric: str) -> dict:
    """What a run records to show a result is not one answer to everything: `metric` with its
    interval, the majority policy's value of it and its label, and the labels used."""
    majority = result.extras["majority"]
    return {metric: [round(x, 4) for x in result.metrics[metric]], "majority": round(majority[metric], 4),
            "majority_label": majority["label"], "labels_predicted": result.extras["labels_predicted"],
            "labels_present": result.extras["labels_present"]}
