"""Write the course's own datasets, and a data card for each, into `data/`.

    python -m medlab.data.build            # rewrite data/ (the files are committed)

Every file is a pure function of the code and the seeds below, so a test rebuilds them into a
temporary folder and checks they match the committed copies byte for byte. The hand-written
DiReCT-schema notes in `data/direct/notes/` are the one input: only their split is written here.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from collections import Counter
from pathlib import Path

from medlab.data.generate import appropriateness, mcq, triage
from medlab.data.generate.notes import compose_note
from medlab.data.load.direct import read_note
from medlab.data.load.mcq import MEDMCQA_HUB_ID, MEDQA_HUB_ID, MIN_QUESTION_WORDS
from medlab.data.splits import normalize, split_holdout
from medlab.data.tables import DIAGNOSES, FACTS

SEEDS = {"medqa_train": 11, "medqa_test": 12, "medmcqa_train": 21, "medmcqa_validation": 22,
         "medmcqa_test": 23, "triage_train": 31, "triage_validation": 32, "triage_test": 33,
         "triage_probes": 34, "mietic_format": 35, "splits": 41, "direct_generated": 42}
SIZES = {"medqa_train": 800, "medqa_test": 150, "medmcqa_train": 400, "medmcqa_validation": 100,
         "medmcqa_test": 100, "triage_train": 800, "triage_validation": 100, "triage_test": 100,
         "direct_generated_per_diagnosis": 20}
LICENCE = "Synthetic, written for this course; MIT, like the course's code."


def write_jsonl(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def build_mcq(out: Path) -> dict[str, int]:
    files = {
        "medqa/train.jsonl": mcq.generate_medqa_rows(SIZES["medqa_train"], SEEDS["medqa_train"]),
        "medqa/test.jsonl": mcq.generate_medqa_rows(SIZES["medqa_test"], SEEDS["medqa_test"]),
        "medmcqa/train.jsonl": mcq.generate_medmcqa_rows(SIZES["medmcqa_train"], SEEDS["medmcqa_train"]),
        "medmcqa/validation.jsonl": mcq.generate_medmcqa_rows(SIZES["medmcqa_validation"],
                                                              SEEDS["medmcqa_validation"]),
        "medmcqa/test.jsonl": mcq.generate_medmcqa_rows(SIZES["medmcqa_test"], SEEDS["medmcqa_test"],
                                                        labelled=False),
    }
    for name, rows in files.items():
        write_jsonl(rows, out / name)
    counts = {name: len(rows) for name, rows in files.items()}
    write_card(out, "Multiple-choice medical QA (MedQA and MedMCQA schemas)", f"""
Questions written from a fact table of {len(FACTS)} clinical associations
(`medlab/data/tables/mcq_facts.json`): each question picks a patient, a setting, one of the fact's clue
sets and a question stem, then shuffles the right option with three of its distractors.
`medqa/` follows `{MEDQA_HUB_ID}` exactly (`question`, `answer`, `options` A-D,
`meta_info`, `answer_idx`); `medmcqa/` follows `{MEDMCQA_HUB_ID}` (`cop` 0-3 for a-d), and
like the real set its test split carries no labels (`cop = -1`). Train and test are drawn with
different seeds, so held-out questions are new phrasings and option orders of the same facts.
At load time the MedLLM recipe holds out 5% of train for validation, drops questions under
{MIN_QUESTION_WORDS} words and removes any train question that also appears in a held-out
split.""", counts)
    return counts


def build_triage(out: Path) -> dict[str, int]:
    files = {f"{split}.jsonl": triage.generate_cases(SIZES[f"triage_{split}"], SEEDS[f"triage_{split}"],
                                                     prefix=f"esi-{split}")
             for split in ("train", "validation", "test")}
    files["rule_probes.jsonl"] = triage.rule_probe_cases(SEEDS["triage_probes"])
    for name, rows in files.items():
        write_jsonl(rows, out / name)
    mietic_rows = triage.mietic_format_rows(SEEDS["mietic_format"])
    triage.write_mietic_sample(mietic_rows, out / "mietic_format_36.csv")
    counts = {name: len(rows) for name, rows in files.items()}
    counts["mietic_format_36.csv"] = len(mietic_rows)
    levels = Counter(row["level"] for row in files["train.jsonl"])
    write_card(out, "Emergency triage (ESI v4)", f"""
