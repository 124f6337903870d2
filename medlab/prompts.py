"""How each task is put to a model: chat messages in, the target answer out.

One place for the system prompts and answer formats, so that SFT, RL rewards, answer parsers
and evaluation agree on what a well-formed answer looks like.

Introduced in notebooks/01_data.ipynb.
"""

from __future__ import annotations

from medlab.data.load.appropriateness import AppropriatenessItem
from medlab.data.load.direct import Note, to_target_text
from medlab.data.load.mcq import MCQItem
from medlab.data.load.triage import TriageRecord

MCQ_SYSTEM = "You are a careful physician answering a medical exam question. Reply with the text of the best option."
REASONING_SYSTEM = ("You are a physician writing diagnostic reasoning. Give the final diagnosis, then "
                    "numbered steps, each with the supporting evidence from the note.")
IMAGING_SYSTEM = ("You are a radiologist judging whether an imaging procedure is appropriate. Reason inside "
                  "<think></think>, then answer inside <answer></answer> with Usually Appropriate, "
                  "May Be Appropriate or Usually Not Appropriate.")
TRIAGE_SYSTEM = ("You are an emergency triage nurse. Apply the ESI algorithm step by step inside "
                 "<think></think>, then give the level inside <answer></answer>, for example <answer>ESI 3</answer>.")


def messages(system: str, user: str, assistant: str | None = None) -> list[dict]:
    turns = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    if assistant is not None:
        turns.append({"role": "assistant", "content": assistant})
    return turns


def tagged(reasoning: str, answer: str) -> str:
    """The think/answer format the RL rewards check."""
    return f"<think>\n{reasoning}\n</think>\n<answer>{answer}</answer>"


# ---- multiple choice ---------------------------------------------------------------------------

def mcq_prompt(item: MCQItem) -> str:
    options = "\n".join(f"{letter}. {text}" for letter, text in item.options.items())
    return f"{item.question}\n\n{options}"


def mcq_target(item: MCQItem) -> str:
    """The text of the right option, as MedQA's own `answer` column holds it.

    The parser maps the text back to its letter only when exactly one option matches, so this
    is still a choice among the four. Small models learn which answer a presentation points to
    long before they learn to copy a letter by its position in the list.
    """
    return f"Answer: {item.answer_text}"


def mcq_messages(item: MCQItem, with_answer: bool = False) -> list[dict]:
    return messages(MCQ_SYSTEM, mcq_prompt(item), mcq_target(item) if with_answer else None)


# ---- diagnostic reasoning ------------------------------------------------------------------------

def reasoning_messages(note: Note, with_answer: bool = False) -> list[dict]:
    return messages(REASONING_SYSTEM, note.text(), to_target_text(note) if with_answer else None)


# ---- imaging appropriateness ---------------------------------------------------------------------

def imaging_prompt(item: AppropriatenessItem, citations: bool = False) -> str:
    text = f"Condition: {item.condition}\nScenario: {item.variant}\nProcedure: {item.procedure}"
    if citations and item.evidence:
        text += "\nEvidence:\n" + "\n".join(f"- {snippet}" for snippet in item.evidence)
    return text


def imaging_messages(item: AppropriatenessItem, citations: bool = False,
                     with_answer: bool = False) -> list[dict]:
    answer = tagged(item.rationale, item.appropriateness) if with_answer else None
    return messages(IMAGING_SYSTEM, imaging_prompt(item, citations), answer)


# ---- triage ----------------------------------------------------------------------------------

def triage_messages(record: TriageRecord, with_answer: bool = False) -> list[dict]:
    answer = tagged("\n".join(record.trail), f"ESI {record.level}") if with_answer else None
    return messages(TRIAGE_SYSTEM, record.narrative, answer)
