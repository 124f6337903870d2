"""Model cards for the course's adapters and GGUF files, written from what each run recorded.

Each system the course reproduces reached its users as an adapter with a model card: the base
model, the method, the training settings, the reward design, the training and evaluation
results, how to load it, its limits, and the data it came from. A learner who trains an
adapter here can publish it the same way (`medlab.publish`), and every figure in its card is
read from the run's own files, never typed:

- the adapter folder: `medlab_adapter.json` (what trained it, on what, for how many steps, with
  which settings) and `adapter_config.json` (PEFT's LoRA settings);
- the training log (`runs/<profile>/logs/<adapter>.json`), drawn as `training_curves.png`;
- 08's evaluations (`runs/<profile>/eval/<adapter>__<task>.json`, with 95% intervals);
- for a GGUF file, 09's export metrics (`runs/<profile>/metrics/09_export_chat.json`).

The Hub reads the YAML metadata (`ModelCardData`: base model, licence, tags, datasets and a
`model-index` of the evaluation results); `huggingface_hub` writes it. Written by notebook 08
for every adapter and by 09 for the GGUF files it exports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from medlab.adapters import META, AdapterInfo, adapters_dir, credentialed_training_data, read_adapter
from medlab.course import BY_NAME, CourseRun
from medlab.data.load.mcq import MEDMCQA_HUB_ID, MEDQA_HUB_ID
from medlab.data.sources import PRIVATE_TASKS
from medlab.profiles import CREDENTIALED, Profile, credentialed_data
from medlab.runlog import recorded_by, runs_dir

CARD = "README.md"  # where the Hub looks for a repository's card
CURVES = "training_curves.png"
NOT_FOR_CLINICAL_USE = ("**Not for clinical use.** Trained in a teaching course to show how fine-tuning works; "
                        "it is not a medical device, and its answers must not guide the care of a patient.")


@dataclass(frozen=True)
class DataSource:
    """A dataset a course task reads: how the card names and cites it."""

    name: str
    hub_id: str | None  # where learners load it from, if the Hub has it
    citation: str
    credentialed: bool = False  # under PhysioNet's data use agreement: never shared
    evaluated_on: str = "held-out cases"  # what 08's evaluation of the task asks


DATA = {
    "medqa": DataSource("MedQA (USMLE, 4 options)", MEDQA_HUB_ID,
                        "Jin et al., What Disease Does This Patient Have? A Large-Scale Open Domain Question "
                        "Answering Dataset from Medical Exams. Applied Sciences 11(14):6421, 2021."),
    "medmcqa": DataSource("MedMCQA", MEDMCQA_HUB_ID,
                          "Pal et al., MedMCQA: A Large-scale Multi-Subject Multi-Choice Dataset for Medical "
                          "domain Question Answering. CHIL 2022, PMLR 174."),
    "reasoning": DataSource("DiReCT (MIMIC-IV-Ext-DiReCT)", None,
                            "Wang et al., DiReCT: Diagnostic Reasoning for Clinical Notes via Large Language "
                            "Models. NeurIPS 2024 Datasets and Benchmarks (arXiv 2408.01933); PhysioNet.",
                            credentialed=True),
    "triage": DataSource("MIETIC (MIMIC-IV-Ext Triage Instruction Corpus)", None,
                         "MIMIC-IV-Ext Triage Instruction Corpus, PhysioNet; levels by the Emergency Severity "
                         "Index, version 4 (Gilboy et al., ESI Implementation Handbook, AHRQ).", credentialed=True,
                         evaluated_on="cases of the triage benchmark, none of them in training, most of them ESI 1-2"),
    "imaging": DataSource("an imaging appropriateness table (variant, procedure, category)", None,
                          "Categories as the ACR Appropriateness Criteria define them (American College of "
                          "Radiology); the course's own scenario table, written for it, not ACR's text."),
}
"""The data behind each task. On `tiny` (and wherever a task's data is the course's own) the card
says so: the course's synthetic files in these datasets' formats trained the adapter."""


def source_of(task: str) -> DataSource:
    """The data of an evaluation task (`imaging_citations` asks the imaging pairs with evidence).

    >>> source_of("imaging_citations").name == DATA["imaging"].name, source_of("medmcqa").hub_id
    (True, 'openlifescienceai/medmcqa')
    """
    return DATA[task.split("_")[0]]


TASK_OF_CREDENTIALED = {CREDENTIALED[field]: task for task, fields in PRIVATE_TASKS.items() for field in fields}
"""The task each credentialed dataset is the data of: {"DiReCT": "reasoning", "MIETIC": "triage"}."""


@dataclass(frozen=True)
class Recorded:
    """What a run recorded about one adapter, read from its files."""

    info: AdapterInfo
    lora: dict  # adapter_config.json
    credentialed: list[str]  # credentialed datasets it was trained on
    log: dict  # the training log, {} when none was kept
    results: list[dict]  # 08's evaluations of it, one per task (and thinking mode)
    profile: str  # the profile whose run folder holds it
    evaluated_credentialed: list[str]  # credentialed datasets 08 evaluated it on


def recorded(folder: Path, profile: Profile) -> Recorded:
    """The recorded facts of the adapter in `folder` (a folder of `runs/<profile>/adapters/`)."""
    info = read_adapter(folder)
    # the credentialed copies the profile named when it was saved, kept only where they are its data
    credentialed = [name for name in credentialed_training_data(folder)
                    if TASK_OF_CREDENTIALED.get(name) in trained_on(info)]
    from medlab.training import log_path

    log_file = log_path(profile, info.name)
    log = json.loads(log_file.read_text()) if log_file.exists() else {}
    evals = sorted((runs_dir(profile.name) / "eval").glob(f"{info.name}__*.json"))
    results = [json.loads(path.read_text()) for path in evals]
    return Recorded(info, json.loads((folder / "adapter_config.json").read_text()), credentialed, log,
                    results, profile.name, credentialed_evaluations(results, profile))


# ---- the metadata the Hub reads ----------------------------------------------------------------

def on_the_hub(model_id: str) -> bool:
    """Whether `model_id` names a Hub repository ("meta-llama/Llama-3.2-3B-Instruct"), not a
    folder or the course's pocket model.

    >>> on_the_hub("meta-llama/Llama-3.2-3B-Instruct"), on_the_hub("pocket"), on_the_hub("/tmp/model")
    (True, False, False)
    """
    return model_id.count("/") == 1 and not model_id.startswith((".", "/", "~")) and not Path(model_id).exists()


def licence(base_model: str) -> str:
    """The licence an adapter of `base_model` is published under: its base's (Meta's community
    licences for Llama 3.x, Apache-2.0 for Qwen2.5), or the course's MIT for the pocket model;
    "other" for a base the course does not know (say which in the card before publishing)."""
    for version in ("3.1", "3.2"):
        if f"Llama-{version}" in base_model:
            return f"llama{version}"
    if "Qwen2.5" in base_model:
        return "apache-2.0"
    return "mit" if base_model == "pocket" else "other"


def course_run_of(info: AdapterInfo) -> CourseRun | None:
    """The course's run of an adapter (an exercise's copy, `sft_mcq.low_lr`, is its run's); None
    for an adapter the course does not declare (a learner's own)."""
    return BY_NAME.get(info.name.split(".")[0])


def trained_on(info: AdapterInfo) -> list[str]:
    """The tasks whose data trained the adapter: its course run's task, else the tasks it is for."""
    run = course_run_of(info)
    return [run.task] if run else list(dict.fromkeys(task.split("_")[0] for task in info.tasks))


def named_data(task: str, profile: Profile, credentialed: list[str], hub_id: bool = False) -> str:
    """How a card names the data a task read (`credentialed`: the credentialed copies that were
    read): the learner's credentialed copy, the Hub's dataset (with its id where `hub_id`), the
    learner's own appropriateness table, or the course's synthetic files in that dataset's format
    (never the real dataset's name for the course's own files).

    >>> from medlab.profiles import load_profile
    >>> named_data("medqa", load_profile("tiny"), [])
    "the course's synthetic medqa data, in the format of MedQA (USMLE, 4 options)"
    >>> named_data("medqa", load_profile("t4"), ["MIETIC"], hub_id=True)  # MIETIC is triage's data
    'MedQA (USMLE, 4 options) (`GBaker/MedQA-USMLE-4-options`)'
    >>> named_data("triage", load_profile("t4"), ["MIETIC"])
    "MIETIC (MIMIC-IV-Ext Triage Instruction Corpus): the learner's own copy (credentialed, not shared)"
    """
    source, task = source_of(task), task.split("_")[0]
    if any(TASK_OF_CREDENTIALED.get(name) == task for name in credentialed):
        return f"{source.name}: the learner's own copy (credentialed, not shared)"
    if source.hub_id and profile.data_source == "hub":
        return f"{source.name} (`{source.hub_id}`)" if hub_id else source.name
    if task == "imaging" and profile.appropriateness_csv:
        return f"{source.name}: the learner's own"
    return f"the course's synthetic {task} data, in the format of {source.name}"


def data_of(task: str, record: Recorded, profile: Profile) -> str:
    """How the card names the data that trained the adapter on `task` (with its Hub id)."""
    return named_data(task, profile, record.credentialed, hub_id=True)


def credentialed_evaluations(results: list[dict], profile: Profile) -> list[str]:
    """The credentialed datasets 08 read when it evaluated these `results`' tasks: as 08 recorded
    them, or, while 08 runs (its record starts empty, and it writes the cards before it records),
    those its profile names."""
    recorded = recorded_by(profile.name, "08_evaluation")
    read = recorded["credentialed_data"] if "credentialed_data" in recorded else credentialed_data(profile)
    evaluated = {result["task"].split("_")[0] for result in results}
    return [name for name in read if TASK_OF_CREDENTIALED.get(name) in evaluated]


def evaluated_data(result: dict, record: Recorded, profile: Profile) -> str:
    """How the card names the data of one of 08's evaluations."""
    return named_data(result["task"], profile, record.evaluated_credentialed)


DIAGNOSTIC_METRICS = frozenset({"reasoned_anyway"})
"""Metrics that explain another (a low thinking-off format rate) and are no score: the Hub's
model-index, which ranks models by their values, would read a share of 1.0 as a perfect one.
The card's own table and limitations give them."""


def model_index(record: Recorded, profile: Profile) -> list:
    """The evaluation results as the Hub's `model-index` reads them: one entry per metric of each
    evaluation, its value (the interval is in the card's text)."""
    from huggingface_hub import EvalResult

    entries = []
    for result in record.results:
        source = source_of(result["task"])
        hub_id = source.hub_id if profile.data_source == "hub" else None  # else the course's own copy
        off = thinking_off(result)
        for metric, (value, _, _) in result["metrics"].items():
            if metric in DIAGNOSTIC_METRICS:
                continue
            entries.append(EvalResult(
                task_type="text-generation", dataset_type=hub_id or result["task"],
                dataset_name=evaluated_data(result, record, profile),
                dataset_config="thinking-off" if off else None,  # the Hub groups results by dataset and config
                metric_type=metric, metric_value=round(value, 4),
                metric_name=metric + (" (thinking off)" if off else "")))
    return entries


def thinking_off(result: dict) -> bool:
    """Whether an evaluation asked with thinking switched off (the triage cards report both modes)."""
    return result["extras"].get("enable_thinking") is False


def label(result: dict) -> str:
    """An evaluation's name in a card: its task, and the mode when thinking was off."""
    return result["task"] + (" (thinking off)" if thinking_off(result) else "")


def card_data(record: Recorded, profile: Profile):
    """The card's YAML metadata (`huggingface_hub.ModelCardData`)."""
    from huggingface_hub import ModelCardData

    info = record.info
    hub_data = [source_of(task).hub_id for task in trained_on(info)
                if source_of(task).hub_id and profile.data_source == "hub"]
    return ModelCardData(
        model_name=info.name, library_name="peft", pipeline_tag="text-generation", license=licence(info.base_model),
        base_model=info.base_model if on_the_hub(info.base_model) else None, datasets=hub_data or None,
        tags=["medlab", "lora", info.method, *trained_on(info), "medical", "not-for-clinical-use"],
        eval_results=model_index(record, profile) or None)


# ---- the card's sections, in the order of the reproduced systems' cards -------------------------

def summary(record: Recorded, profile: Profile) -> str:
    info, run = record.info, course_run_of(record.info)
    if run is None:
        origin = "It is not one of the course's runs (`medlab.course.RUNS`), so the card cannot say what it reproduces."
    else:
        script = ", or its script in `scripts/`" if run.scripted else ""
        # a warm start or an ablation is a step of a reproduction, not the published system itself
        part = (f"one of the steps that reproduce {'; '.join(run.reproduces)}" if run.reproduces
                else "a comparison of the course's own, reproducing no published system")
        origin = f"It is the course's `{run.name}` run (notebook `{run.notebook}`{script}), {part}."
    compare = ("comparing it with the published system it reproduces" if run and run.reproduces
               else "comparing it with the course's other runs")
    start = f", continuing from the `{run.start}` adapter" if run and run.start else ""
    return "\n".join([
        f"# {info.name}",
        "",
        f"A LoRA adapter for `{info.base_model}`, trained by {info.method.upper()} on "
        f"{', '.join(data_of(task, record, profile) for task in trained_on(info))}{start}, "
        f"on the medlab course's `{profile.name}` profile. {origin}",
        "",
        f"Intended use: learning how fine-tuning for clinical reasoning works, and {compare}. "
        f"Tasks it is evaluated on: {', '.join(info.tasks)}.",
        "",
        NOT_FOR_CLINICAL_USE,
    ])


MEANING = {
    # LoRA and the run
    "lora": "the update's rank, its scale (alpha / rank) and the dropout on its input",
    "targets": "the layers of the base that LoRA adapts",
    "quantization": "how the base's weights were held while training (the adapter itself is not quantized)",
    # the trainers' settings (training.CARD_SETTINGS, and PPO's own)
    "learning_rate": "the optimiser's step size",
    "lr_scheduler_type": "how the learning rate changes over the run",
    "warmup_steps": "steps of rising learning rate at the start (a value below 1 is a share of the run)",
    "num_train_epochs": "passes over the training rows",
    "max_steps": "optimiser steps (decides the run's length where it is set)",
    "per_device_train_batch_size": "rows per forward pass on each device",
    "gradient_accumulation_steps": "forward passes summed into one optimiser step",
    "max_length": "the longest training row in tokens; longer ones are cut",
    "num_generations": "replies sampled for each prompt: the group GRPO compares",
    "max_completion_length": "the longest sampled reply in tokens",
    "max_new_tokens": "the longest sampled reply in tokens",
    "temperature": "sampling temperature (1: the model's own probabilities)",
    "min_p": "sampling leaves out tokens less likely than min_p times the likeliest one",
    "beta": "weight of the KL penalty that keeps the policy near its reference (0: none)",
    "kl_coef": "weight of the per-token KL penalty that keeps the policy near its reference",
    "loss_type": "how the tokens' losses are averaged (TRL's names)",
    "scale_rewards": "how GRPO scales a group's advantages (group: by the group's spread; none: not at all)",
    "reward_weights": "each reward's weight in the sum (None: every reward weighs 1)",
    "optim": "the optimiser",
    "fp16": "16-bit floating point (float16) for the computation",
    "bf16": "16-bit floating point (bfloat16) for the computation",
    "gradient_checkpointing": "activations recomputed in the backward pass, to save memory",
    "seed": "the random seed",
    "batch_size": "replies in one PPO rollout",
    "minibatch_size": "replies in one PPO update",
    "ppo_epochs": "passes over each rollout",
    "clip": "PPO's clip range for the ratio of new to old probabilities",
    "value_clip": "clip range for the value head's change per update",
    "value_coef": "weight of the value head's loss",
    "value_learning_rate": "the value head's step size",
    "max_grad_norm": "gradients are scaled down to at most this norm",
    "gamma": "discount of later rewards (1: none)",
    "lam": "GAE's lambda: 1 sums the rewards to the end, lower leans on the value head",
}
"""What each setting of a card's table means, for a reader who has not trained a model: every
trainer setting a card can list has a line (a test holds `training.CARD_SETTINGS` and PPO's
fields to it)."""


def settings_table(record: Recorded) -> str:
    """LoRA's settings, the trainer's (as recorded when it saved the adapter), and the machine,
    each with what it means."""
    lora = record.lora
    rows = [("base model", f"`{record.info.base_model}`", ""), ("method", record.info.method.upper(), ""),
            ("LoRA rank / alpha / dropout", f"{lora.get('r')} / {lora.get('lora_alpha')} / {lora.get('lora_dropout')}",
             MEANING["lora"]),
            ("LoRA target modules", ", ".join(sorted(lora.get("target_modules") or [])), MEANING["targets"]),
            *((name.replace("_", " "), value, MEANING.get(name, ""))
              for name, value in applied(record.info.training).items()),
            ("quantization while training", record.info.quantization or "not recorded", MEANING["quantization"]),
            ("hardware", record.info.hardware or "not recorded", "")]
    if not record.info.training:
        rows.append(("trainer settings", "not recorded (saved before adapters kept them)", ""))
    return table(("setting", "value", "what it means"), rows)


def applied(settings: dict) -> dict:
    """The trainer's settings that decided the run: `max_steps` where it is set, else the epochs.

    >>> applied({"num_train_epochs": 3, "max_steps": 8, "seed": 0}), applied({"num_train_epochs": 3, "max_steps": -1})
    ({'max_steps': 8, 'seed': 0}, {'num_train_epochs': 3})
    """
    steps_set = (settings.get("max_steps") or -1) > 0
    return {name: value for name, value in settings.items()
            if not (name == "max_steps" and not steps_set) and not (name == "num_train_epochs" and steps_set)}


def reward_design(record: Recorded) -> str:
    """Each reward of an RL run, its weight and what it pays; the triage rules' table."""
    from medlab import rewards

    run = course_run_of(record.info)
    if record.info.method == "sft":
        return "Supervised: the loss is the gold reply's cross-entropy, on the reply's tokens only."
    if run is None:
        return f"Not declared: `{record.info.name}` is not one of the course's runs (`medlab.course.RUNS`)."
    weights = run.weights or (1.0,) * len(run.rewards)
    rows = [(name, weight, first_paragraph(rewards.REWARDS.get(name) or rewards.make_judge_reward))
            for name, weight in zip(run.rewards, weights, strict=True)]
    text = table(("reward", "weight", "what it pays"), rows)
    if "triage" in run.rewards:
        text += "\n\n" + rule_table()
    return text


def first_paragraph(function) -> str:
    """The first paragraph of `function`'s docstring, on one line."""
    import inspect

    return " ".join(inspect.getdoc(function).split("\n\n")[0].split())


def rule_table() -> str:
    """The triage rules `rewards.rule_adjustment` pays for, with what triggers each."""
    from medlab import rewards

    bonus = rewards.RULE_BONUS
    life_saving, open_injury = rewards.LIFE_SAVING_TEXT.pattern, rewards.OPEN_INJURY_TEXT.pattern
    return table(("rule", "triggered by (in the case text)", "paid when followed, else"), [
        (rewards.LIFE_SAVING_RULE, f"`{life_saving}`, not negated", f"+{bonus} for ESI 1, -{bonus}"),
        (rewards.OPEN_INJURY_RULE, f"`{open_injury}`, not negated", f"+{bonus} for ESI 1-2, -{bonus}"),
        (rewards.SEVERE_PAIN_RULE, "pain of 7/10 or more, gold ESI 2", f"0 for ESI 1-2, -{bonus}")])


def training_results(record: Recorded, curves: str | None) -> str:
    """Steps (rollouts for PPO), time and machine, and where the logged loss and reward began and
    ended (the mean of the first and last quarter of the steps: one step's value is noise); with
    several rewards, each of them too (the weights are in the reward design)."""
    from medlab.training import quarter_means

    info = record.info
    unit = "PPO rollouts" if info.method == "ppo" else "optimiser steps"
    took = f"in {info.train_seconds:.0f} s" if info.train_seconds else "(time not recorded)"
    lines = [f"- {info.steps} {unit} {took} on {info.hardware or 'a machine not recorded'}"]
    # the reward the run trained on (its rewards, weighted), then each reward as logged: a weight of
    # 0 logs a reward without training on it (07's bonus run logs the plain reward for comparison)
    named = [(key.split("/")[1], key) for key in record.log if key.startswith("rewards/") and key.endswith("/mean")]
    shown = [("loss", "loss"), ("reward", "reward"), *((f"reward `{name}`", key) for name, key in named)]
    for what, key in (shown if len(named) > 1 else shown[:2]):
        values = [value for value in record.log.get(key) or [] if value is not None]
        if values:
            first, last = quarter_means(values)
            lines.append(f"- {what}: {first:.3f} over the first quarter of the steps, {last:.3f} over the last")
    if curves:
        lines.append(f"\n![training curves]({curves})")
    return "\n".join(lines)


def cases(result: dict) -> str:
    """The cases an evaluation asked: "36 cases of the triage benchmark (...)", "48 held-out cases"."""
    return f"{result['extras'].get('n', '?')} {source_of(result['task']).evaluated_on}"


def evaluation(record: Recorded, profile: Profile) -> str:
    """Every evaluation of the adapter: each metric with its 95% interval, and the majority policy's
    value beside it (the score of answering the most common gold label to everything)."""
    if not record.results:
        return "No evaluation was recorded: run notebook 08."
    parts = []
    for result in record.results:
        majority = result["extras"].get("majority") or {}
        rows = [(metric, f"{value:.3f}", f"[{low:.3f}, {high:.3f}]",
                 f"{majority[metric]:.3f}" if metric in majority else "")
                for metric, (value, low, high) in result["metrics"].items()]
        parts.append(f"**{label(result)}** ({cases(result)}; {evaluated_data(result, record, profile)})\n\n"
                     + table(("metric", "value", "95% interval", "majority policy"), rows))
    return "\n\n".join(parts)


def recorded_export(adapter: str, profile: str) -> dict | None:
    """What 09 recorded of its export (the parity table, each GGUF file against the transformers
    model, and what it asked them), if 09 exported `adapter`."""
    metrics = recorded_by(profile, "09_export_chat").get("metrics", {})
    return metrics if metrics.get("adapter") == adapter and metrics.get("parity") else None


def parity_table(parity: dict) -> str:
    columns = next(iter(parity.values())).keys()
    return table(("model", *columns), [(name, *row.values()) for name, row in parity.items()])


def smaller_files(record: Recorded) -> str:
    """How the adapter was made smaller: 09's GGUF files and how closely each answered as the
    transformers model did, when 09 exported this adapter."""
    export = recorded_export(record.info.name, record.profile)
    if not export:
        return "Not exported: notebook 09 writes GGUF files (f16, q8_0, q4_0) of the adapter it exports."
    return "Merged into its base and converted by llama.cpp (notebook 09). " + parity(export)


def parity(export: dict) -> str:
    """09's parity table with what it compares: the first held-out cases of the adapter's task,
    answered by each file and by the merged model in transformers."""
    asked = " ".join(str(part) for part in (export.get("parity_questions"), "held-out", export.get("parity_task"))
                     if part)
    return (f"Each file answered the first {asked} questions, as did the merged model in transformers (the first "
            f"row):\n\n{parity_table(export['parity'])}")


def limitations(record: Recorded, profile: Profile) -> str:
    """What the run's own numbers say the adapter cannot be trusted with."""
    from medlab.evaluation import TASKS

    base = "the pocket model" if record.info.base_model == "pocket" else f"`{record.info.base_model}`"
    lines = [f"- Trained on {base}, in a course: what it learned is the task's format and patterns, "
             "shown on held-out cases, not medical knowledge that anyone has checked."]
    for result in record.results:
        metrics, extras = result["metrics"], result["extras"]
        headline = TASKS[result["task"]].headline if result["task"] in TASKS else None
        value, low, high = metrics.get(headline, (0.0, 0.0, 0.0))
        if high - low > 0.1:
            lines.append(f"- {label(result)}: {headline} {value:.2f} on {cases(result)}, "
                         f"anywhere from {low:.2f} to {high:.2f} within its 95% interval.")
        against = against_majority(headline, metrics.get(headline), (extras.get("majority") or {}).get(headline))
        if against:
            lines.append(f"- {label(result)}: {against}")
        if result["task"] == "imaging_citations":
            lines.append(f"- {label(result)}: {EVIDENCE_GIVEN}" + ("" if profile.appropriateness_csv
                                                                   else " " + COURSE_EVIDENCE))
        if "critical_under_triage" in metrics:
            share, _, upper = metrics["critical_under_triage"]
            lines.append(f"- {label(result)}: in {share:.0%} of the cases (up to {upper:.0%} within the 95% "
                         f"interval) an ESI 1 or 2 patient was sent to wait, the triage error that harms"
                         f"{sent_to_wait(share, extras)}.")
        if metrics.get("reasoned_anyway", [0])[0] > 0 and extras.get("n"):
            lines.append(f"- {label(result)}: {reasoned_anyway_note(metrics, extras['n'])}")
        predicted = extras.get("labels_predicted")
        if predicted == 0:
            lines.append(f"- {label(result)}: no answer could be read from its replies.")
        elif predicted == 1:
            lines.append(f"- {label(result)}: gives one answer to every case; its scores come from that alone.")
    return "\n".join(lines)


EVIDENCE_GIVEN = ("the prompt gives the case's evidence line, so this score measures reading it; the `imaging` "
                  "evaluation, without it, measures judging the case.")
COURSE_EVIDENCE = ("In the course's own table each evidence wording belongs to one category, so a perfect score "
                   "here is a lookup.")


def against_majority(metric: str, scored: list | None, majority: float | None) -> str | None:
    """A limitation when the headline does not beat answering the most common label to every case.

    >>> against_majority("exact", [0.11, 0.04, 0.25], 0.39)
    "exact 0.11 is below the majority policy's 0.39 (the most common answer given to every case)."
    >>> against_majority("exact", [0.45, 0.30, 0.61], 0.39)
    "exact 0.45 does not beat the majority policy's 0.39 beyond its 95% interval [0.30, 0.61]."
    >>> against_majority("exact", [0.75, 0.58, 0.87], 0.39) is None
    True
    """
    if scored is None or majority is None:
        return None
    value, low, high = scored
    if high < majority:
        return (f"{metric} {value:.2f} is below the majority policy's {majority:.2f} "
                "(the most common answer given to every case).")
    if low <= majority:
        return (f"{metric} {value:.2f} does not beat the majority policy's {majority:.2f} beyond its 95% "
                f"interval [{low:.2f}, {high:.2f}].")
    return None


def reasoned_anyway_note(metrics: dict, n: int) -> str:
    """Why a thinking-off format rate can be low while answers are read: replies that reasoned
    after the pre-filled empty think block and closed a second one, which no well-formed reply does.

    >>> print(reasoned_anyway_note({"reasoned_anyway": [0.25, 0.1, 0.4], "format_rate": [0.5, 0.3, 0.7],
    ...                             "no_parse": [0.25, 0.1, 0.4]}, 36).split("; ")[1])
    answers were read from 27 of all 36 replies.
    """
    def count(metric: str) -> int:
        return round(metrics[metric][0] * n)

    return (f"{count('reasoned_anyway')} of {n} replies reasoned after the empty think block that thinking off "
            f"pre-fills and closed a second one, so none of those is well formed (format_rate "
            f"{metrics['format_rate'][0]:.2f}); answers were read from {n - count('no_parse')} of all {n} replies.")


def sent_to_wait(share: float, extras: dict) -> str:
    """The critical under-triage as counts: of all cases, and of the ESI 1-2 patients among them.

    >>> sent_to_wait(20 / 36, {"n": 36, "labels": ["1", "2", "3", "4", "5"],
    ...                        "confusion": [[0, 5, 6, 1, 2, 0], [0, 0, 5, 3, 3, 0], [0] * 6, [0] * 6, [0] * 6]})
    ': 20 of 36 cases, 20 of the 25 ESI 1-2 patients'
    """
    n = extras.get("n")
    if not n:
        return ""
    count = round(share * n)
    rows = dict(zip(extras.get("labels") or [], extras.get("confusion") or [], strict=False))
    urgent = sum(sum(rows[level]) for level in ("1", "2") if level in rows)
    return f": {count} of {n} cases" + (f", {count} of the {urgent} ESI 1-2 patients" if urgent else "")


def usage(record: Recorded, repo_id: str | None) -> str:
    """Code that loads the adapter: with PEFT onto its base from the Hub, or, for the course's
    pocket model (not on the Hub), with medlab."""
    info = record.info
    if on_the_hub(info.base_model):
        code = ["from peft import AutoPeftModelForCausalLM", "from transformers import AutoTokenizer", "",
                f'model = AutoPeftModelForCausalLM.from_pretrained("{repo_id or repo_placeholder(info.name)}")',
                f'tokenizer = AutoTokenizer.from_pretrained("{info.base_model}")']
    else:
        code = ["from medlab.adapters import load_with_adapter, saved_adapter",
                "from medlab.profiles import load_profile", "",
                f'profile = load_profile("{record.profile}")',
                f'model, tokenizer = load_with_adapter(saved_adapter(profile, "{info.name}"), profile)']
    return "\n".join(["```python", *code, "```"])


def repo_placeholder(name: str) -> str:
    """The repository id a card's usage code names until the learner chooses one.

    >>> repo_placeholder("grpo_triage_bonus")
    'YOUR_NAME/grpo-triage-bonus'
    """
    return f"YOUR_NAME/{name.replace('_', '-')}"


def citations(record: Recorded, profile: Profile) -> str:
    sources = dict.fromkeys(source_of(task) for task in [*trained_on(record.info),
                                                          *(result["task"] for result in record.results)])
    return "\n".join(f"- {source.name}: {source.citation}" for source in sources)


def table(header: tuple, rows) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    cells = [[str(cell).replace("|", "\\|") for cell in row] for row in rows]  # a | would end the cell
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


# ---- whole cards ---------------------------------------------------------------------------------

def adapter_card(folder: Path, profile: Profile, repo_id: str | None = None):
    """The model card (`huggingface_hub.ModelCard`) of the adapter in `folder`, from what its run
    recorded; the training curve is drawn into the folder beside it."""
    from huggingface_hub import ModelCard

    record = recorded(Path(folder), profile)
    curves = draw_curves(record, Path(folder))
    body = "\n\n".join([
        summary(record, profile),
        "## Training configuration\n\n" + settings_table(record),
        "## Reward design\n\n" + reward_design(record),
        "## Training results\n\n" + training_results(record, curves),
        "## Evaluation\n\n" + evaluation(record, profile),
        "## Smaller files (GGUF)\n\n" + smaller_files(record),
        "## How to use it\n\n" + usage(record, repo_id),
        "## Limitations\n\n" + limitations(record, profile),
        "## Data and citations\n\n" + citations(record, profile),
    ])
    return ModelCard(f"---\n{card_data(record, profile).to_yaml()}\n---\n\n{body}\n")


def draw_curves(record: Recorded, folder: Path) -> str | None:
    """The training log's loss and reward, drawn as `training_curves.png` in `folder`; its name, or
    None without a log."""
    import matplotlib.pyplot as plt

    from medlab.plots import training_curves

    keys = tuple(key for key in ("loss", "reward") if record.log.get(key))
    if not keys:
        return None
    fig = training_curves({record.info.name: record.log}, keys=keys)
    fig.savefig(folder / CURVES, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return CURVES


def write_card(folder: Path, profile: Profile) -> Path:
    """The card of the adapter in `folder`, written there as `README.md` (PEFT's empty template
    goes); its path."""
    path = Path(folder) / CARD
    adapter_card(folder, profile).save(path)
    return path


def write_cards(profile: Profile) -> list[Path]:
    """A card for every adapter of the profile's run."""
    return [write_card(meta.parent, profile) for meta in sorted(adapters_dir(profile).glob(f"*/{META}"))]


# ---- GGUF files ----------------------------------------------------------------------------------

def gguf_usage(file: str, context: int) -> str:
    """Python that answers one question with the GGUF file `file` through llama-cpp-python."""
    return "\n".join([
        "from llama_cpp import Llama",
        "",
        f'llm = Llama(model_path="{file}", n_ctx={context}, verbose=False)  # 0 would mean the trained context',
        'question = [{"role": "user", "content": "Which findings make chest pain an emergency?"}]',
        'reply = llm.create_chat_completion(messages=question, max_tokens=64)',
        'print(reply["choices"][0]["message"]["content"])',
    ])


def usable_context(path: Path) -> int:
    """The context the usage code asks for: the one `export.load_gguf` opens the file with."""
    from medlab.export import DEFAULT_CONTEXT, default_context, gguf_metadata

    try:
        return default_context(gguf_metadata(path))
    except (OSError, ValueError):  # no readable file (yet): the default, which load_gguf bounds anyway
        return DEFAULT_CONTEXT


def gguf_card(export_dir: Path, adapter: str, profile: Profile, kept: str):
    """The model card of the GGUF files 09 exported from `adapter` into `export_dir` (`kept`: the
    file it keeps, which the usage code runs): what each file is, how closely each answered as
    the transformers model did (09's recorded parity), and how to run one."""
    from huggingface_hub import ModelCard, ModelCardData

    info = read_adapter(adapters_dir(profile) / adapter)
    export = recorded_export(adapter, profile.name)
    if not export:
        raise FileNotFoundError(f"no parity of {adapter} recorded by notebook 09 in {runs_dir(profile.name)}: "
                                "run 09 for this adapter first")
    files = sorted(path.name for path in Path(export_dir).glob("*.gguf"))
    data = ModelCardData(model_name=f"{adapter}-gguf", license=licence(info.base_model),
                         base_model=info.base_model if on_the_hub(info.base_model) else None,
                         tags=["medlab", "gguf", "llama.cpp", info.method, "medical", "not-for-clinical-use"])
    body = "\n\n".join([
        f"# {adapter}, as GGUF files",
        f"The `{adapter}` adapter merged into `{info.base_model}` and converted with llama.cpp for CPUs and "
        f"small GPUs (notebook 09 of the medlab course, `{profile.name}` profile). Files here: "
        f"{', '.join(f'`{name}`' for name in files)}.",
        NOT_FOR_CLINICAL_USE,
        "## How it was made smaller\n\nf16 keeps the merged weights; q8_0 stores 8 bits per weight and q4_0 4 "
        "(both in blocks of 32 with a scale each). " + parity(export),
        "## How to use it\n\n```python\n" + gguf_usage(kept, usable_context(Path(export_dir) / kept))
        + f"\n```\n\nor chat in a terminal: `medlab-chat --model {kept}`",
        "## The adapter it came from\n\nSee the adapter's own card for its training and evaluation.",
    ])
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}\n")