Structured cases sampled by `medlab.data.generate.triage.sample_case` (ages from neonates to the very
old, vital signs, pain, mental status, interventions, high-risk situations, expected
resources), each labelled by `medlab.data.esi.esi_level`, never by hand, and rendered into the
narrative the model reads plus the decision trail as gold reasoning. Train levels:
{dict(sorted(levels.items()))}. `rule_probes.jsonl` holds cases for the three rules the ESI
GRPO system was tuned on (placed intubation, chest tube or central line -> 1; open fracture or
penetrating trauma -> 2 or lower; pain >= 7 -> 2 or lower). `mietic_format_36.csv` has 36
retained cases with MIETIC-36's level mix (1: 14, 2: 11, 3: 5, 4: 4, 5: 2) plus 4 rows the
"experts" removed, written in MIETIC's sample-file schema with its quirks (a byte-order mark,
Fahrenheit temperatures, pain "uta" when it cannot be assessed), so the MIETIC loader runs on
it exactly as on the real file.""", counts)
    return counts


def build_appropriateness(out: Path) -> dict[str, int]:
    items = appropriateness.generate_pairs()
    train, held = split_holdout(items, 0.2, SEEDS["splits"])
    validation, test = split_holdout(held, 0.5, SEEDS["splits"])
    files = {"train.csv": train, "validation.csv": validation, "test.csv": test}
    for name, rows in files.items():
        appropriateness.write_csv(rows, out / name)
    counts = {name: len(rows) for name, rows in files.items()}
    labels = dict(Counter(i.appropriateness for i in items).most_common())
    write_card(out, "Imaging appropriateness", f"""
