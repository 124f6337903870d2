"""Plain clinical text for pretraining the pocket model.

The pocket model should know the words of the course's four tasks before any fine-tuning:
triage narratives, case histories and notes, imaging scenarios, evidence snippets, question
stems, and textbook sentences on what findings mean.
It must not see answers: no ESI levels, no appropriateness categories, no answer letters and no
diagnoses reached from a case, so that what SFT and RL teach later is visibly learned there.

Like the instruct models the course fine-tunes on a GPU, it also knows how to hold a
conversation: a share of the documents are chat turns doing chores unrelated to the four tasks
(reading a vital sign off a note, listing the vitals, naming the requested procedure). Without
them the turn markers would be tokens the model has never read, and a minute of SFT would go on
learning where a reply starts and stops. Answer tags stay out: they are what SFT teaches.

Every document comes from a seeded generator, so the corpus (and the cache key derived from
it) is the same on every machine.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from medlab.data.generate.mcq import write_question
from medlab.data.generate.notes import compose_note, draw
from medlab.data.generate.triage import render_narrative, sample_case
from medlab.data.generate.words import with_article
from medlab.data.load.direct import Note
from medlab.data.load.mcq import LETTERS
from medlab.data.tables import CONDITIONS, DIAGNOSES, FACTS
from medlab.pocket.chat import render_chat

# Sentences about the triage process itself: true of every case, so safe to mix with any.
PROCESS = [
    "The triage nurse considers whether the patient needs an immediate intervention.",
    "Resources expected for this visit include laboratory tests and imaging.",
    "Vital signs are reviewed against the danger zone for the patient's age.",
]
# Findings that are absent or normal explain by what they rule out; they never "point to" a
# diagnosis, so `teaching_point` leaves them out of its summary.
NEGATIVE = re.compile(r"\b(normal|no|not|negative|without|clear)\b", re.I)


def case_history(rng: random.Random) -> str:
    """A short case history written from one diagnosis's table row, so its complaint, history,
    findings and results belong together; the diagnosis itself is not named."""
    row = rng.choice(DIAGNOSES)
    pick = rng.randrange(len(row.stories))
    story, _ = row.stories[pick]
    findings = [finding for finding, _ in draw(rng, row.findings, 2, [], row.exclusive)]
    result, _ = draw(rng, row.results, 1, findings, row.exclusive)[0]
    patient = with_article(f"{rng.randint(*row.ages)}-year-old patient")
    return (f"Chief complaint: {row.complaints[pick]}. History of present illness: {patient} with "
            f"{story}. Past history: {rng.choice(row.history)} "
            f"Physical exam: {' and '.join(findings)}. Pertinent results: {result}.")


def reasoning_note(rng: random.Random) -> str:
    """Reasoning sentences: what two findings of one diagnosis mean, and a triage step."""
    row = rng.choice(DIAGNOSES)
    pairs = draw(rng, [*row.stories, *row.findings, *row.results], 2, [], row.exclusive)
    return " ".join([*(f"{why} ({finding})." for finding, why in pairs), rng.choice(PROCESS)])


def triage_narrative(rng: random.Random) -> str:
    """A triage case as the ESI data renders it, without its level."""
    return render_narrative(sample_case(rng, target=rng.randint(1, 5)), rng)


def question_stem(rng: random.Random) -> str:
    """An exam question with its four options, without saying which is right."""
    question, options, _, _ = write_question(rng, rng.choice(FACTS))
    return question + " " + " ".join(f"{letter}. {o}" for letter, o in zip(LETTERS, options, strict=True))


def imaging_scenario(rng: random.Random) -> str:
    """A scenario and a procedure from the appropriateness table, without the verdict."""
    row = rng.choice(CONDITIONS)
    return (f"Condition: {row.condition}. Scenario: {rng.choice(row.variants).scenario}. "
            f"Procedure: {rng.choice(list(row.ratings))}.")


def clinical_note(rng: random.Random) -> str:
    """A note in the DiReCT schema's six sections, without its diagnosis or reasoning."""
    note = compose_note(rng, rng.choice(DIAGNOSES))
    sections = {key: value for key, value in note.items() if key.startswith("input")}
    return Note(path="", sections=sections, final_diagnosis="", steps=()).text()


