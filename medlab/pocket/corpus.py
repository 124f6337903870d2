"""Plain clinical text for pretraining the pocket model.

The pocket model should know the words of the course's four tasks before any fine-tuning:
triage narratives, case histories, imaging scenarios, evidence snippets and question stems.
It must not see answers: no ESI levels, no appropriateness categories, no answer letters and no
think/answer tags, so that what SFT and RL teach later is visibly learned there.

Every document comes from a seeded generator, so the corpus (and the cache key derived from
it) is the same on every machine.
"""

from __future__ import annotations

import random
from collections.abc import Callable

AGES = ["2-week-old", "6-week-old", "9-month-old", "2-year-old", "5-year-old", "11-year-old",
        "17-year-old", "24-year-old", "35-year-old", "48-year-old", "56-year-old", "63-year-old",
        "71-year-old", "84-year-old", "92-year-old"]
SEXES = [("man", "He", "his"), ("woman", "She", "her"), ("boy", "He", "his"),
         ("girl", "She", "her"), ("patient", "They", "their")]
ARRIVALS = ["arrives by ambulance", "walks into the emergency department", "is brought in by family",
            "presents to triage", "is transferred from a clinic", "arrives by private car"]
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
INTERVENTIONS = ["was intubated in the field", "had a chest tube placed at the outside hospital",
                 "has a central line placed", "received naloxone en route",
                 "needed bag-valve-mask ventilation", "received IV access and a saline lock",
                 "was given oral acetaminophen", "was placed on a cardiac monitor",
                 "received supplemental oxygen by nasal cannula"]
MENTAL = ["alert and oriented", "drowsy but rousable", "newly confused", "unresponsive",
          "anxious and tearful", "lethargic", "calm and conversant"]
IMAGING = ["radiography", "CT without contrast", "CT with IV contrast", "CT angiography",
           "MRI without contrast", "MRI without and with contrast", "ultrasound", "nuclear medicine scan",
           "fluoroscopy", "PET/CT", "bone scan", "duplex Doppler ultrasound"]
BODY = ["head", "chest", "abdomen and pelvis", "cervical spine", "lumbar spine", "knee", "ankle",
        "lower extremity veins", "thyroid", "kidneys and bladder", "shoulder", "pelvis"]
SCENARIOS = ["acute headache with a new neurologic deficit", "suspected pulmonary embolism",
             "low back pain without red flags", "acute right lower quadrant pain",
             "minor head trauma in a child", "suspected appendicitis in pregnancy",
             "acute chest pain with low probability of coronary disease", "suspected kidney stone",
             "palpable thyroid nodule", "acute ankle trauma meeting the Ottawa rules",
             "suspected deep vein thrombosis", "syncope with a normal examination",
             "chronic knee pain in an older adult", "new onset seizure in an adult",
             "blunt abdominal trauma with stable vital signs", "suspected osteomyelitis of the foot"]
EVIDENCE = [
    "{img} has high sensitivity for {finding} and is widely available.",
    "In adults with {scen}, {img} of the {body} changes management in a minority of patients.",
    "A retrospective series of {n} patients found that {img} rarely added diagnostic value.",
    "Radiation dose from {img} of the {body} falls in the range of {dose} millisieverts.",
    "Guidelines favour {img} as the first study because it avoids ionising radiation.",
    "A meta-analysis of {n} studies reported a pooled sensitivity of {pct} percent for {img}.",
    "{img} is reserved for cases where the initial study is inconclusive.",
]
FINDINGS = ["acute haemorrhage", "pulmonary embolism", "appendicitis", "fracture", "venous thrombosis",
            "ureteric stones", "intracranial mass", "pneumonia", "aortic dissection", "abscess"]
STEMS = [
    "Which of the following is the most likely diagnosis?",
    "Which of the following is the most appropriate next step in management?",
    "Which of the following laboratory findings is most likely?",
    "Which of the following is the mechanism of action of the most appropriate drug?",
    "Which of the following is the most likely cause of this patient's symptoms?",
]
OPTION_POOL = ["Aspirin", "Heparin", "Observation", "Lumbar puncture", "Emergency surgery",
               "Beta blocker", "Broad-spectrum antibiotics", "Thrombolysis", "Oral rehydration",
               "Pulmonary embolism", "Myocardial infarction", "Pneumothorax", "Pneumonia",
               "Aortic dissection", "Pericarditis", "Insulin", "Levothyroxine", "Furosemide",
               "Metformin", "Corticosteroids", "Isoniazid", "Ceftriaxone", "Amoxicillin"]
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


def triage_narrative(rng: random.Random) -> str:
    noun, pronoun, _ = rng.choice(SEXES)
    text = (f"A {rng.choice(AGES)} {noun} {rng.choice(ARRIVALS)} with {rng.choice(COMPLAINTS)}. "
            f"{pronoun} {'is' if pronoun != 'They' else 'are'} {rng.choice(MENTAL)}. {_vitals(rng)}")
    if rng.random() < 0.4:
        text += f" The patient {rng.choice(INTERVENTIONS)}."
    return text


def case_history(rng: random.Random) -> str:
    noun, pronoun, possessive = rng.choice(SEXES[:2])
    return (f"Chief complaint: {rng.choice(COMPLAINTS)}. History of present illness: a "
            f"{rng.choice(AGES[6:])} {noun} with {rng.choice(HISTORY)} and {rng.choice(HISTORY)} "
            f"reports {rng.choice(COMPLAINTS)} for {rng.randint(1, 14)} days. "
            f"Physical exam: {rng.choice(EXAM)} and {rng.choice(EXAM)}. "
            f"Pertinent results: {rng.choice(RESULTS)}; {rng.choice(RESULTS)}. "
            f"{pronoun} will be reassessed after {possessive} results return.")


def imaging_scenario(rng: random.Random) -> str:
    return (f"Clinical scenario: {rng.choice(['adult', 'child', 'pregnant patient', 'older adult'])}, "
            f"{rng.choice(SCENARIOS)}, initial imaging. Procedure under review: "
            f"{rng.choice(IMAGING)} of the {rng.choice(BODY)}.")


def evidence_snippet(rng: random.Random) -> str:
    template = rng.choice(EVIDENCE)
    return template.format(img=rng.choice(IMAGING), finding=rng.choice(FINDINGS),
                           scen=rng.choice(SCENARIOS), body=rng.choice(BODY),
                           n=rng.randint(40, 4000), dose=rng.choice(["0.1 to 1", "1 to 10"]),
                           pct=rng.randint(60, 99))


def question_stem(rng: random.Random) -> str:
    options = rng.sample(OPTION_POOL, 4)
    listed = " ".join(f"{letter}. {opt}" for letter, opt in zip("ABCD", options, strict=True))
    return f"{case_history(rng)} {rng.choice(STEMS)} {listed}"


def reasoning_note(rng: random.Random) -> str:
    lines = [rng.choice(REASONING).format(exam=rng.choice(EXAM), hist=rng.choice(HISTORY),
                                          result=rng.choice(RESULTS)) for _ in range(3)]
    return " ".join(lines)


GENERATORS: tuple[Callable[[random.Random], str], ...] = (
    triage_narrative, case_history, imaging_scenario, evidence_snippet, question_stem,
    reasoning_note,
)


def documents(n: int, seed: int) -> list[str]:
    """`n` plain-text documents, cycling through every generator, fixed by `seed`."""
    rng = random.Random(seed)
    return [GENERATORS[i % len(GENERATORS)](rng) for i in range(n)]
