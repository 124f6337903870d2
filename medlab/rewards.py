"""Reward functions: plain functions with TRL's reward signature, used by PPO and GRPO alike.

Each takes `completions` (strings, or chat-message lists as TRL passes for chat data) and the
dataset's columns as keyword arguments, and returns one float per completion. Extra keywords
(TRL also passes `prompts` and `completion_ids`) are accepted and ignored.

Every reward here is audited on hand-written replies before any training uses it (tests and
notebook 06): a reward that pays for the wrong thing is learned as faithfully as one that pays
for the right thing.
"""

from __future__ import annotations

import re

import torch

from medlab import prompts
from medlab.data.load.appropriateness import CATEGORIES
from medlab.data.splits import normalize
from medlab.generation import left_pad, position_ids
from medlab.parsers import answer_line, think_and_answer

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


def mcq_columns(questions) -> dict[str, list]:
    """The dataset columns `mcq_reward` reads, one entry per question: its `answer` and `options`."""
    return {"answer": [q.answer for q in questions], "options": [q.options for q in questions]}


def exact_choice(reply: str, options: dict[str, str]) -> str | None:
    """The letter the reply names when it is exactly "Answer: <letter or option text>" (one
    `parsers.answer_line`, the line evaluation's format rate reads too)."""
    line = answer_line(reply)
    if line is None:
        return None
    said = normalize(line)
    for letter, text in options.items():
        if said in (letter.lower(), normalize(text)):
            return letter
    return None


# ---- think / answer replies (imaging appropriateness, triage) -------------------------------------

def format_reward(completions, **kwargs) -> list[float]:
    """1.0 for exactly one `<think>...</think>` followed by exactly one `<answer>...</answer>`
    (whitespace around them allowed), else 0.0. Pays for the shape that lets every other reward
    read the reply.

    >>> format_reward(["<think>a</think><answer>b</answer>", "<answer>b</answer>", "<think>a</think>x"])
    [1.0, 0.0, 0.0]
    """
    return [0.0 if think_and_answer(completion_text(c)) is None else 1.0 for c in completions]


def appropriateness_answer_reward(completions, appropriateness, **kwargs) -> list[float]:
    """1.0 when a well-formed reply's answer is exactly the gold category (case and spacing
    forgiven), else 0.0. An answer that names two categories, or a reply whose tags are
    malformed, earns nothing: otherwise listing every category, or dropping the format, pays.

    >>> appropriateness_answer_reward(["<think>x</think><answer> usually  appropriate </answer>",
    ...     "<think>x</think><answer>Usually Appropriate or May Be Appropriate</answer>"], ["Usually Appropriate"] * 2)
    [1.0, 0.0]
    """
    return [1.0 if chosen_category(completion_text(c)) == normalize(gold) else 0.0
            for c, gold in zip(completions, appropriateness, strict=True)]


def chosen_category(reply: str) -> str | None:
    """The normalised category a well-formed reply answers with, if it is exactly one of them."""
    parts = think_and_answer(reply)
    if parts is None:
        return None
    said = normalize(parts[1])
    return said if said in {normalize(c) for c in CATEGORIES} else None


def embedding_reward(completions, appropriateness, rationale, prompts, **kwargs) -> list[float]:
    """The card's "custom embedding" reward, paying for what the reasoning adds to the prompt.

    0.0 unless the answer is right. Then, with cosines of all-MiniLM-L6-v2 embeddings to the gold
    rationale, (cos(think block) - cos(prompt)) / (1 - cos(prompt)): the share of the distance
    the prompt left to the gold that the think block covers, floored at 0.01 so that a right
    answer always earns something. The plain cosine paid for echoing the prompt ("For <scenario>,
    <procedure>." earned 0.81 against 0.83 for real reasoning); measured on 40 test pairs, this
    one pays 0.01 for a copy of the prompt and 0.03 for an echo of its scenario, against 1.0 for
    the gold and 0.46 for another condition's rationale. `prompts` are what TRL passes: each a
    conversation (its last user turn is read) or a string."""
    from medlab.metrics import embedding_cosine  # the embedder loads once, on first use

    replies = [completion_text(c) for c in completions]
    right = [bool(r) for r in appropriateness_answer_reward(replies, appropriateness)]

    def gains(idx: list[int], thinks: list[str]) -> list[float]:
        golds = [rationale[i] for i in idx]
        written = embedding_cosine(golds, thinks)
        given = embedding_cosine(golds, [prompt_text(prompts[i]) for i in idx])
        return [min(max((w - g) / max(1 - g, 1e-6), 0.01), 1.0) for w, g in zip(written, given, strict=True)]

    return score_think_blocks(replies, right, gains)


