"""Every DiReCT-schema note, hand-written and generated, describes one coherent patient: signs on
one side agree, history fits the patient's sex, a bleed has one source, the label is earned by
what the note reports, and no rationale overstates what a finding shows."""

import re

import pytest

from medlab.data import sources
from medlab.data.load.direct import Note
from medlab.data.tables import DIAGNOSES
from medlab.profiles import load_profile


def all_notes() -> list[Note]:
    notes = sources.splits("reasoning", load_profile("tiny"))
    return notes.train + notes.validation + notes.test


NOTES = all_notes()


def of(diagnosis: str) -> list[Note]:
    return [note for note in NOTES if note.final_diagnosis == diagnosis]


def full_text(note: Note) -> str:
    """The sections and the rationales: a rationale can clash with the note as much as a finding."""
    return ". ".join([*note.sections.values(), *(step.rationale for step in note.steps)])


# ---- laterality ------------------------------------------------------------------------------

# What a "left" or "right" refers to, by the nearest body word. Heart chambers are names, not
# sides, so a note may speak of both ventricles.
SIDED = {
    "body": r"hemiparesis|weakness|neglect|hemianopia|face|facial|arm|hand|droop|drift",
    "leg": r"calf|leg|popliteal|femoral|knee|foot",
    "chest": r"chest|lung|base|zone|lobe|apex|pleural|rub|air entry|breath sounds|effusion",
    "cerebrum": r"hemisphere|cerebral|parietal|frontal|temporal|occipital|cortex",
    "cerebellum": r"cerebellar|cerebellum",
    "ataxia": r"ataxia|dysmetria",
    "eye": r"eye|visual|pupil",
    "head": r"headache",
    "plantar": r"plantar",
    "heart": r"ventricle|ventricular|atrium|atrial|sided failure",
}
BODY_WORD = re.compile("|".join(f"(?P<{kind}>\\b(?:{words})\\b)" for kind, words in SIDED.items()), re.I)
# "left and right" says both sides at once (a biventricular failure), so it names no one side.
SIDE = re.compile(r"\b(?:left and right|right and left|(left|right))\b", re.I)
WINDOW = 40  # characters either side of "left"/"right" in which to look for what it qualifies
CLAUSE_END = re.compile(r"[.;,:]")  # a side never qualifies a word in another clause


def sided_mentions(text: str) -> list[tuple[str, str]]:
    """(kind, side) for each "left"/"right": the body word just after it ("left arm"), else the
    one just before it ("pleural rub on the right"), never reaching past another side."""
    mentions = []
    for side in SIDE.finditer(text):
        if not side[1]:
            continue
        after = CLAUSE_END.split(SIDE.split(text[side.end():side.end() + WINDOW])[0])[0]
        before = CLAUSE_END.split(SIDE.split(text[max(0, side.start() - WINDOW):side.start()])[-1])[-1]
        word = BODY_WORD.search(after) or ([*BODY_WORD.finditer(before)] or [None])[-1]
        assert word, f"cannot tell what {side[0]!r} qualifies in ...{text[side.start() - 30:side.end() + 30]}..."
        mentions.append((word.lastgroup, side[1].lower()))
    return mentions


def laterality_clashes(note: Note) -> list[str]:
    sides: dict[str, set[str]] = {}
    for kind, side in sided_mentions(full_text(note)):
        sides.setdefault(kind, set()).add(side)
    clashes = [f"{kind} on both sides" for kind, found in sides.items() if len(found) > 1 and kind != "heart"]
    # A cerebral lesion shows on the opposite side of the body; a cerebellar one on the same side.
    if sides.get("cerebrum") and sides.get("cerebrum") == sides.get("body"):
        clashes.append(f"{sides['cerebrum']} hemisphere with a deficit on the same side")
    if sides.get("cerebellum") and sides.get("ataxia") and sides["cerebellum"] != sides["ataxia"]:
        clashes.append("cerebellar lesion with ataxia on the other side")
    return clashes


def test_each_note_keeps_one_side_per_kind_of_finding():
    clashing = {note.path: found for note in NOTES if (found := laterality_clashes(note))}
    assert not clashing, clashing


def test_neglect_is_opposite_the_lesioned_hemisphere():
    strokes = [note for note in of("Ischemic stroke") if "neglect" in full_text(note)]
    assert strokes, "no stroke note describes neglect"
    for note in strokes:
        sides = dict(sided_mentions(full_text(note)))
        neglect = re.search(r"\b(left|right)(?:-sided)? neglect|neglect of the (left|right)", full_text(note), re.I)
        assert neglect, f"{note.path}: neglect without a side"
        assert sides.get("cerebrum") not in (None, (neglect[1] or neglect[2]).lower()), note.path


# ---- sex -------------------------------------------------------------------------------------

ONLY_IN = {
    "man": r"\b(he|him|his|himself|prostate|erectile|testic\w*)\b",
    "woman": r"\b(she|her|hers|herself|pregnan\w*|gestational|postpartum|caesarean|contracepti\w*|ovar\w*)\b",
}


