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
(`medlab/data/tables/mcq_facts.json`): each question picks a patient of an age and sex the
fact's clues fit (each fact carries them: no eczema "in a child" for a 60-year-old), a setting,
one of the fact's clue sets and a question stem, then shuffles the right option with three of
its distractors. MedMCQA's `exp` explains the answer by quoting the clue set the stem used.
`medqa/` follows `{MEDQA_HUB_ID}` exactly (`question`, `answer`, `options` A-D,
`meta_info`, `answer_idx`); `medmcqa/` follows `{MEDMCQA_HUB_ID}` (`cop` 0-3 for a-d), and
like the real set its test split carries no labels (`cop = -1`). Train and test are drawn with
different seeds, so held-out questions are new phrasings and option orders of the same facts.
At load time the MedLLM recipe holds out 5% of train for validation, drops questions under
{MIN_QUESTION_WORDS} words and removes any train question that also appears in a held-out
split.

### Sources
The facts are textbook associations of the kind USMLE-style questions test. Where timing
matters the table follows current guidance: lumbar puncture after a normal CT for a thunderclap
headache is keyed only for a patient presenting 12 hours or more after onset (NICE NG228, 2022;
ACEP, 2019), which agrees with the course's imaging evidence that CT finds nearly every bleed
within six hours. A question tests one association at a time; it is not a full
management plan.""", counts)
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
Fahrenheit temperatures, pain "uta" when it cannot be assessed, blank vital signs when there
is no pulse), so the MIETIC loader runs on it exactly as on the real file.

Each case is written to hang together: vital signs, blood pressure, arrival (babies are
carried in, the critically ill come by ambulance) and pain assessment (self-rated from age 4,
otherwise "too young to rate pain") follow the patient's age; high-risk stories only go to
patients they fit (no chest pain suspicious for ACS before 35, no ectopic pregnancy in a
man); ESI 1 findings agree with the numbers (pulseless: no pulse or blood pressure; apneic: not
breathing; severe respiratory distress: fast breathing and SpO2 below 92%); a complaint of fever
comes with a temperature of 38 C or more. The expected resources follow the chief complaint,
from a table of the care a clinician expects for each (`RESOURCES_BY_COMPLAINT`: chest pain,
labs, an ECG and an x-ray; an ankle injury, an x-ray and a splint; a sore throat, a
point-of-care test and a tablet; a check of a healing scrape, nothing), with one or two
work-ups per complaint that agree on the count decision point C makes of them (none, one, or
two or more), so a complaint's care agrees with the level it is drawn for.
`tests/test_clinical_coherence.py` checks every row.

### Sources
- Emergency Severity Index (ESI) v4 Implementation Handbook: decision points A-D, the lists of
  life-saving interventions and of resources, danger-zone vital signs, the paediatric fever rules.
- The reproduced ESI GRPO system (seed model card): its three rule bonuses, which the rule
  probes test.
- Normal vital signs by age: common paediatric reference ranges, rounded.

### Where the course follows the reproduced system, not the handbook
- A chest tube or a central line in place makes a case ESI 1. The handbook counts neither
  vascular access nor an indwelling drain as a life-saving intervention: what is life-saving is
  the resuscitation they were placed for. The reproduced system's rule bonus treats them as
  ESI 1, so the course does too, and gives them only to patients who were resuscitated (shock
  or major trauma, with the vital signs that go with it).

### Simplifications, kept because they serve the course
- Pain of 7/10 or more always gives ESI 2; the handbook says to consider it.
- Danger-zone vital signs at decision point D always give ESI 2; the handbook says to consider
  up-triage to 2.
- The fever rules for infants and toddlers are applied automatically; the handbook says to
  consider them.
- Resource types that the handbook lists on one line (ECG and x-ray; CT, MRI, ultrasound and
  angiography; IV, IM and nebulised medication) are counted separately here.
- Blood pressure is recorded but, as in ESI v4, not used by the decision points.
- Expected care depends on the complaint alone, not on the patient's age or vital signs: a
  complaint has the same work-ups at every age it is drawn for.""", counts)
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
the relative radiation level, a gold rationale and its evidence (the "citations" context): the
condition's two snippets and one line of what studies of the scenario found for the
procedure, in one of three wordings per category (`FINDINGS` in
`medlab/data/generate/appropriateness.py`). The rationale reads that line and gives the verdict
it supports, two sentences and no more: on the pocket model, a longer rationale (the variant's
teaching point, what the procedure shows, the dose) drifted in its middle and lost the
evidence. The table keeps each variant's teaching point and what each procedure shows in
each condition for a learner to read. Splits are 80/10/10 by seed over unique pairs. The
ratings are the course's teaching judgement, not guidance for care. Your own table loads
from a CSV with the same columns through `load_appropriateness_csv`.

