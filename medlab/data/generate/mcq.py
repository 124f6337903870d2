"""The course's own MedQA- and MedMCQA-schema questions, written from the fact table.

Each question puts one fact's clue set into a patient stem and shuffles its answer among
four of its distractors, so no label is ever typed by hand.

Introduced in notebooks/01_data.ipynb.
"""

from __future__ import annotations

import hashlib
import random

from medlab.data.generate.words import with_article
from medlab.data.load.mcq import LETTERS
from medlab.data.tables import FACTS, Fact

# Patient phrases by age group; {noun} is man/woman or boy/girl, from the fact's sexes.
ADULTS = ["{age}-year-old {noun}", "{age}-year-old patient"]  # no "previously healthy": clues carry history
OLDER_ADULTS = ["retired teacher aged {age}"]  # 65 and over
CHILDREN = ["{age}-year-old {noun}", "{age}-year-old child"]
SETTINGS = ["presents to the emergency department with", "comes to the clinic because of",
            "is evaluated for", "is brought to hospital with", "reports"]
STEMS = {
    "diagnosis": ["Which of the following is the most likely diagnosis?",
                  "What is the most likely diagnosis in this patient?",
                  "Which diagnosis best explains these findings?"],
    "treatment": ["Which of the following is the most appropriate treatment?",
                  "What is the best initial pharmacotherapy?",
                  "Which treatment should be given?"],
    "next step": ["Which of the following is the most appropriate next step in management?",
                  "What should be done next?",
                  "Which is the best next step?"],
    "organism": ["Which organism is the most likely cause?",
                 "Which of the following pathogens is most likely responsible?",
                 "What is the most likely causative organism?"],
}


def write_question(rng: random.Random, fact: Fact) -> tuple[str, list[str], int, str]:
    """One question about `fact`: the text, four options in random order, the right index, and
    the clue set the stem used (its explanation quotes that one)."""
    clue = rng.choice(fact.clue_sets)
    question = f"{describe_patient(rng, fact)} {rng.choice(SETTINGS)} {clue}. {rng.choice(STEMS[fact.kind])}"
    options = [fact.answer, *rng.sample(fact.distractors, 3)]
    rng.shuffle(options)
    return question, options, options.index(fact.answer), clue


def describe_patient(rng: random.Random, fact: Fact) -> str:
    """A patient of an age and sex the fact's clues fit (no eczema in a 60-year-old)."""
    age, sex = rng.randint(*fact.ages), rng.choice(fact.sexes)
    if age < 18:
        phrases, noun = CHILDREN, "girl" if sex == "female" else "boy"
    else:
        phrases, noun = ADULTS + (OLDER_ADULTS if age >= 65 else []), "woman" if sex == "female" else "man"
    return with_article(rng.choice(phrases).format(age=age, noun=noun))


EXPLANATIONS = {
    "diagnosis": "The presentation of {clue} points to {answer}.",
    "treatment": "For {clue}, the treatment is {answer}.",
    "next step": "With {clue}, the next step is {answer}.",
    "organism": "In {clue}, the most likely organism is {answer}.",
}


def explanation(fact: Fact, clue: str) -> str:
    """MedMCQA's `exp` field: why the answer is right, quoting the clue set the stem used."""
    return EXPLANATIONS[fact.kind].format(clue=clue, answer=fact.answer)


def stable_id(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def generate_medqa_rows(n: int, seed: int) -> list[dict]:
    """`n` questions in the MedQA schema, cycling through the fact table."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        fact = FACTS[i % len(FACTS)]
        question, options, right, _ = write_question(rng, fact)
        lettered = dict(zip(LETTERS, options, strict=True))
        rows.append({"question": question, "answer": options[right], "options": lettered,
                     "meta_info": "step1" if fact.kind in ("organism", "treatment") else "step2&3",
                     "answer_idx": LETTERS[right]})
    return rows


def generate_medmcqa_rows(n: int, seed: int, labelled: bool = True) -> list[dict]:
    """`n` questions in the MedMCQA schema; `labelled=False` writes `cop = -1` like its test split."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        fact = FACTS[i % len(FACTS)]
        question, options, right, clue = write_question(rng, fact)
        rows.append({"id": stable_id(f"{seed}-{i}-{question}"), "question": question,
                     "opa": options[0], "opb": options[1], "opc": options[2], "opd": options[3],
                     "cop": right if labelled else -1, "choice_type": "single",
                     "exp": explanation(fact, clue) if labelled else "",
                     "subject_name": fact.subject, "topic_name": fact.topic})
    return rows
