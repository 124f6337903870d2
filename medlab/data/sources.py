"""Where each task's data comes from under a profile, as train/validation/test splits.

A profile whose `data_source` is "course" (`tiny`) reads the course's files in `data/`; the
others read MedQA and MedMCQA from the hub, and DiReCT, MIETIC or an appropriateness table from a local path the
learner gives. Either way the rows pass through the same loaders and validation.

Introduced in notebooks/01_data.ipynb.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from medlab.data.errors import SkipReport
from medlab.data.load import appropriateness, direct, mcq, triage
from medlab.data.splits import drop_overlap, normalize, split_holdout, split_three_ways
from medlab.profiles import Profile
from medlab.runlog import course_root


def data_dir() -> Path:
    """The course's own data files, in the checkout (not under `MEDLAB_HOME`)."""
    return course_root() / "data"


@dataclass
class Splits:
    """A task's splits, where they came from, and every row skipped on the way."""

    source: str
    train: list
    validation: list
    test: list
    reports: list[SkipReport] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)}


def splits(task: str, profile: Profile, seed: int = 0, path: str | Path | None = None) -> Splits:
    """Train, validation and test splits of `task`, one call for every task.

    `task` is "medqa", "medmcqa", "triage", "imaging" or "reasoning". `path` points to your own
    copy where a task has one (a DiReCT folder, an appropriateness CSV, a folder of triage
    cases); without it the profile's `data_source` decides: the course's files or the hub.
    No training item repeats a held-out one.
    """
    if task not in SPLITS:
        raise ValueError(f"unknown task {task!r}: choose from {', '.join(SPLITS)}")
    return SPLITS[task](profile, seed, path or learner_path(task, profile))


def learner_path(task: str, profile: Profile) -> str | None:
    """The learner's own copy of `task`'s data that the profile names, or None for the course's."""
    field_name = {"reasoning": "direct_dir", "imaging": "appropriateness_csv", "triage": "mietic_corpus"}.get(task)
    return (getattr(profile, field_name) or None) if field_name else None


PRIVATE_TASKS = {"reasoning": ("direct_dir",), "triage": ("mietic_corpus", "mietic_sample")}
"""The tasks whose text is credentialed where the profile names a learner's copy."""


def shown(text: str, profile: Profile, task: str) -> str:
    """`text` from `task`'s data (a note, a case, a reply that may quote them), or, where that data
    is a learner's credentialed copy (DiReCT, MIETIC), its length only: an executed notebook is
    easily shared, and the data use agreement allows no sharing of the data.

    >>> from medlab.profiles import load_profile
    >>> shown("Cough for 3 weeks.", load_profile("tiny"), "reasoning")
    'Cough for 3 weeks.'
    >>> shown("Cough for 3 weeks.", load_profile("tiny", direct_dir="."), "reasoning")
    '[18 characters of credentialed data, not shown]'
    """
    private = any(getattr(profile, key) for key in PRIVATE_TASKS.get(task, ()))
    return f"[{len(text)} characters of credentialed data, not shown]" if private else text


def data_used(profile: Profile) -> str:
    """One line per dataset a learner can bring: whose copy this run reads.

    >>> from medlab.profiles import load_profile
    >>> print(data_used(load_profile("tiny")))
    DiReCT notes: the course's (set direct_dir to use yours)
    appropriateness table: the course's (set appropriateness_csv to use yours)
    MIETIC sample (triage benchmark): the course's (set mietic_sample to use yours)
    MIETIC cases (triage training): the course's (set mietic_corpus to use yours)
    """
    named = {"DiReCT notes": "direct_dir", "appropriateness table": "appropriateness_csv",
             "MIETIC sample (triage benchmark)": "mietic_sample", "MIETIC cases (triage training)": "mietic_corpus"}
    return "\n".join(f"{label}: yours, {getattr(profile, key)}" if getattr(profile, key)
                     else f"{label}: the course's (set {key} to use yours)" for label, key in named.items())