### Sources
- ACR Appropriateness Criteria, which the ratings and relative radiation levels are modelled
  on (the scenarios, ratings and wording are the course's own; check a topic's current version
  before relying on it): Headache (2019); Head Trauma; Head Trauma-Child;
  Cerebrovascular Diseases-Stroke and Stroke-Related Conditions; Low Back Pain; Suspected
  Pulmonary Embolism; Suspected Acute Aortic Syndrome; Chest Pain-Possible Acute Coronary
  Syndrome; Acute Respiratory Illness in Immunocompetent Patients; Pneumonia in the
  Immunocompetent Child; Right Lower Quadrant Pain; Right Upper Quadrant Pain; Acute
  Pancreatitis; Acute Onset Flank Pain-Suspicion of Stone Disease (Urolithiasis); Major Blunt
  Trauma; Acute Trauma to the Ankle; Chronic Knee Pain; Acute Trauma to the Knee; Shoulder
  Pain-Atraumatic; Shoulder Pain-Traumatic; Suspected Osteomyelitis of the Foot in Patients
  With Diabetes Mellitus; Suspected Lower Extremity Deep Vein Thrombosis; Syncope; Seizures
  and Epilepsy; Seizures-Child; Thyroid Disease; Palpable Breast Masses; Breast Cancer
  Screening; Hematuria; Microhematuria; Acute Onset of Scrotal Pain-Without Trauma, Without
  Antecedent Mass; Abnormal Uterine Bleeding; Fibroids; First Trimester Vaginal Bleeding;
  Acute Hip Pain-Fall From Standing; Chronic Hip Pain; Limping Child-Ages 0-5 Years;
  Suspected Spine Trauma; Lung Cancer Screening; Noninvasive Clinical Staging of Primary Lung
  Cancer; Dyspnea-Suspected Cardiac Origin (Ischemia Already Excluded).
- Pulmonary embolism in pregnancy: the American Thoracic Society / Society of Thoracic
  Radiology guideline (2011): chest radiograph first, then a perfusion scan when it is normal.
- Evidence snippets paraphrase published studies, among them PIOPED II (CT pulmonary
  angiography), the National Lung Screening Trial, the PECARN head-injury rules, the Ottawa
  ankle rules and the Canadian CT head and C-spine rules.

### Where the table departs from them on purpose
- Each condition condenses one to three topics into three variants and six procedures. Where
  a topic rates fewer procedures, clear negatives (skull radiographs, PET/CT in an emergency)
  fill the six, so every variant has wrong answers to reject.
- Some conditions join scenarios from different topics for contrast: "Breast lump" includes
  screening at average risk, "Hip pain" a fall with normal radiographs and a limping child,
  "Minor head trauma" adults and children.
- A rating is one number. The panels' "(Disagreement)" flag is not kept: CT angiography for a
  thunderclap headache is 5, May Be Appropriate, where ACR Headache (2019) rates it May Be
  Appropriate with disagreement. (A CSV of your own may carry the flag; the loader folds it
  into May Be Appropriate.)
- A test that a scenario says was already done and normal, or that has already answered its
  question, is rated 1-4 for that scenario. ACR's "next study" variants do not offer it again;
  the table keeps it as a procedure to reject. Two stay at 4, May Be Appropriate, because a
  repeat has a use: ankle radiographs six weeks after injury can show a healing fracture, and
  serial foot radiographs can show osteomyelitis when MRI cannot be had.