def prompt_text(prompt) -> str:
    """The text a prompt asked: the last user turn of a conversation, or the string itself."""
    if isinstance(prompt, str):
        return prompt
    return next(m["content"] for m in reversed(prompt) if m.get("role") == "user")


def score_think_blocks(replies: list[str], eligible: list[bool], score) -> list[float]:
    """0.0 for each reply that is not `eligible`; for the others, `score(indices, think_blocks)`,
    called once for all of them so that a model scores them as one batch."""
    chosen = [i for i, ok in enumerate(eligible) if ok]
    rewards = [0.0] * len(replies)
    for i, value in zip(chosen, score(chosen, [think_and_answer(replies[i])[0] for i in chosen]), strict=True):
        rewards[i] = value
    return rewards


def audit_replies(item, other) -> dict[str, str]:
    """Hand-written replies to imaging `item` that a policy could learn to write, by name: the
    honest one, the malformed ones, the hacks. `other` is an item of another condition and
    category, whose rationale stands for unrelated reasoning. Audited in tests and notebook 06.
    """
    gold, wrong = item.appropriateness, other.appropriateness
    question = prompts.imaging_prompt(item)
    return {
        "right, well formed": f"<think>{item.rationale}</think>\n<answer>{gold}</answer>",
        "right, no tags": f"{item.rationale} {gold}",
        "tags in the wrong order": f"<answer>{gold}</answer>\n<think>{item.rationale}</think>",
        "two answer tags": f"<think>{item.rationale}</think><answer>{wrong}</answer><answer>{gold}</answer>",
        "all three categories in one answer": f"<think>{item.rationale}</think>"
                                              "<answer>Usually Appropriate, May Be Appropriate, "
                                              "Usually Not Appropriate</answer>",
        "empty think": f"<think></think><answer>{gold}</answer>",
        "long think copied from the prompt": f"<think>{question * 3}</think><answer>{gold}</answer>",
        "right, the scenario echoed": f"<think>For {item.variant}, {item.procedure}.</think><answer>{gold}</answer>",
        "right, unrelated reasoning": f"<think>{other.rationale}</think><answer>{gold}</answer>",
        "wrong, gold reasoning": f"<think>{item.rationale}</think><answer>{wrong}</answer>",
    }


# ---- ESI triage --------------------------------------------------------------------------------

TRIAGE_NO_ANSWER = -2.0
"""Below every committed answer, however wrong: the ESI system raised it from -0.5 to -2.0 once
its policy learned that saying nothing cost less than a wrong level."""
TRIAGE_EXACT, OVER_STEP, UNDER_STEP = 1.0, 0.4, 0.6
"""Exact earns 1.0; each level of over-triage (more urgent than the gold) costs 0.4, each level of
under-triage 0.6: sending a sick patient to wait is the error that harms, so at the same
distance it earns less. Under by 4 is -1.4, over by 4 is -0.6."""
RULE_BONUS = 0.5
"""Added when a rule the case text triggers agrees with the answer, subtracted when it does not:
half an exact answer, enough to decide between neighbouring levels, too little to outweigh a
level that is wrong by two (where the text and the gold level agree, as in the course's cases)."""
PARSED_FLOOR = -1.9
"""A committed answer never earns as little as no answer, whatever rules it breaks."""
ESI_ANSWER = re.compile(r"\s*ESI\s*([1-5])\s*", re.I)
"""The inside of a triage answer block: exactly `ESI n`."""
LIFE_SAVING_TEXT = re.compile(r"intubat|chest tube|central line", re.I)
OPEN_INJURY_TEXT = re.compile(r"open fracture|penetrating", re.I)
NEGATED = re.compile(r"\b(?:no|not|without|denies|never|non)\b[\s-]*(?:\w+[\s-]+){0,3}$", re.I)
"""A negation cue up to three words before a rule's words: "no open fracture", "not intubated",
"non-penetrating", "without a chest tube"."""
IN_PLACE_BEFORE = re.compile(r"tunnel|indwelling|chronic|long-term|history of|for (?:chemo|dialysis|nutrition)", re.I)
"""Words that make a line or tube part of the history, not an intervention done for this visit:
"a tunneled central line for chemotherapy" says nothing about how sick the patient is now."""
PAIN_FORMS = (
    re.compile(r"\bpain(?:\s+score)?(?:\s+(?:of|is|was))?\s*[:=]?\s*(\d{1,2})\s*(?:/\s*10|out\s+of\s+10)", re.I),
    re.compile(r"\b(\d{1,2})\s*(?:/\s*10|out\s+of\s+10)\s+pain\b", re.I),
)
"""Pain as triage notes write it: "Pain 8/10", "Pain: 8/10", "pain score 9/10", "pain 8 out of
10", "8/10 pain"."""


