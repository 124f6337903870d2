"""Reward functions: plain functions with TRL's reward signature, used by PPO and GRPO alike.

Each takes `completions` (strings, or chat-message lists as TRL passes for chat data) and the
dataset's columns as keyword arguments, and returns one float per completion. Extra keywords
(TRL also passes `prompts` and `completion_ids`) are accepted and ignored.

For the MedLLM second stage: SFT, then PPO on MedQA (notebook 05_ppo_mcq, planned).
"""

from __future__ import annotations

import re

from medlab.data.splits import normalize

RIGHT, WRONG, NO_ANSWER = 1.0, 0.1, 0.0
"""The MCQ reward of MedLLM and HuatuoGPT-o1: a wrong answer in a readable form still earns a
little more than none, so the policy never learns that not answering is safe."""


def completion_text(completion) -> str:
    """The reply as text, whether TRL passed a string or a list of chat messages.

    >>> completion_text([{"role": "assistant", "content": "Answer: B"}])
    'Answer: B'
    """
    if isinstance(completion, str):
        return completion
    return "".join(message.get("content", "") for message in completion if message.get("role") == "assistant")


def mcq_reward(completions, answer, options, **kwargs) -> list[float]:
    """1.0 for the right option, 0.1 for a wrong one, 0.0 when the reply is not exactly an answer.

    The reply must be `Answer: ` and one option (its letter or its text, case and spacing
    forgiven) and nothing more. The evaluation parser is lenient, to give base models credit
    for any way of naming an option; a reward must not be. Paid through the lenient parser,
    PPO on the pocket model learned to write the answer and then keep going ("Answer: Acute
    pical crackles point-Answer: Acute pancreatitis" found the right option and earned 1.0),
    and the junk spread until the format collapsed.

    >>> opts = {"A": "Aspirin", "B": "Heparin", "C": "Observation", "D": "Surgery"}
    >>> mcq_reward(["Answer: B", "Answer: heparin", "Answer: Aspirin", "Answer: Heparin, then surgery", "no idea"],
    ...            answer=["B"] * 5, options=[opts] * 5)
    [1.0, 1.0, 0.1, 0.0, 0.0]
    """
    rewards = []
    for completion, right, choices in zip(completions, answer, options, strict=True):
        chosen = exact_choice(completion_text(completion), choices)
        rewards.append(NO_ANSWER if chosen is None else RIGHT if chosen == right else WRONG)
    return rewards


def exact_choice(reply: str, options: dict[str, str]) -> str | None:
    """The letter the reply names when it is exactly "Answer: <letter or option text>"."""
    match = re.fullmatch(r"\s*answer\s*:\s*(.+?)\s*", reply, re.I | re.S)
    if not match:
        return None
    said = normalize(match.group(1))
    for letter, text in options.items():
        if said in (letter.lower(), normalize(text)):
            return letter
    return None
