"""The course's generated DiReCT-schema notes, composed from its table of diagnoses.

Introduced in notebooks/04_sft_reasoning.ipynb.
"""

from __future__ import annotations

SEXES = ("man", "woman")


def compose_note(rng, row) -> dict:
    """A DiReCT-schema note (the JSON dict) written from a `medlab.data.tables.Diagnosis` row.

    The reasoning tree cites exactly the phrases placed in the note: the story in section 2,
    one or two examination findings in section 5 (supporting the suspicion), and one or two
    results in section 6 (confirming the final diagnosis). Every phrase describes the same
    patient: history fits the patient's sex, and no two phrases of one of the row's exclusive
    groups appear together.
    """
    sex = rng.choice(SEXES)
    pick = rng.randrange(len(row.stories))
    story, story_why = row.stories[pick]
    seen = draw(rng, row.findings, rng.randint(1, 2), [], row.exclusive)
    tested = draw_results(rng, row, [finding for finding, _ in seen])
    note = {
        "input1": row.complaints[pick],
        "input2": f"{rng.randint(*row.ages)}-year-old {sex} with {story}.",
        "input3": rng.choice([*row.history, *row.history_by_sex.get(sex, [])]),
        "input4": "Non-contributory.",
        "input5": f"On examination, {' and '.join(finding for finding, _ in seen)}.",
        "input6": " ".join(f"{result}." for result, _ in tested),
    }
    suspected = {f"{story_why}$Cause_1": {f"{story}$Input2": {}}}
    for number, (finding, why) in enumerate(seen, start=2):
        suspected[f"{why}$Cause_{number}"] = {f"{finding}$Input5": {}}
    final = {f"{why}$Cause_{number}": {f"{result}$Input6": {}} for number, (result, why) in enumerate(tested, 1)}
    final[f"{row.suspicion}$Intermedia_1"] = suspected
    return {**note, f"{row.name}$Intermedia_2": final}


def draw(rng, pairs: list[tuple[str, str]], count: int, placed: list[str],
         exclusive: list[list[str]]) -> list[tuple[str, str]]:
    """Up to `count` of `pairs`, in random order, each able to stand beside the phrases already
    `placed` in the note and those drawn before it."""
    drawn: list[tuple[str, str]] = []
    for pair in rng.sample(pairs, len(pairs)):
        if len(drawn) < count and not clashes(pair[0], [*placed, *(text for text, _ in drawn)], exclusive):
            drawn.append(pair)
    return drawn


def clashes(text: str, placed: list[str], exclusive: list[list[str]]) -> bool:
    """Whether `text` shares an exclusive group with a placed phrase: one patient cannot have both."""
    return any(text in group and any(other in group for other in placed) for group in exclusive)


def draw_results(rng, row, placed: list[str]) -> list[tuple[str, str]]:
    """One or two results, one of them decisive where the row names decisive results, so the
    note's label never rests on supporting tests alone."""
    decisive = [pair for pair in row.results if pair[0] in row.decisive] or row.results
    first = draw(rng, decisive, 1, placed, row.exclusive)
    others = [pair for pair in row.results if pair not in first]
    second = draw(rng, others, rng.randint(0, 1), [*placed, *(text for text, _ in first)], row.exclusive)
    return rng.sample(first + second, len(first) + len(second))
