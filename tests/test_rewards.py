"""The reward audit: hand-written replies, and the orderings that stop reward hacking.

Each reward is a plain function (TRL's signature); these tests feed it replies a policy could
learn to write and check what it pays before any training trusts it.
"""

import pytest
import torch

from medlab import prompts
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
    triage_reward,
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
    asked = [prompts.imaging_messages(item, citations=True)] * n  # what TRL passes as `prompts`
    paid = reward(prompts=asked, completions=list(replies.values()), completion_ids=[None] * n,
                  appropriateness=[item.appropriateness] * n, rationale=[item.rationale] * n, **extra)
    return dict(zip(replies, paid, strict=True))


def test_only_well_formed_replies_earn_format_credit(case):
    paid = pay(format_reward, audit_replies(*case), case[0])
    assert {name for name, value in paid.items() if value == 1.0} == {
        "right, well formed", "all three categories in one answer", "empty think",
        "long think copied from the prompt", "right, the scenario echoed", "right, unrelated reasoning",
        "wrong, gold reasoning"}


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


def test_the_embedding_reward_pays_almost_nothing_for_echoing_the_prompt(case):
    paid = pay(embedding_reward, audit_replies(*case), case[0])
    assert paid["right, the scenario echoed"] < 0.1 and paid["long think copied from the prompt"] < 0.1
    assert paid["right, well formed"] > 5 * max(paid["right, the scenario echoed"], 0.01)


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


class OverflowingJudge(DigitJudge):
    """A judge whose fp16 arithmetic overflowed: NaN logits, as Qwen2 models give on a T4."""

    def __call__(self, input_ids, **kwargs):
        output = super().__call__(input_ids, **kwargs)
        output.logits[1:] = float("nan")  # the second row of the batch overflowed
        return output


def test_a_judge_that_overflows_stops_instead_of_scoring_nan(small_model):
    from transformers import AutoTokenizer

    from medlab.rewards import digit_token_ids

    tokenizer = AutoTokenizer.from_pretrained(small_model)
    judge = OverflowingJudge(digit_token_ids(tokenizer), favourite=9, runner_up=1)
    with pytest.raises(FloatingPointError, match="load_judge"):
        judge_scores(judge, tokenizer, ["a reference"] * 2, ["one", "two"], batch_size=2)


@pytest.mark.parametrize(("computes", "judge_computes"), [("fp16", "fp32"), ("bf16", "bf16"), ("fp32", "fp32")])
def test_the_judge_never_computes_in_fp16(monkeypatch, computes, judge_computes):
    from medlab import models

    monkeypatch.setattr(models, "precision_for", lambda profile: profile.precision if profile.precision != "auto"
                        else computes)  # a T4 turns "auto" into fp16, an A100 into bf16
    assert models.precision_for(models.judge_profile(load_profile("t4"))) == judge_computes


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


# ---- ESI triage -----------------------------------------------------------------------------------

NEUTRAL = "A 40-year-old man presents with a sprained ankle. He is alert. Pain 3/10. Expected care: x-ray."
RULE_CASES = {  # narrative, gold level: each triggers one rule
    "life-saving": ("She was intubated by paramedics. Pain cannot be assessed.", 1),
    "open injury": ("Concern for open fracture. Pain 4/10.", 2),
    "severe pain": ("Chest pain. Pain 8/10.", 2),
}


def triage_pay(replies, gold, narrative, rule_bonuses=True):
    n = len(replies)
    return triage_reward(replies, level=[gold] * n, narrative=[narrative] * n, rule_bonuses=rule_bonuses)


def answer(level):
    return f"<think>A: no -> B: no</think>\n<answer>ESI {level}</answer>"


@pytest.mark.parametrize("reply", ["ESI 2", "<answer>ESI 2 or 3</answer>", "<answer>ESI 0</answer>",
                                   "<answer>ESI 6</answer>", "<answer>ESI 2</answer><answer>ESI 3</answer>",
                                   "<answer>ESI 2</answer><think>x</think>", "<think>x</think>", ""])
def test_no_parseable_answer_earns_exactly_minus_two(reply):
    assert triage_pay([reply], 2, NEUTRAL) == [-2.0]