# Per MCQ dataset: loader, hub id, and the (train, test) split names on the hub and on disk.
# MedMCQA's test split has no labels, so its validation split is the test set.
MCQ_SETS = {
    "medqa": (mcq.load_medqa, mcq.MEDQA_HUB_ID, ("train", "test")),
    "medmcqa": (mcq.load_medmcqa, mcq.MEDMCQA_HUB_ID, ("train", "validation")),
}


def _mcq(dataset: str, profile: Profile, seed: int, path: str | Path | None) -> Splits:
    """Train minus a 5% validation hold-out (the MedLLM recipe), and a test split."""
    load, hub_id, (train_name, test_name) = MCQ_SETS[dataset]
    if path or profile.data_source == "course":
        folder = Path(path) if path else data_dir() / "mcq" / dataset
        source = f"{folder} ({dataset} schema)" if path else f"course files data/mcq/{dataset} ({dataset} schema)"
        train_all, first = load(path=folder / f"{train_name}.jsonl")
        test, second = load(path=folder / f"{test_name}.jsonl")
    else:  # the real sets drop malformed rows, counted, as the MedLLM recipe does
        source = hub_id
        train_all, first = load(train_name, skip_malformed=True)
        test, second = load(test_name, skip_malformed=True)
    train, validation = split_holdout(train_all, 0.05, seed)
    train, overlap = without_held_out(train, [validation, test], lambda item: item.question, source)
    return Splits(source, train, validation, test, [first, second, overlap])


def _triage(profile: Profile, seed: int, path: str | Path | None) -> Splits:
    """ESI cases: the course's (with their decision trails), a folder of yours in the same
    JSON-lines schema, or a MIETIC file (`mietic_corpus`) split 80/10/10 by seed, less every case
    of the triage benchmark, which stays held out. MIETIC's cases carry no decision trail: a warm
    start trained on them writes an empty think block before its level."""
    if path is not None and Path(path).is_file():
        return _mietic_cases(profile, seed, Path(path))
    folder = Path(path) if path else data_dir() / "triage"
    parts = {split: triage.load_cases(folder / f"{split}.jsonl") for split in ("train", "validation", "test")}
    source = str(folder) if path else "course ESI cases data/triage"
    train, overlap = without_held_out(parts["train"], [parts["validation"], parts["test"]],
                                      lambda record: record.narrative, source)
    return Splits(source, train, parts["validation"], parts["test"], [overlap])


def _mietic_cases(profile: Profile, seed: int, path: Path) -> Splits:
    records, skipped = triage.load_mietic(path)
    benchmark = [case_text(case) for case in triage_benchmark(profile.mietic_sample)[0]]
    kept = [record for record in records if not in_benchmark(normalize(record.narrative), benchmark)]
    skipped.skip("benchmark cases, held out for evaluation", len(records) - len(kept))
    train, validation, test = split_three_ways(kept, seed)
    train, overlap = without_held_out(train, [validation, test], lambda record: record.narrative, str(path))
    return Splits(str(path), train, validation, test, [skipped, overlap])


def in_benchmark(said: str, benchmark: list[str]) -> bool:
    """Does a normalised case text hold one of the benchmark's cases?"""
    return any(case in said for case in benchmark)


def case_text(record) -> str:
    """A benchmark case's own words, normalised: its narrative before the vital signs the loader
    appends, the part MIETIC's full file repeats."""
    return normalize(record.narrative.rsplit(triage.VITALS_AFTER, 1)[0])


def _reasoning(profile: Profile, seed: int, path: str | Path | None) -> Splits:
    """The course's DiReCT-schema notes with their fixed splits, or your DiReCT folder split
    80/10/10 by seed."""
    if path is None:
        folder = data_dir() / "direct"
        fixed = json.loads((folder / "splits.json").read_text())
        parts = {split: [direct.read_note(folder / p) for p in paths] for split, paths in fixed.items()}
        return Splits("course notes data/direct (DiReCT schema)", parts["train"], parts["validation"],
                      parts["test"])
    notes, skipped = direct.read_notes(path)
    train, validation, test = split_three_ways(notes, seed)
    train, overlap = without_held_out(train, [validation, test], lambda note: note.text(), str(path))
    return Splits(str(path), train, validation, test, [skipped, overlap])


