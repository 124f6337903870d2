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


def reasoned_anyway(reply: str | None) -> bool:
    """Whether a reply written after a thinking-off prompt's empty think block wrote reasoning and
    closed a think block of its own before any answer: a second think block, so the reply cannot
    be well formed (its answer may still be read). A reply cut off before closing it is not
    counted: it has no answer, which no-parse counts.

    >>> reasoned_anyway("A: none\\n</think>\\n<answer>ESI 4</answer>"), reasoned_anyway("<answer>ESI 4</answer>")
    (True, False)
    >>> [reasoned_anyway(r) for r in ("</think><answer>ESI 4</answer>", "<think></think><answer>ESI 4</answer>",
    ...                                "<answer>ESI 4</answer> </think>")]
    [False, False, False]
    """
    before_answer = re.split(r"<answer>", reply or "", maxsplit=1, flags=re.I)[0]
    closed = re.search(r"</think>", before_answer, re.I)
    return closed is not None and re.sub(r"</?think>", "", before_answer[:closed.start()], flags=re.I).strip() != ""


def answer_line(reply: str | None) -> str | None:
    """What follows `Answer:` when the reply is exactly one such line, else None: the MCQ format.

    >>> answer_line(" Answer: B "), answer_line("Answer: B\\nbecause"), answer_line("B")
    ('B', None, None)
    """
    match = re.fullmatch(r"\s*answer\s*:[ \t]*([^\n]*?)\s*", reply or "", re.I)
    return match.group(1) if match and match.group(1) else None


def conclusion_span(text: str | None) -> str:
    """Where a reply states its answer: inside the last `<answer>` tag; else after a closed
    `<think>` block (thinking on), nothing if the block never closed; else the whole reply.

    >>> conclusion_span("<think>A? B?</think> So: B"), conclusion_span("B"), conclusion_span("<think>A? B?")
    ('So: B', 'B', '')
    """
    if not text or ANSWER_TAG.search(text) or not re.search(r"<think>", text, re.I):
        return answer_span(text)
    return re.split(r"</think>", text, flags=re.I)[-1].strip() if re.search(r"</think>", text, re.I) else ""


SET_ASIDE_BEFORE = re.compile(r"(?:\bnot|n't|\bnever|\bthan|\binstead of|\bfrom|\bover)\W+(?:\w+\W+)?$", re.I)
"""Words just before an answer that set it aside: "not ESI 1", "rather than embolectomy",
"upgraded from ESI 3"."""


# ---- multiple choice: the answer a reply states, not a letter that happens to start a line ----

_LETTER = r"(?:\(([A-Ea-e])\)|(?-i:\b([A-E])\b))(?=[\s.,:;)*!/&]|$)"
"""An option letter: any case in parentheses, "(b)"; a capital on its own, "B", even where the
rest of the pattern ignores case (so not the "a" of "the answer is a heparin drip")."""
_OR_LETTER = re.compile(r"\s*(?:or|/|,|and|&)\s*(?:option\s*)?" + _LETTER, re.I)
MCQ_STATEMENTS = [  # from the most explicit down: the first kind a reply uses decides
    [re.compile(r"\banswer[ \t]*(?:is|:|=|-)?[ \t]*(?:option[ \t]*|choice[ \t]*)?\**[ \t]*" + _LETTER, re.I),
     re.compile(r"\banswer\s*(?:is|:)[^\n]*?\(([A-Ea-e])\)()[\s.*]*$", re.I | re.M)],  # "Answer: Heparin (B)"
    [re.compile(r"\b(?:correct|best|right)\s+(?:option|choice|letter)\s*(?:is|:)?\s*\**\s*" + _LETTER, re.I),
     re.compile(r"\b(?:choose|select|pick|go with)\s+(?:option\s*)?\**\s*" + _LETTER, re.I)],
    [re.compile(r"\boption\s+" + _LETTER, re.I)],
]
MARKDOWN = re.compile(r"[*_#`>]+")


