"""Diagnostic reasoning notes in the DiReCT schema: the note type, its reader, its target text.

A DiReCT note is one JSON file. `input1`..`input6` hold the note's sections; one more key,
`"<final diagnosis>$Intermedia_<n>"`, holds the physicians' reasoning tree:

    {"NSTEMI$Intermedia_3": {
        "Troponin rise with chest pain means myocardial injury$Cause_1": {
            "troponin I 2.1 ng/mL$Input6": {}},
        "Suspected ACS$Intermedia_2": {
            "Pressure-like chest pain at rest is typical of ischaemia$Cause_1": {
                "chest pressure at rest for 2 hours$Input2": {}}}}}

`$Intermedia` nodes are diagnoses (the nested one is the step before), `$Cause` nodes are
rationales and `$Input<k>` nodes are observations taken from section k. `read_note` turns a
file into the final diagnosis and the reasoning steps in order, first suspicion first.

Introduced in notebooks/01_data.ipynb.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from medlab.data.errors import DataError, SkipReport, read_text

SECTIONS = {
    "input1": "Chief complaint", "input2": "History of present illness",
    "input3": "Past medical history", "input4": "Family history",
    "input5": "Physical examination", "input6": "Pertinent results",
}
NODE = re.compile(r"^(?P<text>.*)\$(?P<kind>Intermedia|Cause|Input)_?(?P<n>\d+)$", re.S)


@dataclass(frozen=True)
class ReasoningStep:
    diagnosis: str  # the diagnosis this step supports (a suspicion or the final one)
    rationale: str
    evidence: tuple[str, ...]  # the observations, as written in the note
    sections: tuple[str, ...]  # where each observation came from: "input1".."input6"


@dataclass(frozen=True)
class Note:
    path: str
    sections: dict[str, str]
    final_diagnosis: str
    steps: tuple[ReasoningStep, ...]

    def text(self) -> str:
        """The note as the model reads it: each non-empty section under its heading."""
        return "\n".join(f"{SECTIONS[key]}: {value}" for key, value in self.sections.items() if value)


def parse_key(key: str, path, field_name: str) -> tuple[str, str, int]:
    match = NODE.match(key)
    if not match:
        raise DataError(path, None, field_name, f"key {key[:60]!r} should end in $Intermedia_<n>, "
                        "$Cause_<n> or $Input<k>")
    return match["text"].strip(), match["kind"], int(match["n"])


def section_text(value) -> str:
    """A section's text; '' for one the release leaves out, which it writes as null or "None"
    (a prompt would otherwise read "Chief complaint: None")."""
    text = "" if value is None else str(value).strip()
    return "" if text == "None" else text


def read_json(path: Path):
    """A JSON file's value; bad JSON, or a file in another encoding, is a DataError with file and line."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise DataError(path, error.lineno, None, f"not valid JSON ({error.msg})") from None


def read_note(path: str | Path, data=None) -> Note:
    """One DiReCT JSON file as its sections, final diagnosis and ordered reasoning steps
    (`data`: the file's JSON, where the caller has read it already)."""
    path = Path(path)
    data = read_json(path) if data is None else data
    if not isinstance(data, dict):
        raise DataError(path, None, None, "a note is a JSON object with input1..input6 and a diagnosis key")
    sections = {key: section_text(data.get(key)) for key in SECTIONS}
    if not any(sections.values()):
        raise DataError(path, None, "input1", "empty note: input1..input6 are all missing or blank")
    roots = [key for key in data if key not in SECTIONS]
    if len(roots) != 1:
        raise DataError(path, None, None, f"expected one '<diagnosis>$Intermedia_<n>' key, found {roots}")
    diagnosis, kind, _ = parse_key(roots[0], path, roots[0])
    if kind != "Intermedia" or not diagnosis:
        raise DataError(path, None, roots[0], "the top-level key must be '<final diagnosis>$Intermedia_<n>'")
    steps = tuple(_steps(diagnosis, data[roots[0]], path))
    if not steps:
        raise DataError(path, None, roots[0], "the reasoning tree has no $Cause with an $Input")
    return Note(path=str(path), sections=sections, final_diagnosis=diagnosis, steps=steps)


def _steps(diagnosis: str, tree: dict, path) -> list[ReasoningStep]:
    """Steps of the suspicion nested below first, then the causes at this level, in file order."""
    earlier, here = [], []
    for key, child in tree.items():
        text, kind, _ = parse_key(key, path, key)
        if kind == "Intermedia":
            earlier.extend(_steps(text, child, path))
        elif kind == "Cause":
            observations = [parse_key(k, path, k) for k in child]
            if not observations or any(k != "Input" for _, k, _ in observations):
                raise DataError(path, None, key, "a $Cause must hold one or more $Input observations")
            here.append(ReasoningStep(
                diagnosis=diagnosis, rationale=text,
                evidence=tuple(obs for obs, _, _ in observations),
                sections=tuple(f"input{k}" for _, _, k in observations)))
        else:
            raise DataError(path, None, key, "an $Input must sit under a $Cause")
    return earlier + here


def read_notes(folder: str | Path) -> tuple[list[Note], SkipReport]:
    """Every note below `folder` (DiReCT keeps one folder per category), and what was skipped:
    copies in hidden folders (JupyterLab's `.ipynb_checkpoints`), JSON files that are not notes
    (the release's knowledge graphs, a splits index) and repeats of a note already read."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, None, None, "folder not found: give the path to your DiReCT copy")
    report = SkipReport(f"{folder} (DiReCT notes)")
    notes, seen = [], set()
    for path in sorted(folder.rglob("*.json")):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            report.skip("copies in a hidden folder such as .ipynb_checkpoints")
        elif not looks_like_note(data := read_json(path)):
            report.skip("JSON files that are not notes (no input1..input6: a knowledge graph or an index)")
        elif (note := read_note(path, data)).text() in seen:
            report.skip("repeats of a note already read")
        else:
            seen.add(note.text())
            notes.append(note)
    if not notes:
        raise DataError(folder, None, None, f"no DiReCT notes found below this folder ({report})")
    return notes, report


def looks_like_note(data) -> bool:
    """Is a file's JSON a note, an object with one of the section keys? Whether it is a
    well-formed one is `read_note`'s to say, with the file and field where it is not."""
    return isinstance(data, dict) and any(key in data for key in SECTIONS)


def to_target_text(note: Note) -> str:
    """The output the reasoning model learns: the diagnosis, then numbered steps with evidence.

    >>> step = ReasoningStep("TB", "Cavities suggest active TB.", ("thin-walled cavity",), ("input6",))
    >>> print(to_target_text(Note("n.json", {"input1": "cough"}, "Tuberculosis", (step,))))
    FINAL DIAGNOSIS: Tuberculosis
    Step 1: Cavities suggest active TB.
    Supporting evidence: thin-walled cavity
    """
    lines = [f"FINAL DIAGNOSIS: {note.final_diagnosis}"]
    for number, step in enumerate(note.steps, start=1):
        lines.append(f"Step {number}: {step.rationale}")
        lines.append(f"Supporting evidence: {'; '.join(step.evidence)}")
    return "\n".join(lines)