def test_every_committed_answer_earns_more_than_no_answer_even_breaking_every_rule():
    everything = "Intubated. Penetrating wound. Pain 9/10."
    for gold in range(1, 6):
        for bonuses in (True, False):
            assert min(triage_pay([answer(a) for a in range(1, 6)], gold, everything, bonuses)) > -2.0


def test_exact_earns_most_and_under_triage_less_than_over_triage_at_the_same_distance():
    for gold in range(1, 6):
        paid = dict(zip(range(1, 6), triage_pay([answer(a) for a in range(1, 6)], gold, NEUTRAL), strict=True))
        assert max(paid, key=paid.get) == gold
        for distance in range(1, 5):
            over, under = gold - distance, gold + distance
            if over >= 1 and under <= 5:
                assert paid[under] < paid[over], (gold, distance)


@pytest.mark.parametrize("rule", RULE_CASES)
def test_each_rule_moves_the_reward_only_with_bonuses_on(rule):
    narrative, gold = RULE_CASES[rule]
    replies = [answer(a) for a in range(1, 6)]
    with_rules = triage_pay(replies, gold, narrative)
    without = triage_pay(replies, gold, narrative, rule_bonuses=False)
    assert without == triage_pay(replies, gold, NEUTRAL, rule_bonuses=False)  # the text alone changes nothing
    change = [round(w - o, 4) for w, o in zip(with_rules, without, strict=True)]
    expected = {"life-saving": [0.5, -0.5, -0.5, -0.5, -0.5],
                "open injury": [0.5, 0.5, -0.5, -0.5, -0.5],
                "severe pain": [0.0, 0.0, -0.5, -0.5, -0.5]}[rule]
    assert change == expected


def test_the_pain_rule_needs_gold_level_two_and_seven_or_more():
    assert triage_pay([answer(3)], 3, "Pain 9/10.") == triage_pay([answer(3)], 3, NEUTRAL)
    assert triage_pay([answer(3)], 2, "Pain 6/10.") == triage_pay([answer(3)], 2, NEUTRAL)
    assert triage_pay([answer(3)], 2, "Pain 7/10.")[0] == pytest.approx(triage_pay([answer(3)], 2, NEUTRAL)[0] - 0.5)


@pytest.mark.parametrize(("narrative", "gold", "answer"), [
    ("A fall. No open fracture on exam. Pain 5/10.", 4, 2),
    ("Syncope at work. Not intubated; alert and talking.", 3, 1),
    ("Fever. She has a tunneled central line for chemotherapy.", 2, 1),
    ("Non-penetrating blunt trauma to the flank.", 3, 2),
])
def test_a_negated_or_historical_mention_pays_no_bonus(narrative, gold, answer):
    """The audit's cases: each text names a rule's words without the rule applying, and the
    bonus used to prefer a wrong level over the gold."""
    from medlab.rewards import triggered_rules

    assert triggered_rules(narrative, gold) == []
    with_bonus, plain = (paid_for([answer, gold], gold, narrative, bonuses) for bonuses in (True, False))
    assert with_bonus == plain and with_bonus[1] > with_bonus[0]  # the gold is preferred, bonus or not


@pytest.mark.parametrize("pain", ["Pain: 8/10.", "8/10 pain.", "Pain score 9/10.", "Pain 8 out of 10."])
def test_every_written_form_of_severe_pain_triggers_the_pain_rule(pain):
    from medlab.rewards import SEVERE_PAIN_RULE, triggered_rules

    assert triggered_rules(f"Chest pain radiating to the jaw. {pain}", 2) == [SEVERE_PAIN_RULE]


def test_the_pain_field_is_read_before_the_narrative():
    from medlab.rewards import SEVERE_PAIN_RULE, triage_reward, triggered_rules

    assert triggered_rules("Chest pain. Pain cannot be assessed.", 2, pain="8") == [SEVERE_PAIN_RULE]
    replies = ["<think>x</think><answer>ESI 3</answer>"]
    assert triage_reward(replies, level=[2], narrative=["Chest pain."], pain=["9"]) == pytest.approx([0.4 - 0.5])


def paid_for(answers, gold, narrative, bonuses):
    from medlab.rewards import triage_reward

    replies = [f"<think>x</think><answer>ESI {n}</answer>" for n in answers]
    return triage_reward(replies, level=[gold] * len(replies), narrative=[narrative] * len(replies),
                         rule_bonuses=bonuses)