def teaching_point(rng: random.Random) -> str:
    """Textbook sentences about one diagnosis: what its findings mean, and which findings
    together point to it. General knowledge, as a hub model has read; no case is labelled."""
    row = rng.choice(DIAGNOSES)
    pairs = draw(rng, [*row.stories, *row.findings, *row.results], 3, [], row.exclusive)  # one patient's
    explained = " ".join(f"{why} ({finding})." for finding, why in pairs)
    positive = [finding for finding, _ in pairs if not NEGATIVE.search(finding)][:2]
    if not positive:
        return explained
    return f"{explained} Findings such as {' and '.join(positive)} point to {row.name}."


def evidence_snippet(rng: random.Random) -> str:
    return rng.choice(rng.choice(CONDITIONS).evidence)


# ---- chat chores: the conversation format, on tasks the course never grades ----------------------

CHORE_SYSTEM = "You are a clinical assistant. Reply briefly."


def chore(user: str, reply: str) -> str:
    return render_chat([{"role": "system", "content": CHORE_SYSTEM}, {"role": "user", "content": user},
                        {"role": "assistant", "content": reply}])


def vital_sign_chore(rng: random.Random) -> str:
    """Read one vital sign off a triage note."""
    case = sample_case(rng, target=rng.randint(1, 5))
    name, value = rng.choice([("heart rate", str(case.heart_rate)), ("respiratory rate", str(case.resp_rate)),
                              ("oxygen saturation", f"{case.spo2}%"), ("temperature", f"{case.temp_c} C")])
    return chore(f"What is the patient's {name}?\n\n{render_narrative(case, rng)}",
                 f"The {name} is {value}.")


def vitals_list_chore(rng: random.Random) -> str:
    """List a triage note's vital signs, one `Name: value` line each."""
    case = sample_case(rng, target=rng.randint(1, 5))
    lines = [f"Heart rate: {case.heart_rate}", f"Respiratory rate: {case.resp_rate}",
             f"Oxygen saturation: {case.spo2}%", f"Blood pressure: {case.sbp}/{case.dbp}",
             f"Temperature: {case.temp_c} C"]
    return chore(f"List the vital signs, one per line.\n\n{render_narrative(case, rng)}", "\n".join(lines))


def request_chore(rng: random.Random) -> str:
    """Name the condition or the procedure of an imaging request."""
    row = rng.choice(CONDITIONS)
    procedure = rng.choice(list(row.ratings))
    request = f"Condition: {row.condition}\nScenario: {rng.choice(row.variants).scenario}\nProcedure: {procedure}"
    if rng.random() < 0.5:
        return chore(f"Which procedure is requested?\n\n{request}", procedure)
    return chore(f"Which condition is this request about?\n\n{request}", row.condition)


# Textbook sentences come three times in each cycle: they are the pocket model's medical
# knowledge, what links a note's findings to a diagnosis. Measured with them once, reasoning SFT in
# notebook 04 learnt the chain's form but named the same diagnosis for every held-out note; three
# times, it named 27 of 32 right.
GENERATORS: tuple[Callable[[random.Random], str], ...] = (
    triage_narrative, case_history, imaging_scenario, evidence_snippet, question_stem,
    reasoning_note, clinical_note, teaching_point, teaching_point, teaching_point, vital_sign_chore,
    vitals_list_chore, request_chore,
)


def documents(n: int, seed: int) -> list[str]:
    """`n` plain-text documents, cycling through every generator, fixed by `seed`."""
    rng = random.Random(seed)
    return [GENERATORS[i % len(GENERATORS)](rng) for i in range(n)]