- Radiation levels are the adult levels, also in the child variants (ACR uses a separate
  paediatric scale with lower dose bands), and are set per procedure name, not per protocol:
  every white-cell scan is scored as indium-111 labelled (10-30 mSv), though technetium-99m
  labelled cells fall a band lower.""", counts)
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

Each note describes one patient who hangs together: history fits the patient's sex (no
gestational diabetes in a man); signs on one side agree (pneumonia on one side; a right
hemisphere stroke gives left-sided weakness and neglect); an upper gastrointestinal bleed has
one named source; a migraine with aura describes the aura and nausea, or light and noise
sensitivity; and every generated note reports a result that establishes its label where the
story cannot (an ejection fraction for HFrEF, a rising troponin for NSTEMI). The table marks
findings and results one patient cannot have together (`exclusive`), the results that establish
a diagnosis (`decisive`) and history only one sex can have (`history_by_sex`);
`tests/test_note_content.py` checks every note.

`splits.json` lists the paths of each split. Real DiReCT notes (PhysioNet, credentialed) load
from your own copy with the same reader.

### Sources
- Heart failure: ESC 2021 heart failure guidelines (HFrEF: symptoms or signs with an LVEF of
  40% or less; natriuretic peptides support the diagnosis).
- COPD: GOLD 2024 report (a post-bronchodilator FEV1/FVC below 0.7 confirms persistent airflow
  obstruction; an exacerbation is breathlessness and/or cough and sputum worsening over 14 days
  or less; bronchodilator reversibility does not separate COPD from asthma).
- Migraine with aura: ICHD-3 (fully reversible aura symptoms spreading over minutes, each
  lasting 5 to 60 minutes). Every note also gives the headache a feature of criterion D of
  migraine without aura (nausea or vomiting, or photophobia with phonophobia), which ICHD-3
  does not require for migraine with aura. No note images a stable headache pattern with a
  normal examination, in line with the course's imaging table.
- Diabetes: ADA Standards of Care, diagnosis and classification (HbA1c of 48 mmol/mol / 6.5%
  or more, fasting glucose of 7.0 mmol/L / 126 mg/dL or more; without unequivocal
  hyperglycaemia, two abnormal results confirm).
- Atrial fibrillation: ESC 2020 atrial fibrillation guidelines (an ECG or a recording of 30 s or
  more with no discernible P waves and irregularly irregular RR intervals confirms it).
- NSTEMI: Fourth Universal Definition of Myocardial Infarction (2018) and ESC 2023 acute
  coronary syndrome guidelines (a rise of troponin with symptoms of ischaemia).
- Pulmonary embolism: ESC 2019 acute pulmonary embolism guidelines (CT pulmonary angiography
  confirms it; a raised D-dimer is not specific).
- Multiple sclerosis: 2017 McDonald criteria (dissemination in space and time; CSF-specific
  oligoclonal bands can stand in for dissemination in time).
- Tuberculosis: WHO case definitions (smear, culture or a WHO-recommended rapid test confirms it).
- Pneumonia: ATS/IDSA 2019 community-acquired pneumonia guideline (new infiltrate with
  compatible symptoms).
- Stroke: clinical localisation (a cerebral hemisphere lesion gives weakness, neglect and
  hemianopia on the opposite side; a cerebellar lesion, ataxia on the same side) and AHA/ASA
  2019 acute ischaemic stroke guidelines (non-contrast CT excludes haemorrhage).
- Upper gastrointestinal bleeding: bleeding proximal to the ligament of Treitz.

### Simplifications
- A note shows the one or two criteria its reasoning needs, not the full checklist: attack
  counts and durations (ICHD-3), every McDonald item and every risk factor are often left out.
- Generated notes are simpler than real ones: stroke notes are all right hemisphere, pneumonia
  findings take one side, findings come from a short list and results are fixed values.
- Sex is drawn evenly, not by prevalence (migraine is commoner in women); it only decides
  which history a generated note may take.
- Units are SI (mmol/mol, mmol/L); the ADA states the same thresholds in % and mg/dL.
- The notes stop at the diagnosis: no treatment, and nothing here may guide care.""", counts)
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
