"""The course's generated DiReCT-schema notes, composed from its table of diagnoses.

Introduced in notebooks/04_sft_reasoning.ipynb.
"""

from __future__ import annotations


def compose_note(rng, row) -> dict:
    """A DiReCT-schema note (the JSON dict) written from a `direct_table.Diagnosis` row.

    The reasoning tree cites exactly the phrases placed in the note: the story in section 2,
    one or two examination findings in section 5 (supporting the suspicion), and one or two
    results in section 6 (confirming the final diagnosis).
    """
    pick = rng.randrange(len(row.stories))
    story, story_why = row.stories[pick]
    seen = rng.sample(row.findings, rng.randint(1, 2))
    tested = rng.sample(row.results, rng.randint(1, 2))
    note = {
        "input1": row.complaints[pick],
        "input2": f"{rng.randint(*row.ages)}-year-old {rng.choice(['man', 'woman'])} with {story}.",
        "input3": rng.choice(row.history),
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