def triage_answer(reply: str) -> int | None:
    """The ESI level of a well-formed reply (`parsers.think_and_answer`, the reader evaluation's
    format rate uses) whose answer block is exactly `ESI n`; else None.

    >>> [triage_answer(r) for r in ["<think>x</think><answer>ESI 2</answer>", "<think></think><answer>esi 5</answer>",
    ...                             "<think>x</think><answer>ESI 2 or 3</answer>", "<answer>ESI 2</answer>"]]
    [2, 5, None, None]
    """
    parts = think_and_answer(reply)
    match = ESI_ANSWER.fullmatch(parts[1]) if parts else None
    return None if match is None else int(match.group(1))


def triage_reward(completions, level, narrative, pain=None, rule_bonuses: bool = True,
                  no_answer: float = TRIAGE_NO_ANSWER, **kwargs) -> list[float]:
    """The ESI system's reward, one float per reply.

    No answer in the exact format: `no_answer` (-2.0). Otherwise 1.0 for the gold level, less 0.4 per level of
    over-triage and 0.6 per level of under-triage. With `rule_bonuses`, three rules read from the
    case text add or take away 0.5 (`rule_adjustment`). A committed answer never earns -2.0 or less.

    >>> replies = [f"<think>x</think><answer>ESI {n}</answer>" for n in (2, 1, 3)] + ["no"]
    >>> triage_reward(replies, level=[2] * 4, narrative=["Pain 3/10."] * 4)
    [1.0, 0.6, 0.4, -2.0]
    """
    rewards = []
    pain = pain if pain is not None else [""] * len(level)  # each case's pain field, where the data has one
    for completion, gold, text, pain_text in zip(completions, level, narrative, pain, strict=True):
        answer = triage_answer(completion_text(completion))
        if answer is None:
            rewards.append(no_answer)
            continue
        distance = answer - gold  # > 0: less urgent than the gold, under-triage
        reward = TRIAGE_EXACT - (UNDER_STEP * distance if distance > 0 else OVER_STEP * -distance)
        if rule_bonuses:
            reward += rule_adjustment(text, gold, answer, pain_text)
        rewards.append(round(max(reward, PARSED_FLOOR), 4))
    return rewards


def triage_reward_no_bonus(completions, level, narrative, **kwargs) -> list[float]:
    """`triage_reward` with the rule bonuses off: 07's ablation, under its own name in TRL's logs."""
    return triage_reward(completions, level, narrative, **{**kwargs, "rule_bonuses": False})


LIFE_SAVING_RULE, OPEN_INJURY_RULE, SEVERE_PAIN_RULE = ("life-saving intervention placed", "open injury",
                                                       "severe pain")
"""The three rules' names, as the rule probes (data/triage/rule_probes.jsonl) call them."""