def _imaging(profile: Profile, seed: int, path: str | Path | None) -> Splits:
    """The course's appropriateness pairs, or your CSV split 80/10/10 by seed."""
    if path is None:
        folder = data_dir() / "appropriateness"
        parts = {split: appropriateness.load_appropriateness_csv(folder / f"{split}.csv")
                 for split in ("train", "validation", "test")}
        return Splits("course table data/appropriateness", parts["train"], parts["validation"], parts["test"])
    train, validation, test = split_three_ways(appropriateness.load_appropriateness_csv(path), seed)
    train, overlap = without_held_out(train, [validation, test], lambda item: item.key, str(path))
    return Splits(str(path), train, validation, test, [overlap])


SPLITS = {
    "medqa": lambda profile, seed, path: _mcq("medqa", profile, seed, path),
    "medmcqa": lambda profile, seed, path: _mcq("medmcqa", profile, seed, path),
    "triage": _triage,
    "imaging": _imaging,
    "reasoning": _reasoning,
}


def triage_benchmark(mietic_path: str | Path | None = None) -> tuple[list, SkipReport]:
    """The 36-case triage benchmark: MIETIC's retained cases when you give the path to its
    sample file, else the course's 36 cases written in the same file format."""
    return triage.load_mietic(mietic_path or data_dir() / "triage/mietic_format_36.csv")


def rule_probes() -> list[tuple[str, object]]:
    """The 36 triage rule probes as (rule, case): twelve cases for each rule the ESI system's
    error analysis found (a life-saving intervention placed, an open injury, severe pain)."""
    path = data_dir() / "triage/rule_probes.jsonl"
    rules = [json.loads(line)["rule"] for line in path.read_text().splitlines() if line.strip()]
    return list(zip(rules, triage.load_cases(path), strict=True))


def without_held_out(train: list, held_out: list[list], key, source: str) -> tuple[list, SkipReport]:
    """`train` minus anything a held-out split also holds, with the count reported."""
    kept, dropped = drop_overlap(train, held_out, key=key)
    report = SkipReport(f"{source} train")
    report.skip("repeats a held-out item", dropped)
    return kept, report


EVAL_TASKS = ("medqa", "medmcqa", "triage", "imaging", "imaging_citations", "reasoning")


def eval_sets(profile: Profile, seed: int = 0, tasks=EVAL_TASKS) -> dict[str, list]:
    """The held-out set of each of `tasks`, capped at the profile's `max_eval_examples`, from
    the data the profile names (`direct_dir`, `appropriateness_csv`, `mietic_sample`).

    Only the tasks asked for are loaded: MedMCQA alone is 182k training rows, read to hold
    its validation split apart. Triage uses the 36-case benchmark (MIETIC-36 when the profile
    names MIETIC's sample file), small on purpose: its confidence intervals show how little 36
    cases can settle.
    """
    builders = {
        "medqa": lambda: profile.cap_eval(splits("medqa", profile, seed).test),
        "medmcqa": lambda: profile.cap_eval(splits("medmcqa", profile, seed).test),
        "triage": lambda: profile.cap_eval(triage_benchmark(profile.mietic_sample)[0]),
        "imaging": lambda: profile.cap_eval(splits("imaging", profile, seed).test),
        "reasoning": lambda: profile.cap_eval(splits("reasoning", profile, seed).test),
    }
    same_items = {"imaging_citations": "imaging"}  # the same pairs, asked with evidence snippets
    unknown = sorted(set(tasks) - set(builders) - set(same_items))
    if unknown:
        raise ValueError(f"unknown evaluation task(s) {unknown}: choose from {', '.join(EVAL_TASKS)}")
    loaded: dict[str, list] = {}
    for task in tasks:
        source = same_items.get(task, task)
        if source not in loaded:
            loaded[source] = builders[source]()
        loaded[task] = loaded[source]
    return {task: loaded[task] for task in tasks}