def letters_stated(span: str, statements: list[re.Pattern]) -> list[str | None]:
    """The letters `statements` find in `span`, upper-cased; None for one hedged with another
    ("B or C", "B/C")."""
    stated = []
    for statement in statements:
        for match in statement.finditer(span):
            hedged = _OR_LETTER.match(span, match.end())
            stated.append(None if hedged else (match.group(1) or match.group(2)).upper())
    return stated


def letter_line(line: str, options: dict[str, str]) -> str | None:
    """The letter of a line that is only an option: "B", "(b)", "**B. Heparin**", "B) heparin".
    A line that goes on past the option's text ("A. Aspirin is not indicated", "A 67-year-old
    man") is not an answer."""
    match = re.fullmatch(r"\(?([A-Ea-e])\)?\s*[.):\-]?\s*(.*?)[\s.]*", MARKDOWN.sub("", line).strip())
    if not match or match.group(1).upper() not in options:
        return None
    letter, rest = match.group(1).upper(), normalize(match.group(2))
    return letter if rest in ("", normalize(options[letter])) else None


def options_named(text: str, options: dict[str, str]) -> set[str]:
    """The letters of the options whose text `text` names, less those it sets aside ("rather
    than embolectomy")."""
    said, texts = normalize(text), {letter: normalize(option) for letter, option in options.items()}
    named = set()
    for letter, option in texts.items():
        at = [m.start() for m in re.finditer(rf"\b{re.escape(option)}\b", said)] if option else []
        if any(not SET_ASIDE_BEFORE.search(said[:start]) for start in at):
            named.add(letter)
    # "low molecular weight heparin" names that option, not also "heparin"
    return {letter for letter in named if not any(texts[letter] in texts[other] for other in named - {letter})}


def named_option(span: str, options: dict[str, str]) -> str | None:
    """The one option whose text the conclusion names: the last sentence, else the last
    paragraph, else the whole span; None where that part names two or more."""
    paragraphs = [p for p in re.split(r"\n\s*\n", span) if p.strip()]
    sentences = [s for s in re.split(r"(?<=[.!?])\s+|\n", span) if normalize(s)]
    for part in (sentences[-1:], paragraphs[-1:], [span]):
        named = options_named(" ".join(part), options)
        if named:
            return named.pop() if len(named) == 1 else None
    return None


ANSWER_TEXT = re.compile(r"\banswer\s*(?:is|:)\s*\**\s*([^\n]+)", re.I)


def answers_by_text(span: str, options: dict[str, str]) -> list[str]:
    """The letters whose option text an answer statement gives whole: "Answer: A 5-day course of
    prednisone" is that option, not option A (the course's SFT replies name the text)."""
    by_text = {normalize(text): letter for letter, text in options.items() if normalize(text)}
    return [by_text[said] for said in (normalize(m.group(1)) for m in ANSWER_TEXT.finditer(span)) if said in by_text]


def parse_mcq(text: str | None, options: dict[str, str]) -> str | None:
    r"""The letter a reply states as its answer; None when it states none, hedges ("B or C") or
    states two.

    In order: an answer statement that gives an option's whole text ("Answer: Heparin"), one
    that gives a letter ("Answer: B", "the correct answer is (B)", "**Answer:** B"),
    then a line that is only an option ("B", "**B. Heparin**") at the end or the start, then "the
    best option is B" or "I choose B", then "option B", then the one option whose text the
    conclusion names. A letter that starts a sentence or an option-by-option walk is no answer.

    >>> opts = {"A": "Aspirin", "B": "Heparin", "C": "Observation", "D": "Surgery"}
    >>> [parse_mcq(t, opts) for t in ["(B)", "Answer: C. Observation", "I would give heparin.", "??", "B or C"]]
    ['B', 'C', 'B', None, None]
    >>> parse_mcq("A. Aspirin is not indicated.\nB. Heparin is the treatment of choice.\n\nTherefore heparin.", opts)
    'B'
    """
    span = conclusion_span(text)
    lines = [line for line in span.splitlines() if line.strip()]
    if not lines:
        return None
    kinds = [answers_by_text(span, options), letters_stated(span, MCQ_STATEMENTS[0]),
             [letter for letter in (letter_line(lines[-1], options), letter_line(lines[0], options)) if letter],
             *(letters_stated(span, statements) for statements in MCQ_STATEMENTS[1:])]
    for stated in kinds:
        stated = [letter for letter in stated if letter is None or letter in options]  # None: hedged
        if stated:
            return stated[0] if len(set(stated)) == 1 else None
    return named_option(span, options)


