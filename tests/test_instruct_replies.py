"""The answer parsers on replies written the way instruct models write them: vignettes restated,
option-by-option walks, markdown, hedges, second thoughts, thinking on and off.

The pocket model answers tersely ("Answer: B"), so the tiny course never shows these; a Llama
or Qwen reply does on its first question. Each case is a reply and the answer a careful reader
would take from it: the one it states, or none where it states none, hedges or contradicts itself.
"""

import pytest

from medlab.parsers import parse_esi, parse_mcq

OPTIONS = {"A": "Aspirin", "B": "Heparin", "C": "Observation", "D": "Surgical embolectomy"}

MCQ_REPLIES = [
    # an answer statement wins over letters anywhere else
    ("Answer: B", "B"),
    ("The correct answer is (B) Heparin.", "B"),
    ("**Answer:** B. Heparin", "B"),
    ("**Final answer: B**", "B"),
    ("The best answer is B: anticoagulation with heparin.", "B"),
    ("A 67-year-old man with a pulmonary embolism needs anticoagulation.\n\nAnswer: B", "B"),
    ("A 67-year-old man with a PE needs anticoagulation: Heparin.", "B"),  # the article is not option A
    ("A. Aspirin is not indicated for PE.\nB. Heparin is the treatment of choice.\nC. Observation risks "
     "extension.\nD. Embolectomy is for massive PE.\n\nTherefore heparin.", "B"),
    ("Let us go through the options.\nA. Aspirin is not indicated.\nB. Heparin is the treatment of choice.\n\n"
     "The answer is B.", "B"),
    ("Option A (aspirin) is an antiplatelet and does not treat venous clots. Option B starts anticoagulation. "
     "Options C and D are wrong here.\n\nCorrect answer: **B**", "B"),
    ("The patient is stable with a submassive PE. I would choose option B.", "B"),
    ("I'd go with B.", "B"),
    ("**B. Heparin**", "B"),
    ("B\n\nHeparin prevents the clot from growing while the body breaks it down.", "B"),
    ("Explanation: the Wells score is high and CT confirms a PE without shock.\n\n(B) Heparin", "B"),
    ("### Answer\nB) Heparin", "B"),
    ("The answer is (b).", "B"),
    ("Answer: Heparin", "B"),  # the option's text after the statement
    ("Starting heparin is the right next step.", "B"),
    ("Given the hemodynamic stability, anticoagulation with heparin is indicated rather than surgical "
     "embolectomy.", "B"),  # the other option named is set aside
    # thinking on: the answer follows the think block
    ("<think>A? Aspirin does little. D? Only if unstable. So B.</think>\nThe answer is B.", "B"),
    ("<think>Could it be C? No, observation is unsafe.</think>\n\nAnswer: B", "B"),
    ("<think>Observation is not enough; the answer must be heparin.</think>\n**B. Heparin**", "B"),
    ("<think>thinking about A, B, C and D", None),  # cut off before it concluded
    # hedges and contradictions: no answer
    ("The answer is B or C.", None),
    ("Answer: B/C", None),
    ("It is either heparin or observation, depending on the bleeding risk.", None),
    ("The answer is B. On reflection, the answer is C.", None),
    ("I cannot choose without more information.", None),
    ("A. Aspirin\nB. Heparin\nC. Observation\nD. Surgical embolectomy", None),  # the options restated
    ("The answer is a heparin infusion.", "B"),  # the article, not option A
    ("## Answer\n\nA 67-year-old man with a PE needs heparin.", "B"),
    ("Answer: B, C", None), ("Answer: B and D are both reasonable", None),
]

# The course's SFT replies give the option's text; an option may itself begin with "A" or hold another
PREDNISONE = {"A": "Ibuprofen", "B": "A 5-day course of oral prednisone", "C": "Observation", "D": "Surgery"}
HEPARINS = {"A": "Aspirin", "B": "Heparin", "C": "Low molecular weight heparin", "D": "Observation"}


@pytest.mark.parametrize(("reply", "options", "expected"), [
    ("Answer: A 5-day course of oral prednisone", PREDNISONE, "B"),
    ("Answer: a 5-day course of oral prednisone.", PREDNISONE, "B"),
    ("Start low molecular weight heparin.", HEPARINS, "C"),
    ("Answer: Heparin", HEPARINS, "B"),
])
def test_an_answer_that_gives_an_options_text_is_that_option(reply, options, expected):
    assert parse_mcq(reply, options) == expected


@pytest.mark.parametrize(("reply", "expected"), MCQ_REPLIES)
def test_mcq_replies_as_instruct_models_write_them(reply, expected):
    assert parse_mcq(reply, OPTIONS) == expected


ESI_REPLIES = [
    ("ESI level 2. However, if the patient deteriorates, they would become ESI 1.", 2),
    ("**ESI Level: 2**\n\nRationale: chest pain with diaphoresis is a high-risk situation.", 2),
    ("This patient meets high-risk criteria, so the triage level is 2.", 2),
    ("She does not need a life-saving intervention, so she is not ESI 1. High risk: ESI 2.", 2),
    ("Vital signs are in the danger zone (HR 130), which upgrades her from ESI 3 to ESI 2.", 2),
    ("ESI 3 at first, but on reflection ESI 2", 2),
    ("Decision point A: no immediate intervention.\nDecision point B: high risk.\n\nFinal ESI: 2", 2),
    ("Two or more resources (labs, CT) are expected, so ESI 3. Should the vitals worsen, reassess for ESI 2.", 3),
    ("The patient needs no resources: ESI 5.", 5),
    ("Triage: **4**", 4),
    ("<think>Needs an IV and labs: two resources, ESI 3. Vitals fine.</think>\nESI 3", 3),
    ("<think>Is this ESI 1? No intubation needed. ESI 2 then.</think>\n<answer>ESI 2</answer>", 2),
    ("<think>ESI 1? ESI 2?</think>", None),  # thinking that never concluded
    ("ESI 2 or 3, depending on the ECG.", None),
    ("ESI 2-3", None),
    ("Somewhere between level 2 and level 3.", None),
    ("Could be ESI 1 if she becomes unresponsive.", None),  # only a conditional level
    ("Transfer to a level 1 trauma center may be needed; ESI 2.", 2),
    ("ESI 2\n\nRationale:\n1. Chest pain\n2. HR 130\n3. ECG", 2),  # a numbered list is not a level
    ("ESI 3\n\nResources needed:\n2", 3),
    ("She should be triaged as ESI 2.", 2), ("ESI 2, as she might have ACS.", 2), ("ESI 2 (could be ACS)", 2),
    ("Assign ESI 2 unless the ECG is normal.", 2),  # a condition after the level qualifies it
    ("ESI 2. Lactate level 4.", 2),  # a lab value, not a triage level
    ("ESI 2 to 3", None),
]


@pytest.mark.parametrize(("reply", "expected"), ESI_REPLIES)
def test_esi_replies_as_instruct_models_write_them(reply, expected):
    assert parse_esi(reply) == expected


def test_the_corpus_is_large_enough_to_mean_something():
    assert len(MCQ_REPLIES) + len(ESI_REPLIES) >= 60
    assert any(expected is None for _, expected in MCQ_REPLIES + ESI_REPLIES)
