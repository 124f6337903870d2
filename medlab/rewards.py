"""Reward functions: plain functions with TRL's reward signature, used by PPO and GRPO alike.

Each takes `completions` (strings, or chat-message lists as TRL passes for chat data) and the
dataset's columns as keyword arguments, and returns one float per completion. Extra keywords
(TRL also passes `prompts` and `completion_ids`) are accepted and ignored.

For the MedLLM second stage: SFT, then PPO on MedQA (notebook 05_ppo_mcq, planned).
"""

from __future__ import annotations

from medlab import parsers

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
    """1.0 for the right option, 0.1 for a wrong one, 0.0 when no option can be read.

    >>> opts = {"A": "Aspirin", "B": "Heparin", "C": "Observation", "D": "Surgery"}
    >>> mcq_reward(["Answer: B", "Answer: A", "no idea"], answer=["B"] * 3, options=[opts] * 3)
    [1.0, 0.1, 0.0]
    """
    rewards = []
    for completion, right, choices in zip(completions, answer, options, strict=True):
        chosen = parsers.parse_mcq(completion_text(completion), choices)
        rewards.append(NO_ANSWER if chosen is None else RIGHT if chosen == right else WRONG)
    return rewards