A table written for this course (`medlab/data/tables/imaging.json`): 30 conditions, each with
three clinical variants and six candidate procedures rated 1-9 per variant, so 540
variant/procedure pairs (the reproduced system used about 1,800 from published criteria, which
are copyrighted and not used here). Categories follow the rating: 7-9 Usually Appropriate,
4-6 May Be Appropriate, 1-3 Usually Not Appropriate; labels overall: {labels}. Each row has
the relative radiation level, a gold rationale and the condition's two evidence snippets (the
"citations" context). Splits are 80/10/10 by seed over unique pairs. The ratings are the
course's teaching judgement, not guidance for care. Your own table loads from a CSV with the
same columns through `load_appropriateness_csv`.""", counts)
    return counts


def generated_notes(per_diagnosis: int, seed: int) -> dict[str, dict]:
    """`per_diagnosis` distinct notes per row of the table, as {relative path: note JSON}."""
    rng = random.Random(seed)
    notes: dict[str, dict] = {}
    for row in DIAGNOSES:
        texts: set[str] = set()
        while len(texts) < per_diagnosis:
            note = compose_note(rng, row)
            text = json.dumps(note, sort_keys=True)
            if text not in texts:
                texts.add(text)
                slug = normalize(row.name).replace(" ", "_")
                notes[f"generated/{row.category}/{slug}_g{len(texts):02d}.json"] = note
    return notes


def build_direct(out: Path, notes_dir: Path) -> dict[str, int]:
    """Split the hand-written notes by diagnosis (two of each diagnosis's notes to train), write
    the generated notes, and split those 80/10/10 within each diagnosis."""
    by_diagnosis: dict[str, list[str]] = {}
    for path in sorted(notes_dir.rglob("*.json")):
        by_diagnosis.setdefault(read_note(path).final_diagnosis, []).append(
            "notes/" + path.relative_to(notes_dir).as_posix())
    splits = {"train": [], "validation": [], "test": []}
    for index, (_, paths) in enumerate(sorted(by_diagnosis.items())):
        train, held = split_holdout(paths, 1 / 3, SEEDS["splits"] + index)
        splits["train"] += train
        splits["validation" if index % 3 == 0 else "test"] += held
    hand_written = {split: len(paths) for split, paths in splits.items()}

    generated = generated_notes(SIZES["direct_generated_per_diagnosis"], SEEDS["direct_generated"])
    shutil.rmtree(out / "generated", ignore_errors=True)
    for relative, note in generated.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(note, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    per_diagnosis = SIZES["direct_generated_per_diagnosis"]
    paths = list(generated)  # grouped by diagnosis, per_diagnosis at a time
    train_end, validation_end = per_diagnosis * 8 // 10, per_diagnosis * 9 // 10
    for start in range(0, len(paths), per_diagnosis):
        group = paths[start:start + per_diagnosis]
        splits["train"] += group[:train_end]
        splits["validation"] += group[train_end:validation_end]
        splits["test"] += group[validation_end:]

    out.mkdir(parents=True, exist_ok=True)
    (out / "splits.json").write_text(json.dumps(splits, indent=2) + "\n")
    counts = {split: len(paths) for split, paths in splits.items()}
    write_card(out, "Diagnostic reasoning notes (DiReCT schema)", f"""
Clinical notes in the DiReCT schema across {len(by_diagnosis)} diagnoses
({", ".join(sorted(by_diagnosis))}), one JSON file per note: `input1`..`input6` (chief
complaint, history of present illness, past history, family history, examination, results) and
a `"<diagnosis>$Intermedia_<n>"` reasoning tree whose `$Cause` rationales point at `$Input<k>`
observations quoted word for word from section k, with a "Suspected ..." step before the final
diagnosis. The patients are invented. Two kinds:

- `notes/<category>/`: {sum(hand_written.values())} notes written by hand, varied in length and
  style. Two of each diagnosis's three notes are in train; the third is held out (validation or
  test): {hand_written}.
- `generated/<category>/`: {len(generated)} shorter notes composed from the table in
  `medlab/data/tables/diagnoses.json` (a story, one or two examination findings and one or two results
  per note, each with its rationale), {per_diagnosis} per diagnosis, split 80/10/10 within each
  diagnosis. They give the small course model enough examples to learn from; being written from
  one table, they are easier than the hand-written notes, so notebooks report the two apart.

`splits.json` lists the paths of each split. Real DiReCT notes (PhysioNet, credentialed) load
from your own copy with the same reader.""", counts)
    return counts


def write_card(folder: Path, title: str, how: str, counts: dict[str, int]) -> None:
    table = "\n".join(f"| `{name}` | {n} |" for name, n in counts.items())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "CARD.md").write_text(
        f"# Data card: {title}\n\n## What and how it was made\n{how.strip()}\n\n"
        f"## Counts\n| file | rows |\n|---|---|\n{table}\n\n## Licence\n{LICENCE} Nothing here is "
        "copied from a real dataset, and no real patient is described.\n\n"
        "*Written by `python -m medlab.data.build`; edit the generator, not this file.*\n")


def build(out: Path, notes_dir: Path) -> dict[str, dict[str, int]]:
    return {"mcq": build_mcq(out / "mcq"), "triage": build_triage(out / "triage"),
            "appropriateness": build_appropriateness(out / "appropriateness"),
            "direct": build_direct(out / "direct", notes_dir)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Write the course's datasets")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "data")
    args = parser.parse_args(argv)
    for task, counts in build(args.out, args.out / "direct" / "notes").items():
        print(f"{task:>16}: {counts}")


if __name__ == "__main__":
    main()
