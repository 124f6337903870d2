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
from collections.abc import Callable

from medlab.data.generate.mcq import write_question
from medlab.data.generate.notes import compose_note
from medlab.data.generate.triage import render_narrative, sample_case
from medlab.data.load.direct import Note
from medlab.data.load.mcq import LETTERS
from medlab.data.tables import CONDITIONS, DIAGNOSES, FACTS
from medlab.pocket.chat import render_chat

AGES = ["2-week-old", "6-week-old", "9-month-old", "2-year-old", "5-year-old", "11-year-old",
        "17-year-old", "24-year-old", "35-year-old", "48-year-old", "56-year-old", "63-year-old",
        "71-year-old", "84-year-old", "92-year-old"]
SEXES = [("man", "He", "his"), ("woman", "She", "her"), ("boy", "He", "his"),
         ("girl", "She", "her"), ("patient", "They", "their")]
COMPLAINTS = [
    "crushing chest pain radiating to the left arm", "sudden shortness of breath",
    "fever and productive cough", "a severe headache that began an hour ago",
    "abdominal pain in the right lower quadrant", "a laceration to the forearm",
    "an ankle injury after a fall", "new confusion noticed by family", "vomiting blood",
    "palpitations and light-headedness", "weakness of the right arm and slurred speech",
    "a sore throat for three days", "a rash on both legs", "back pain after lifting",
    "a prescription refill request", "a dog bite to the hand", "wheezing that is not improving",
    "painful urination", "swelling of the left calf", "a seizure at home",
    "a stab wound to the abdomen", "an open fracture of the lower leg", "a cough and runny nose",
    "ear pain", "a burn to the hand from boiling water", "syncope while standing",
]
HISTORY = ["hypertension", "type 2 diabetes", "asthma", "COPD", "atrial fibrillation",
           "heart failure", "chronic kidney disease", "prior stroke", "tuberculosis treated years ago",
           "hyperlipidemia", "epilepsy", "migraine", "GERD", "hypothyroidism", "no past history"]
EXAM = ["bibasilar crackles", "expiratory wheeze", "a regular rhythm without murmur",
        "an irregularly irregular pulse", "tenderness at McBurney's point", "a soft non-tender abdomen",
        "left facial droop", "neck stiffness", "unilateral calf swelling", "clear lungs",
        "jugular venous distension", "pitting oedema to the knees", "pale conjunctivae",
        "a 3 cm gaping wound", "decreased breath sounds on the right", "a petechial rash"]
RESULTS = ["troponin is elevated", "the ECG shows ST depression in the lateral leads",
           "chest x-ray shows a right lower lobe consolidation", "BNP is markedly raised",
           "D-dimer is elevated", "CT of the head shows no bleed", "white cell count is 15,000",
           "lactate is 4.1", "haemoglobin is 7.2", "glucose is 42 mg/dL", "urinalysis shows nitrites",
           "CT angiography shows a filling defect in a segmental artery",
           "echocardiogram shows an ejection fraction of 30 percent",
           "MRI shows periventricular white matter lesions", "sputum smear shows acid-fast bacilli"]
REASONING = [
    "{exam} together with a history of {hist} raises concern for decompensation.",
    "Because {result}, the working diagnosis is revised.",
    "The presence of {exam} is an important observation in this case.",
    "A history of {hist} is relevant background for the current presentation.",
    "The triage nurse considers whether the patient needs an immediate intervention.",
    "Resources expected for this visit include laboratory tests and imaging.",
    "Vital signs are reviewed against the danger zone for the patient's age.",
]


def _vitals(rng: random.Random) -> str:
    temp = rng.choice([36.4, 36.9, 37.2, 37.8, 38.3, 38.9, 39.4, 40.1])
    return (f"HR {rng.randint(48, 190)}, RR {rng.randint(10, 60)}, SpO2 {rng.randint(82, 100)}%, "
            f"BP {rng.randint(70, 190)}/{rng.randint(40, 110)}, temperature {temp} C, "
            f"pain {rng.randint(0, 10)}/10.")


def case_history(rng: random.Random) -> str:
    noun, pronoun, possessive = rng.choice(SEXES[:2])
    return (f"Chief complaint: {rng.choice(COMPLAINTS)}. History of present illness: a "
            f"{rng.choice(AGES[6:])} {noun} with {rng.choice(HISTORY)} and {rng.choice(HISTORY)} "
            f"reports {rng.choice(COMPLAINTS)} for {rng.randint(1, 14)} days. "
            f"Physical exam: {rng.choice(EXAM)} and {rng.choice(EXAM)}. "
            f"Pertinent results: {rng.choice(RESULTS)}; {rng.choice(RESULTS)}. "
            f"{pronoun} will be reassessed after {possessive} results return.")


def reasoning_note(rng: random.Random) -> str:
    lines = [rng.choice(REASONING).format(exam=rng.choice(EXAM), hist=rng.choice(HISTORY),
                                          result=rng.choice(RESULTS)) for _ in range(3)]
    return " ".join(lines)


def triage_narrative(rng: random.Random) -> str:
    """A triage case as the ESI data renders it, without its level."""
    return render_narrative(sample_case(rng, target=rng.randint(1, 5)), rng)


def question_stem(rng: random.Random) -> str:
    """An exam question with its four options, without saying which is right."""
    question, options, _ = write_question(rng, rng.choice(FACTS))
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
    pairs = rng.sample([*row.stories, *row.findings, *row.results], 3)
    explained = " ".join(f"{why} ({finding})." for finding, why in pairs)
    together = ", ".join(finding for finding, _ in pairs[:2])
    return f"{explained} Findings such as {together} point to {row.name}."


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


GENERATORS: tuple[Callable[[random.Random], str], ...] = (
    triage_narrative, case_history, imaging_scenario, evidence_snippet, question_stem,
    reasoning_note, clinical_note, teaching_point, vital_sign_chore, vitals_list_chore, request_chore,
)


def documents(n: int, seed: int) -> list[str]:
    """`n` plain-text documents, cycling through every generator, fixed by `seed`."""
    rng = random.Random(seed)
    return [GENERATORS[i % len(GENERATORS)](rng) for i in range(n)]