def stated_sex(note: Note) -> str | None:
    match = re.search(r"\b(man|woman)\b", note.sections["input2"])
    return match[1] if match else None


def test_history_fits_the_patients_sex():
    wrong = {}
    for note in NOTES:
        sex = stated_sex(note)
        for other, words in ONLY_IN.items():
            if sex and other != sex and (found := re.findall(words, full_text(note), re.I)):
                wrong[note.path] = (sex, found)
    assert not wrong, wrong


# ---- upper gastrointestinal bleeding ---------------------------------------------------------

BLEEDING_SOURCES = {
    "ulcer": r"\bulcer", "varices": r"\bvarice", "tear": r"\btear\b|Mallory", "oesophagitis": r"oesophagitis",
    "gastritis": r"gastritis|erosions", "tumour": r"tumou?r|cancer", "angiodysplasia": r"angiodysplasia",
}


def test_a_bleed_has_one_named_source():
    bleeds = of("Upper gastrointestinal bleeding")
    assert bleeds
    for note in bleeds:
        named = [source for source, pattern in BLEEDING_SOURCES.items()
                 if re.search(pattern, note.sections["input6"], re.I)]
        assert len(named) <= 1, (note.path, named)


# ---- migraine with aura ----------------------------------------------------------------------

AURA = r"zigzag|flashing|scintillat|shimmering|blind spot|scotoma|tingling|pins and needles|numbness spreading"
NAUSEA = r"nausea|vomit"
PHOTOPHOBIA = r"photophobia|dislike of light|sensitiv\w* to light"
PHONOPHOBIA = r"phonophobia|dislike of (?:light and )?noise|sensitiv\w* to (?:light and )?(?:noise|sound)"


def test_every_migraine_with_aura_note_describes_an_aura_and_migraine_features():
    notes = of("Migraine with aura")
    assert notes
    for note in notes:
        story_and_exam = note.sections["input2"] + " " + note.sections["input5"]
        assert re.search(AURA, story_and_exam, re.I), f"{note.path}: no aura described"
        # ICHD-3: nausea or vomiting, or else both photophobia and phonophobia.
        text = " ".join(note.sections.values())
        assert re.search(NAUSEA, text, re.I) or (re.search(PHOTOPHOBIA, text, re.I)
                                                 and re.search(PHONOPHOBIA, text, re.I)), note.path


def test_no_migraine_note_images_a_stable_headache():
    # The course's imaging table rates imaging of a stable primary headache as not appropriate.
    imaged = [note.path for note in of("Migraine with aura") if re.search(r"\b(MRI|CT)\b", note.sections["input6"])]
    assert not imaged, imaged


# ---- labels and rationales -------------------------------------------------------------------

# What each diagnosis's label needs a note to report, where the story alone cannot earn it.
EARNED_BY = {
    "HFrEF": r"ejection fraction (?:[1-3]\d|40)%",
    "NSTEMI": r"troponin",
    "Pulmonary embolism": r"CT pulmonary angiogra",
    "Bacterial pneumonia": r"x-ray:[^.]*consolidation",
    "Atrial fibrillation": r"\bECG\b|Holter",
    "Type 2 diabetes": r"HbA1c|fasting glucose",
    "Tuberculosis": r"acid-fast|PCR|culture",
    "Ischemic stroke": r"\bMRI\b|angiography",
}


@pytest.mark.parametrize("diagnosis", sorted(EARNED_BY))
def test_each_note_reports_what_earns_its_label(diagnosis):
    notes = of(diagnosis)
    unearned = [note.path for note in notes if not re.search(EARNED_BY[diagnosis], note.sections["input6"], re.I)]
    assert notes and not unearned, unearned


def test_every_copd_exacerbation_describes_an_acute_worsening():
    steady = [note.path for note in of("COPD exacerbation")
              if not re.search(r"worse|worsen|increasing|more breathless|more sputum|than (?:her |his )?usual",
                               note.sections["input2"], re.I)]
    assert not steady, steady


OVERSTATED = {
    r"below 40 ?%": "ESC 2021 defines HFrEF as an LVEF of 40% or less",
    r"ketones?\b.*\btype [12]\b": "glycosuria without ketones does not tell type 2 from type 1",
    r"(narrow-complex|Holter).*\bconfirm": "an irregular narrow-complex rhythm is consistent with AF, not proof",
    r"above the duodenum": "duodenal ulcers cause haematemesis: say proximal to the ligament of Treitz",
    r"revers\w*.*distinguish|distinguish\w*.*revers": "GOLD 2024: reversibility does not separate COPD from asthma",
    r"normal MRI": "a stable primary headache needs no imaging",
}


def rationales() -> list[tuple[str, str]]:
    """(where, rationale) for every rationale in the table and in the notes."""
    table = [(row.name, why) for row in DIAGNOSES for _, why in [*row.stories, *row.findings, *row.results]]
    return table + [(note.path, step.rationale) for note in NOTES for step in note.steps]


def test_no_rationale_overstates_what_it_shows():
    overstated = [(where, why, reason) for where, why in rationales()
                  for pattern, reason in OVERSTATED.items() if re.search(pattern, why, re.I)]
    assert not overstated, overstated
