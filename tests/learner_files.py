"""A learner's own data as the tests write it: a DiReCT folder in the release's layout, an
appropriateness table, and MIETIC's two files, with the quirks real copies have."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
COURSE_TABLE = Path(__file__).parent.parent / "data" / "appropriateness" / "train.csv"
CLINICAL_SENTENCE = "Patient reports intermittent productive cough with yellow sputum and night sweats. "
BENCHMARK_CASE = "Arrived intubated after a witnessed arrest; central line placed."  # a case of the sample fixture


def as_long_as_the_release(note: dict) -> dict:
    """A note near the release's longest (its notes come to 1,221-2,194 Llama 3 tokens with their
    chains): about 6,000 characters of sections and 5,000 of rationales, some 2,100 tokens."""
    def longer(tree):
        if not isinstance(tree, dict):
            return tree
        return {key.replace("$Cause", " " + CLINICAL_SENTENCE * 20 + "$Cause"): longer(child)
                for key, child in tree.items()}

    sections = {key: note[key] + " " + CLINICAL_SENTENCE * 23 for key in ("input2", "input5", "input6")}
    return {**longer(note), **sections}


def write_release_folder(folder: Path, notes: int = 12, long: bool = False) -> None:
    """A DiReCT folder laid out as the release and a learner's copy are: notes in category
    folders, JupyterLab's checkpoint copies beside them, a knowledge-graph file, a repeated note,
    and missing sections written as "None". `long`: notes as long as the release's."""
    note = json.loads((FIXTURES / "direct/tuberculosis_1.json").read_text())
    note = as_long_as_the_release(note) if long else note
    for i in range(notes):
        category = folder / ("Tuberculosis" if i % 2 else "Pneumonia")
        (category / ".ipynb_checkpoints").mkdir(parents=True, exist_ok=True)
        text = json.dumps({**note, "input1": f"cough for {i + 2} weeks", "input4": "None"})
        (category / f"note_{i}.json").write_text(text)
        (category / ".ipynb_checkpoints" / f"note_{i}-checkpoint.json").write_text(text)
    (folder / "Pneumonia" / "note_0_copy.json").write_text((folder / "Pneumonia" / "note_0.json").read_text())
    (folder / "diagnostic_kg").mkdir()
    (folder / "diagnostic_kg" / "Tuberculosis.json").write_text(json.dumps(
        {"diagnostic": {"Suspected TB": ["Tuberculosis"]}, "knowledge": {"Suspected TB": {"Risk Factors": "HIV"}}}))


def write_mietic_corpus(path: Path, per_level: int = 8) -> None:
    """MIETIC.csv's format: `per_level` cases of each level, and one case of the benchmark's."""
    rows = [("Assign the ESI level.", f"Case {level}-{k}: a {20 + k}-year-old with complaint {level}.",
             f"ESI level: {level}") for level in range(1, 6) for k in range(per_level)]
    rows.append(("Assign the ESI level.", f"A 64-year-old man. {BENCHMARK_CASE}", "ESI level: 1"))
    path.write_text("instruction,input,output\n" + "".join(f'{a},"{b}",{c}\n' for a, b, c in rows), encoding="utf-8")


def write_learner_data(folder: Path, long_notes: bool = False) -> dict[str, str]:
    """Every dataset a learner can bring, written below `folder`; the profile overrides that
    name them. The table is the course's first 80 rows, as a learner's own would be shaped."""
    write_release_folder(folder / "direct", long=long_notes)
    table = folder / "my_table.csv"
    table.write_text("\n".join(COURSE_TABLE.read_text(encoding="utf-8").splitlines()[:81]) + "\n", encoding="utf-8")
    shutil.copy(FIXTURES / "mietic_sample.csv", folder / "mietic.csv")
    write_mietic_corpus(folder / "MIETIC.csv")
    return {"direct_dir": str(folder / "direct"), "appropriateness_csv": str(table),
            "mietic_sample": str(folder / "mietic.csv"), "mietic_corpus": str(folder / "MIETIC.csv")}


def printed(executed_notebook: Path) -> str:
    """Everything an executed notebook printed: where a test reads whose data it used."""
    executed = json.loads(Path(executed_notebook).read_text())
    return "".join("".join(out.get("text", "")) for cell in executed["cells"] for out in cell.get("outputs", []))
