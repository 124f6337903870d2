"""The evaluation harness end to end: gold answers parse back, generation batching is exact."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from medlab import prompts
from medlab.data import sources
from medlab.evaluation import TASKS, score
from medlab.generation import Sampling, generate, render_prompts
from medlab.profiles import load_profile


@pytest.fixture(scope="module")
def eval_sets():
    return sources.eval_sets(load_profile("tiny"))


GOLD_REPLY = {
    "medqa": prompts.mcq_target, "medmcqa": prompts.mcq_target,
    "imaging": lambda i: prompts.tagged(i.rationale, i.appropriateness),
    "imaging_citations": lambda i: prompts.tagged(i.rationale, i.appropriateness),
    "triage": lambda r: prompts.tagged("\n".join(r.trail) or "steps", f"ESI {r.level}"),
    "reasoning": lambda n: prompts.to_target_text(n),
}


@pytest.mark.parametrize("task_name", sorted(TASKS))
def test_the_answer_format_the_course_teaches_scores_perfectly(task_name, eval_sets):
    task, items = TASKS[task_name], eval_sets[task_name][:12]
    replies = [GOLD_REPLY[task_name](i) for i in items]
    pred = [task.parse(r, i) for r, i in zip(replies, items, strict=True)]
    scores = score(task, items, replies, [task.gold(i) for i in items], pred)
    assert scores[task.headline][0] == 1.0
    assert scores["format_rate"][0] == 1.0 and scores["no_parse"][0] == 0.0
    assert all(task.format_ok(r) for r in replies)


@pytest.mark.parametrize("task_name", sorted(TASKS))
def test_garbage_replies_score_zero_without_crashing(task_name, eval_sets):
    task, items = TASKS[task_name], eval_sets[task_name][:6]
    replies = ["", "???", "<answer></answer>", "lorem ipsum", "\n\n", "<think>"][: len(items)]
    pred = [task.parse(r, i) for r, i in zip(replies, items, strict=True)]
    scores = score(task, items, replies, [task.gold(i) for i in items], pred)
    assert scores["no_parse"][0] == 1.0 and scores["format_rate"][0] == 0.0


@pytest.fixture(scope="module")
def small_lm(small_model):
    return AutoModelForCausalLM.from_pretrained(small_model).eval(), AutoTokenizer.from_pretrained(small_model)


def test_batched_rounds_give_the_same_greedy_replies_as_one_at_a_time(small_lm, eval_sets):
    model, tokenizer = small_lm
    conversations = [TASKS["triage"].messages(r) for r in eval_sets["triage"][:10]]
    sampling = Sampling(max_new_tokens=40)
    one_by_one = generate(model, tokenizer, conversations, sampling, batch_size=1, first_round=10**6)
    batched = generate(model, tokenizer, conversations, sampling, batch_size=4, first_round=8)
    assert batched == one_by_one
    assert all(isinstance(r, str) for r in batched) and any(batched)


def test_replies_are_capped_and_the_thinking_switch_reaches_the_template(small_lm, eval_sets):
    model, tokenizer = small_lm
    conversation = [TASKS["triage"].messages(eval_sets["triage"][0])]
    reply = generate(model, tokenizer, conversation, Sampling(max_new_tokens=5))[0]
    assert len(tokenizer(reply, add_special_tokens=False)["input_ids"]) <= 6
    on, off = (render_prompts(tokenizer, conversation, flag)[0] for flag in (True, False))
    assert off == on + "<think>\n\n</think>\n"


def test_sampling_is_seeded(small_lm, eval_sets):
    model, tokenizer = small_lm
    conversations = [TASKS["medqa"].messages(i) for i in eval_sets["medqa"][:4]]
    sampling = Sampling(max_new_tokens=12, do_sample=True, temperature=1.0)
    torch.manual_seed(3)
    first = generate(model, tokenizer, conversations, sampling)
    torch.manual_seed(3)
    assert generate(model, tokenizer, conversations, sampling) == first


def lora_on(model, seed: int = 0):
    """`model` (a fresh copy) with a LoRA adapter on every linear layer and a nonzero B, so the
    adapter changes what the model says."""
    import copy

    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(copy.deepcopy(model), LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.2)
    return peft_model.eval()


def test_generation_merges_the_adapter_and_gives_the_base_weights_back_bit_for_bit(small_lm, eval_sets,
                                                                                    monkeypatch):
    from contextlib import nullcontext

    import medlab.generation as generation

    model, tokenizer = small_lm
    peft_model = lora_on(model)
    conversations = [TASKS["triage"].messages(r) for r in eval_sets["triage"][:8]]
    sampling = Sampling(max_new_tokens=24)
    before = {name: p.detach().clone() for name, p in peft_model.state_dict().items()}
    assert len(generation.exactly_mergeable(peft_model)) > 0  # float32 and plain Linear: merged

    merged = generate(peft_model, tokenizer, conversations, sampling)
    after = peft_model.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)
    assert not any(layer.merged for layer in generation.exactly_mergeable(peft_model))

    monkeypatch.setattr(generation, "lora_merged", lambda _: nullcontext())
    assert generate(peft_model, tokenizer, conversations, sampling) == merged  # the same replies unmerged
    with peft_model.disable_adapter():
        assert generation.exactly_mergeable(peft_model) == []  # the base model's turn: nothing merged in


def test_a_half_precision_or_adapter_free_model_is_not_merged(small_lm):
    from medlab.generation import exactly_mergeable

    model, _ = small_lm
    assert exactly_mergeable(model) == []
    assert exactly_mergeable(lora_on(model).to(torch.bfloat16)) == []
