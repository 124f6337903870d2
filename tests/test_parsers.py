"""Parsers on what models really write, garbage and empty strings included."""

import pytest

from medlab.parsers import (
    answer_span,
    has_think_answer_format,
    parse_appropriateness,
    parse_diagnosis,
    parse_esi,
    parse_evidence,
    parse_mcq,
    reasoning_span,
)

OPTIONS = {"A": "Pericarditis", "B": "Inferior myocardial infarction", "C": "Aortic dissection",
           "D": "Pulmonary embolism"}


@pytest.mark.parametrize(("reply", "expected"), [
    ("B", "B"), ("(B)", "B"), ("B)", "B"), ("B.", "B"), ("b", "B"),
    ("Answer: C", "C"), ("answer:D", "D"), ("The answer is (A).", "A"), ("The answer is B because", "B"),
    ("Answer: B. Inferior myocardial infarction", "B"),
    ("Answer: Inferior myocardial infarction (B)", "B"), ("Answer: Aortic dissection (C).", "C"),
    ("Answer: Pericarditis (D)", "D"),  # a wrong letter is a wrong answer, whatever the text says
    ("<think>ST elevation inferiorly</think><answer>B</answer>", "B"),
    ("I think option D fits best.", "D"),
    ("This is an inferior myocardial infarction.", "B"),  # the option text alone
    ("Aortic dissection", "C"),
    ("", None), (None, None), ("???", None), ("E", None), ("Answer: E", None),
    ("Either pericarditis or aortic dissection", None),  # two options named: refuse to guess
    ("patient presents with chest pain HR 110", None),
])
def test_mcq(reply, expected):
    assert parse_mcq(reply, OPTIONS) == expected


@pytest.mark.parametrize(("reply", "expected"), [
    ("ESI 2", 2), ("esi-3", 3), ("ESI level: 1", 1), ("Level 4", 4), ("Triage level 5.", 5), ("2", 2),
    ("<think>A: no\nB: pain 8/10 -> ESI 2</think>\n<answer>ESI 2</answer>", 2),
    ("ESI 3 at first, but on reflection ESI 2", 2),  # the last level stated is the answer
    ("<answer>Level 1</answer>", 1),
    ("", None), (None, None), ("ESI 6", None), ("level 0", None), ("HR 120, RR 22, SpO2 93%", None),
    ("<answer></answer>", None),
])
def test_esi(reply, expected):
    assert parse_esi(reply) == expected


@pytest.mark.parametrize(("reply", "expected"), [
    ("<answer>Usually Appropriate</answer>", "Usually Appropriate"),
    ("<answer>usually not appropriate</answer>", "Usually Not Appropriate"),
    ("This may be appropriate in some patients", "May Be Appropriate"),
    ("May Be Appropriate (Disagreement)", "May Be Appropriate"),
    ("<think>usually appropriate for adults</think><answer>Usually Not Appropriate</answer>",
     "Usually Not Appropriate"),  # the answer tag wins over words in the reasoning
    ("appropriate", None), ("", None), (None, None),
])
def test_appropriateness(reply, expected):
    assert parse_appropriateness(reply) == expected


def test_diagnosis_and_evidence():
    reply = ("FINAL DIAGNOSIS: Pulmonary embolism.\nStep 1: Travel raises risk\nSupporting evidence: a 12-hour "
             "flight\nStep 2: CT shows clots\nsupporting evidence:  filling defects ")
    assert parse_diagnosis(reply) == "Pulmonary embolism"
    assert parse_evidence(reply) == ["a 12-hour flight", "filling defects"]
    assert parse_diagnosis("The diagnosis is PE") is None
    assert parse_diagnosis("") is None and parse_diagnosis(None) is None
    assert parse_evidence(None) == []


