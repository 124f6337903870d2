"""The reward audit: hand-written replies, and the orderings that stop reward hacking.

Each reward is a plain function (TRL's signature); these tests feed it replies a policy could
learn to write and check what it pays before any training trusts it.
"""

import pytest
import torch

from medlab.data import sources
from medlab.profiles import load_profile
from medlab.rewards import (
    appropriateness_answer_reward,
    audit_replies,
    embedding_reward,
    format_reward,
    judge_scores,
    make_judge_reward,
    mcq_reward,
)


@pytest.fixture(scope="module")
def case():
    """A held-out imaging item, and the rationale of an item about another condition."""
    split = sources.splits("imaging", load_profile("tiny"), 0)
    item = split.test[0]
    other = next(o for o in split.train if o.condition != item.condition and o.appropriateness != item.appropriateness)
    return item, other


def pay(reward, replies: dict[str, str], item, **extra) -> dict[str, float]:
    n = len(replies)
    paid = reward(prompts=[None] * n, completions=list(replies.values()), completion_ids=[None] * n,
                  appropriateness=[item.appropriateness] * n, rationale=[item.rationale] * n, **extra)
    return dict(zip(replies, paid, strict=True))


def test_only_well_formed_replies_earn_format_credit(case):
    paid = pay(format_reward, audit_replies(*case), case[0])
    assert {name for name, value in paid.items() if value == 1.0} == {
        "right, well formed", "all three categories in one answer", "empty think",
        "long think copied from the prompt", "right, unrelated reasoning", "wrong, gold reasoning"}


def test_stuffed_and_malformed_replies_earn_no_answer_credit(case):
    paid = pay(appropriateness_answer_reward, audit_replies(*case), case[0])
    for hack in ("right, no tags", "tags in the wrong order", "two answer tags", "all three categories in one answer",
                 "wrong, gold reasoning"):
        assert paid[hack] == 0.0, hack
    for honest in ("right, well formed", "empty think", "right, unrelated reasoning"):
        assert paid[honest] == 1.0, honest


def test_chat_message_completions_are_read_like_strings(case):
    item, other = case
    replies = audit_replies(item, other)
    as_messages = {name: [{"role": "assistant", "content": text}] for name, text in replies.items()}
    for reward in (format_reward, appropriateness_answer_reward):
        assert pay(reward, as_messages, item) == pay(reward, replies, item)


def test_the_embedding_reward_pays_gold_reasoning_above_unrelated_and_nothing_for_a_wrong_answer(case):
    paid = pay(embedding_reward, audit_replies(*case), case[0])
    assert paid["right, well formed"] > 0.9  # the gold rationale itself
    assert paid["right, well formed"] > paid["right, unrelated reasoning"] + 0.2
    assert paid["right, unrelated reasoning"] > 0  # a right answer always earns something
    assert paid["wrong, gold reasoning"] == 0.0 and paid["all three categories in one answer"] == 0.0
    assert all(0 <= value <= 1 for value in paid.values())


class DigitJudge(torch.nn.Module):
    """A judge whose next token, whatever it reads, is the digit `favourite` (with a little of
    `runner_up`): what the score reader does with known probabilities."""

    def __init__(self, digit_ids, favourite: int, runner_up: int):
        super().__init__()
        self.digit_ids, self.favourite, self.runner_up = digit_ids, favourite, runner_up
        self.device = torch.device("cpu")

    def forward(self, input_ids, attention_mask, position_ids, logits_to_keep):
        logits = torch.full((len(input_ids), 1, 4096), -30.0)
        logits[:, :, self.digit_ids[self.favourite]] = 1.0 + torch.log(torch.tensor(3.0))  # 3 : 1 odds
        logits[:, :, self.digit_ids[self.runner_up]] = 1.0
        return type("Output", (), {"logits": logits})()


def test_the_judge_score_is_the_expected_digit_over_nine(small_model):
    from transformers import AutoTokenizer

    from medlab.rewards import digit_token_ids

    tokenizer = AutoTokenizer.from_pretrained(small_model)
    judge = DigitJudge(digit_token_ids(tokenizer), favourite=9, runner_up=1)
    scores = judge_scores(judge, tokenizer, ["a reference"] * 3, ["one", "two", "three"], batch_size=2)
    assert scores == pytest.approx([(0.75 * 9 + 0.25 * 1) / 9] * 3)


def test_the_judge_reward_pays_nothing_for_a_malformed_reply(small_model, case):
    from transformers import AutoTokenizer

    from medlab.rewards import digit_token_ids

    tokenizer = AutoTokenizer.from_pretrained(small_model)
    reward = make_judge_reward(DigitJudge(digit_token_ids(tokenizer), favourite=6, runner_up=6), tokenizer)
    assert reward.__name__ == "judge_reward"  # TRL logs each reward under its function's name
    paid = pay(reward, audit_replies(*case), case[0])
    assert paid["right, no tags"] == 0.0 and paid["tags in the wrong order"] == 0.0
    assert paid["right, well formed"] == pytest.approx(6 / 9)


def test_the_mcq_reward_pays_only_an_exact_answer():
    options = {"A": "Aspirin", "B": "Heparin", "C": "Observation", "D": "Surgery"}
    replies = ["Answer: Heparin", "Answer: B", "Answer: Aspirin", "Answer: Heparin Answer: Aspirin",
               "Answer: Heparin, then more", "Heparin"]
    assert mcq_reward(replies, answer=["B"] * 6, options=[options] * 6) == [1.0, 1.0, 0.1, 0.0, 0.0, 0.0]
