"""Kept replies: the same weights asked the same prompts are read back, anything else is asked."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from medlab import evaluation
from medlab.data import sources
from medlab.profiles import load_profile

PROFILE = load_profile("tiny")


@pytest.fixture
def course(scratch_course):
    return scratch_course


@pytest.fixture
def adapted(small_model):
    """The small pocket model with a LoRA adapter whose B matrices are not zero, so it changes replies."""
    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(small_model),
                           LoraConfig(r=4, target_modules=["q_proj", "v_proj"])).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    return model, AutoTokenizer.from_pretrained(small_model)


@pytest.fixture
def counted(monkeypatch):
    """How many prompts `evaluate` sent to the model."""
    asked = []
    real = evaluation.generate

    def generate(model, tokenizer, conversations, *args, **kwargs):
        asked.extend(conversations)
        return real(model, tokenizer, conversations, *args, **kwargs)

    monkeypatch.setattr(evaluation, "generate", generate)
    return asked


def items():
    return sources.splits("triage", PROFILE, 0).test[:6]


def test_the_same_weights_and_prompts_are_read_back(course, adapted, counted):
    model, tokenizer = adapted
    first = evaluation.evaluate(model, tokenizer, "triage", items(), PROFILE, "adapter")
    again = evaluation.evaluate(model, tokenizer, "triage", items(), PROFILE, "adapter again")
    assert len(counted) == 6  # asked once
    assert again.replies == first.replies and again.metrics == first.metrics
    assert first.extras["reused"] is None and again.extras["reused"]


def test_other_weights_prompts_modes_or_batches_are_asked(course, adapted, counted):
    model, tokenizer = adapted
    evaluation.evaluate(model, tokenizer, "triage", items(), PROFILE, "adapter")
    evaluation.evaluate(model, tokenizer, "triage", items()[:5], PROFILE, "fewer prompts")
    evaluation.evaluate(model, tokenizer, "triage", items(), PROFILE, "thinking off", enable_thinking=False)
    evaluation.evaluate(model, tokenizer, "triage", items(), PROFILE, "other batches", batch_size=2)
    with torch.no_grad():
        next(p for name, p in model.named_parameters() if "lora_B" in name).add_(0.1)
    evaluation.evaluate(model, tokenizer, "triage", items(), PROFILE, "retrained")
    assert len(counted) == 6 + 5 + 6 + 6 + 6


def test_keep_false_neither_reads_nor_writes(course, adapted, counted):
    model, tokenizer = adapted
    evaluation.evaluate(model, tokenizer, "triage", items(), PROFILE, "adapter", keep=False)
    evaluation.evaluate(model, tokenizer, "triage", items(), PROFILE, "adapter", keep=False)
    assert len(counted) == 12
    assert not (course / "runs" / "tiny" / "replies").exists()