# ---- ESI levels: the level a reply assigns, not one it mentions in passing ----

ESI_MENTION = re.compile(
    r"\besi\s*(?:level|category)?\s*(?:is|of|:|=|-)?\s*\**\s*([1-5])\b"  # "ESI 2", "ESI level: 2", "esi-3"
    r"|\b(?:triage|acuity)\s*(?:level|category)?\s*(?:is|of|:|=|-)?\s*\**\s*([1-5])\b"  # "triage level 2"
    # "Level 2" opening a clause or after a colon; not "lactate level 4" or "a level 1 trauma centre"
    r"|(?:^|[:(*])\s*level\s*(?:is|of|:|-)?\s*\**\s*([1-5])\b(?!\s*trauma)",
    re.I | re.M)
BARE_LEVEL = re.compile(r"\W*([1-5])\W*")
"""A conclusion that is only the level: "2", "**2**". Only the whole conclusion: a numbered list
after the level ("1. Chest pain") is not one."""
CLAUSES = re.compile(r"(?<=[.!?])\s+|\n+|;|\bhowever\b|\bbut\b", re.I)
CONDITIONAL = re.compile(r"\b(?:if|unless|otherwise|in case|(?:could|might|may) be|would (?:become|be upgraded"
                         r"|change|escalate))\b|^\W*should\b", re.I)
"""A clause that puts its level in a condition or a possibility, when the words come before the
level: "if she deteriorates, ESI 1", "could be ESI 1", "Should the vitals worsen, ESI 2".
After it they qualify a level already given: "ESI 2 unless the ECG is normal"."""
RANGE_AFTER = re.compile(r"\s*(?:-|\u2013|/|or|to)\s*(?:esi\s*)?[1-5]\b", re.I)


def levels_in(clause: str) -> tuple[list[int], bool]:
    """The levels a clause assigns, and whether it hedges between two ("ESI 2 or 3", "2-3").
    A level after "not", "than" or "from" is one the reply sets aside."""
    levels, hedged = [], False
    for match in ESI_MENTION.finditer(clause):
        if SET_ASIDE_BEFORE.search(clause[:match.start()]):
            continue
        levels.append(int(next(g for g in match.groups() if g)))
        hedged = hedged or bool(RANGE_AFTER.match(clause, match.end()))
    return levels, hedged or len(set(levels)) > 1


def parse_esi(text: str | None) -> int | None:
    """The ESI level a reply assigns. Read clause by clause: a later plain statement replaces an
    earlier one ("ESI 3 at first, but on reflection ESI 2" is 2); a conditional clause ("if she
    deteriorates she would become ESI 1") and a set-aside level ("not ESI 1") change nothing; a
    hedge ("ESI 2 or 3") leaves no answer unless a plain statement follows it.

    >>> [parse_esi(t) for t in ["<answer>ESI 2</answer>", "Level 3", "4", "ESI level 1.", "", "level 7"]]
    [2, 3, 4, 1, None, None]
    >>> parse_esi("ESI level 2. However, if the patient deteriorates, they would become ESI 1.")
    2
    """
    span = conclusion_span(text)
    bare = BARE_LEVEL.fullmatch(span)
    if bare:
        return int(bare.group(1))
    answer = None
    for clause in CLAUSES.split(span):
        levels, hedged = levels_in(clause)
        condition = CONDITIONAL.search(clause)
        first_level = ESI_MENTION.search(clause)
        if levels and not (condition and first_level and condition.start() < first_level.start()):
            answer = None if hedged else levels[-1]
    return answer


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
