"""Read answers out of what models really write. Unparseable text gives None, never an error.

Each parser looks inside `<answer>...</answer>` first when the tags are there, then falls
back to the whole reply, so one parser serves tagged RL outputs, SFT outputs and base models.

Introduced in notebooks/02_baseline.ipynb.
"""

from __future__ import annotations

import re

from medlab.data.load.appropriateness import CATEGORIES
from medlab.data.splits import normalize

ANSWER_TAG = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.S | re.I)
THINK_TAG = re.compile(r"<think>(.*?)</think>", re.S | re.I)


def answer_span(text: str | None) -> str:
    """The inside of the last `<answer>` tag if there is one, else the whole text.

    >>> answer_span("<think>x</think><answer> B </answer>")
    'B'
    """
    if not text:
        return ""
    found = ANSWER_TAG.findall(text)
    return found[-1].strip() if found else text.strip()


def reasoning_span(text: str | None) -> str:
    """The inside of the `<think>` tag, or the text before `<answer>`, or ''."""
    if not text:
        return ""
    found = THINK_TAG.findall(text)
    if found:
        return found[-1].strip()
    return text.split("<answer>")[0].strip() if "<answer>" in text else ""


# ---- the strict readers: what evaluation's format rate and the rewards both call well formed ----

WELL_FORMED = re.compile(
    r"\s*<think>((?:(?!</?think>|</?answer>).)*)</think>\s*<answer>((?:(?!</?think>|</?answer>).)*)</answer>\s*",
    re.S | re.I)
"""One think block, then one answer block, nothing else; neither holds another tag. The think
block may be empty: with thinking off the prompt supplies an empty one."""


def think_and_answer(reply: str | None) -> tuple[str, str] | None:
    """The inside of the think and answer tags of a well-formed reply, else None.

    >>> think_and_answer("<think> CT shows it </think>\\n<answer>Usually Appropriate</answer>")
    ('CT shows it', 'Usually Appropriate')
    >>> think_and_answer("<answer>Usually Appropriate</answer><think>x</think>") is None
    True
    """
    match = WELL_FORMED.fullmatch(reply or "")
    return None if match is None else (match.group(1).strip(), match.group(2).strip())


def has_think_answer_format(text: str | None) -> bool:
    """Exactly one think block followed by one answer block (`think_and_answer`), as the GRPO
    format reward pays."""
    return think_and_answer(text) is not None


def answer_line(reply: str | None) -> str | None:
    """What follows `Answer:` when the reply is exactly one such line, else None: the MCQ format.

    >>> answer_line(" Answer: B "), answer_line("Answer: B\\nbecause"), answer_line("B")
    ('B', None, None)
    """
    match = re.fullmatch(r"\s*answer\s*:[ \t]*([^\n]*?)\s*", reply or "", re.I)
    return match.group(1) if match and match.group(1) else None


MCQ_PATTERNS = [
    r"\(([A-D])\)\s*\.?\s*$",  # "Answer: Heparin (B)": the letter closing the answer
    r"answer\s*(?:is|:)?\s*[:\-]?\s*\(?([A-D])\b",  # "Answer: B", "the answer is (C)"
    r"^\s*\(?([A-D])\)?\s*[\.\):]?(?:\s|$)",  # "B", "(B)", "B)", "B." at the start
    r"\boption\s+\(?([A-D])\b",  # "option D"
]


def parse_mcq(text: str | None, options: dict[str, str]) -> str | None:
    """The chosen letter from "B", "(B)", "B)", "Answer: B", "the answer is B" or the option text.

    >>> opts = {"A": "Aspirin", "B": "Heparin", "C": "Observation", "D": "Surgery"}
    >>> [parse_mcq(t, opts) for t in ["(B)", "Answer: C. Observation", "I would give heparin.", "??"]]
    ['B', 'C', 'B', None]
    """
    span = answer_span(text)
    for pattern in MCQ_PATTERNS:
        match = re.search(pattern, span, re.I | re.M)
        if match and match.group(1).upper() in options:
            return match.group(1).upper()
    said = normalize(span)
    named = [letter for letter, option in options.items() if normalize(option) and normalize(option) in said]
    return named[0] if len(named) == 1 else None


ESI_PATTERNS = [
    r"\besi\s*(?:level)?\s*[:\-]?\s*([1-5])\b",  # "ESI 2", "ESI level 2", "ESI-2"
    r"\b(?:triage\s+)?level\s*[:\-]?\s*([1-5])\b",  # "Level 2"
    r"^\s*([1-5])\s*\.?\s*$",  # a bare "2"
]


def parse_esi(text: str | None) -> int | None:
    """The ESI level from "ESI 2", "Level 2", "ESI level: 2" or a bare "2"; the last one stated wins.

    >>> [parse_esi(t) for t in ["<answer>ESI 2</answer>", "Level 3", "4", "ESI level 1.", "", "level 7"]]
    [2, 3, 4, 1, None, None]
    """
    span = answer_span(text)
    for pattern in ESI_PATTERNS:
        found = re.findall(pattern, span, re.I | re.M)
        if found:
            return int(found[-1])
    return None


def parse_appropriateness(text: str | None) -> str | None:
    """One of the three categories, matched case-insensitively; 'usually not' before 'usually'.

    >>> parse_appropriateness("<answer>usually not appropriate</answer>")
    'Usually Not Appropriate'
    """
    said = normalize(answer_span(text))
    for category in sorted(CATEGORIES, key=len, reverse=True):
        if normalize(category) in said:
            return category
    return None


def parse_diagnosis(text: str | None) -> str | None:
    """The text after `FINAL DIAGNOSIS:` on its line, or None.

    >>> parse_diagnosis("FINAL DIAGNOSIS: Tuberculosis\\nStep 1: ...")
    'Tuberculosis'
    """
    match = re.search(r"final\s+diagnosis\s*:\s*(.+)", text or "", re.I)
    return match.group(1).strip().rstrip(".") or None if match else None


def parse_evidence(text: str | None) -> list[str]:
    """Every `Supporting evidence:` line of a reasoning chain."""
    return [m.strip() for m in re.findall(r"supporting evidence\s*:\s*(.+)", text or "", re.I) if m.strip()]