def triggered_rules(narrative: str, gold: int, pain: str = "") -> list[str]:
    """The rules a case's text (and, for pain, its gold level) triggers:

    - an airway or line placed for this visit (`intubat`, `chest tube`, `central line`): ESI 1;
    - an open injury (`open fracture`, `penetrating`): ESI 2 or more urgent;
    - pain of 7/10 or more in a case whose gold level is 2: it must not be sent to wait.

    A mention that is negated ("no open fracture", "not intubated", "non-penetrating") triggers
    nothing, nor does a line that belongs to the history ("a tunneled central line for
    chemotherapy"). Pain is read from `pain`, the record's pain field (`TriageRecord.pain_text`),
    where there is one, else from the narrative, in the forms of `PAIN_FORMS`.

    >>> triggered_rules("Intubated en route. Pain 8/10.", 2)
    ['life-saving intervention placed', 'severe pain']
    >>> triggered_rules("No open fracture. Not intubated; alert. Non-penetrating trauma. 8/10 pain.", 3)
    []
    """
    rules = []
    if mentioned(LIFE_SAVING_TEXT, narrative, history=True):
        rules.append(LIFE_SAVING_RULE)
    if mentioned(OPEN_INJURY_TEXT, narrative):
        rules.append(OPEN_INJURY_RULE)
    score = pain_score(pain) if pain_score(pain) is not None else pain_score(narrative)
    if score is not None and score >= 7 and gold == 2:
        rules.append(SEVERE_PAIN_RULE)
    return rules


def mentioned(words: re.Pattern, text: str, history: bool = False) -> bool:
    """Does `text` state `words` as a fact of this visit: a match not negated just before it,
    and (with `history`) not in a sentence that puts it in the patient's history?"""
    for sentence in re.split(r"(?<=[.;!?])\s+", text):
        for match in words.finditer(sentence):
            if NEGATED.search(sentence[:match.start()]):
                continue
            if history and IN_PLACE_BEFORE.search(sentence):
                continue
            return True
    return False


def pain_score(text: str | None) -> int | None:
    """The pain score out of 10 a text states, or None; a bare number (a pain field) counts.

    >>> [pain_score(t) for t in ["Pain: 8/10.", "8/10 pain", "pain score 9/10", "pain 8 out of 10", "7", "cannot"]]
    [8, 8, 9, 8, 7, None]
    """
    text = (text or "").strip()
    if re.fullmatch(r"\d{1,2}(?:\s*/\s*10)?", text):
        return int(re.match(r"\d+", text).group())
    for form in PAIN_FORMS:
        match = form.search(text)
        if match:
            return int(match.group(1))
    return None


def rule_adjustment(narrative: str, gold: int, answer: int, pain: str = "") -> float:
    """+0.5 or -0.5 for each rule the case triggers (`triggered_rules`): ESI 1 for an airway or
    line placed, 1 or 2 for an open injury; the pain rule only takes away, from answers 3-5.

    >>> rule_adjustment("She was intubated by paramedics.", 1, 1), rule_adjustment("Concern for open fracture.", 2, 3)
    (0.5, -0.5)
    >>> rule_adjustment("Pain 8/10.", 2, 3), rule_adjustment("Pain 8/10.", 3, 4), rule_adjustment("Pain 3/10.", 2, 3)
    (-0.5, 0.0, 0.0)
    """
    followed = {LIFE_SAVING_RULE: answer == 1, OPEN_INJURY_RULE: answer <= 2, SEVERE_PAIN_RULE: answer <= 2}
    bonus = {LIFE_SAVING_RULE: RULE_BONUS, OPEN_INJURY_RULE: RULE_BONUS, SEVERE_PAIN_RULE: 0.0}
    return sum((bonus[rule] if followed[rule] else -RULE_BONUS for rule in triggered_rules(narrative, gold, pain)),
               0.0)


# ---- an LLM judge --------------------------------------------------------------------------------

JUDGE_INSTRUCTIONS = (
    "You grade a student's clinical reasoning against an expert's. Reply with one digit from 0 "
    "(unrelated or wrong) to 9 (says the same as the expert).")
SCORE_PREFIX = "Score: "


def judge_messages(reference: str, written: str) -> list[dict]:
    return [{"role": "system", "content": JUDGE_INSTRUCTIONS},
            {"role": "user", "content": f"Expert reasoning: {reference}\n\nStudent reasoning: {written}"}]