def test_spans_and_format():
    tagged = "<think>\nstep A\n</think>\n<answer>ESI 1</answer>"
    assert answer_span(tagged) == "ESI 1" and reasoning_span(tagged) == "step A"
    assert answer_span("<answer>ESI 2") == "ESI 2"  # cut off before the closing tag
    assert has_think_answer_format(tagged)
    assert not has_think_answer_format("<answer>ESI 1</answer>")  # thinking on: the think block is the reply's
    assert not has_think_answer_format("<think>a</think><answer>1</answer> and more text")
    assert not has_think_answer_format("") and not has_think_answer_format(None)
    assert reasoning_span("no tags") == "" and reasoning_span("why <answer>2</answer>") == "why"


SIMPLE_REPLIES = ["<think>a</think><answer>ESI 2</answer>", "<think></think><answer>ESI 2</answer>",
                  "<think>a</think><answer>ESI 2</answer><answer>ESI 3</answer>",
                  "<THINK>a</THINK><ANSWER>ESI 2</ANSWER>", "<think>a<think>b</think></think><answer>ESI 2</answer>",
                  "<answer>ESI 2</answer>", "ESI 2"]


def test_evaluation_and_the_rewards_agree_on_what_is_well_formed():
    from medlab.evaluation import TASKS
    from medlab.rewards import format_reward, triage_reward

    for task in ("triage", "imaging"):
        assert [TASKS[task].format_ok(r) for r in SIMPLE_REPLIES] == [f == 1.0 for f in format_reward(SIMPLE_REPLIES)]
    paid = triage_reward(SIMPLE_REPLIES, level=[2] * 7, narrative=["Cough."] * 7)
    assert [p != -2.0 for p in paid] == [TASKS["triage"].format_ok(r) for r in SIMPLE_REPLIES]


def test_a_thinking_off_reply_is_read_after_the_prompts_empty_think_block():
    from types import SimpleNamespace

    from medlab.evaluation import evaluate_replies

    items = [SimpleNamespace(level=2, trail=[])] * 2
    off = evaluate_replies("triage", items, ["<answer>ESI 2</answer>"] * 2, "off", thinking=False)
    on = evaluate_replies("triage", items, ["<answer>ESI 2</answer>"] * 2, "on")
    assert off.metrics["format_rate"][0] == 1.0 and on.metrics["format_rate"][0] == 0.0


def test_a_thinking_off_reply_that_reasons_anyway_is_counted_and_its_answer_still_read():
    from types import SimpleNamespace

    from medlab.evaluation import evaluate_replies

    # what a model trained only with thinking on writes after the prompt's empty think block
    anyway = "A: no life-saving intervention needed\nC: resources 0 -> ESI 5\n</think>\n<answer>ESI 2</answer>"
    items = [SimpleNamespace(level=2, trail=[])] * 4
    off = evaluate_replies("triage", items, [anyway] * 3 + ["<answer>ESI 2</answer>"], "off", thinking=False)
    assert off.metrics["reasoned_anyway"][0] == 0.75
    assert off.metrics["format_rate"][0] == 0.25 and off.metrics["no_parse"][0] == 0.0
    assert "reasoned_anyway" not in evaluate_replies("triage", items, [anyway] * 4, "on").metrics  # on: it should
    no_reasoning = ["</think><answer>ESI 2</answer>", "<think></think><answer>ESI 2</answer>"] * 2
    closed_only = evaluate_replies("triage", items, no_reasoning, "off", thinking=False)
    assert closed_only.metrics["reasoned_anyway"][0] == 0.0  # a stray tag or an empty block is no reasoning


def test_the_mcq_format_and_the_mcq_reward_read_one_answer_line():
    from medlab.evaluation import answer_line_format
    from medlab.rewards import mcq_reward

    options = {"A": "Aspirin", "B": "Heparin", "C": "Observation", "D": "Surgery"}
    replies = ["Answer: B", " answer:heparin ", "Answer: B\nbecause", "Answer:", "B", "Answer: E"]
    paid = mcq_reward(replies, answer=["B"] * 6, options=[options] * 6)
    assert [answer_line_format(r) for r in replies] == [True, True, False, False, False, True]
    assert paid == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]  # "Answer: E" keeps the format and names no option