def judge_scores(model, tokenizer, references: list[str], written: list[str], batch_size: int = 16) -> list[float]:
    """How well each written reasoning matches its reference, in [0, 1], read from the judge's
    next-token probabilities over the digits 0-9 after "Score: ": the expected digit over 9.

    One forward pass per batch and no sampling: the same pair always gets the same score, and
    a judge torn between 3 and 7 says 5 instead of a coin flip between them."""
    prompts = [tokenizer.apply_chat_template(judge_messages(r, w), tokenize=False, add_generation_prompt=True)
               + SCORE_PREFIX for r, w in zip(references, written, strict=True)]
    digits = digit_token_ids(tokenizer)
    scores: list[float] = []
    for start in range(0, len(prompts), batch_size):
        rows = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts[start:start + batch_size]]
        ids, attention = left_pad(rows, tokenizer.pad_token_id, model.device)
        with torch.no_grad():  # position ids: a pair's score must not depend on its batch's padding
            logits = model(input_ids=ids, attention_mask=attention, position_ids=position_ids(attention),
                           logits_to_keep=1).logits[:, -1].float()
        probs = logits[:, digits].softmax(-1)  # the judge's belief over the ten scores only
        if not torch.isfinite(probs).all():  # a NaN score would read as "prefers neither" and train on noise
            raise FloatingPointError(
                f"the judge gave non-finite scores to pairs {start}-{start + len(rows) - 1}: its arithmetic "
                "overflowed. Load it with medlab.models.load_judge, which computes in fp32 where the GPU has no bf16")
        scores += (probs @ torch.arange(10.0, device=probs.device) / 9).tolist()
    return scores


def digit_token_ids(tokenizer) -> list[int]:
    """The token that follows "Score: " for each digit 0-9, in this tokenizer."""
    prefix = tokenizer(SCORE_PREFIX, add_special_tokens=False)["input_ids"]
    ids = []
    for digit in "0123456789":
        full = tokenizer(SCORE_PREFIX + digit, add_special_tokens=False)["input_ids"]
        if full[: len(prefix)] != prefix or len(full) != len(prefix) + 1:
            raise ValueError(f"this tokenizer does not write {SCORE_PREFIX + digit!r} as the prefix and one digit "
                             "token; pick a judge whose tokenizer does (Qwen's and Llama's do)")
        ids.append(full[-1])
    return ids


def make_judge_reward(model, tokenizer, batch_size: int = 16):
    """The card's "LLM eval" reward with this judge: 0.0 for a malformed reply, else the judge's
    score of its think block against the gold rationale."""

    def judge_reward(completions, rationale, **kwargs) -> list[float]:
        replies = [completion_text(c) for c in completions]
        well_formed = [think_and_answer(r) is not None for r in replies]
        return score_think_blocks(replies, well_formed, lambda idx, thinks: judge_scores(
            model, tokenizer, [rationale[i] for i in idx], thinks, batch_size))

    return judge_reward


# ---- the rewards by the names course runs give them ------------------------------------------

REWARDS = {"mcq": mcq_reward, "format": format_reward, "answer": appropriateness_answer_reward,
           "embedding": embedding_reward, "triage": triage_reward, "triage_no_bonus": triage_reward_no_bonus}
"""Each reward function by the name `medlab.course.RUNS` gives it. "judge" is not here: it is made
from a loaded judge model by `make_judge_reward`."""
JUDGE = "judge"


def reward_functions(names, judge=None) -> list:
    """The reward functions `names` (a course run's `rewards`) stand for, in order; `judge` is the
    judge reward, needed only where "judge" is named.

    >>> [f.__name__ for f in reward_functions(("format", "answer"))]
    ['format_reward', 'appropriateness_answer_reward']
    >>> reward_functions(("format", "judge"))
    Traceback (most recent call last):
    ...
    ValueError: this run is rewarded by the judge: load it (models.load_judge), pass make_judge_reward(...)
    """
    if JUDGE in names and judge is None:
        raise ValueError("this run is rewarded by the judge: load it (models.load_judge), pass make_judge_reward(...)")
    return [judge if name == JUDGE else REWARDS[name] for name in names]
