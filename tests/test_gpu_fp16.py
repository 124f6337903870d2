"""The T4 recipe's precision path on a real GPU: a 4-bit base, fp16 mixed precision, float32
adapters, the grad scaler stepping. TRL 1.16's SFTTrainer and GRPOTrainer cast a quantized
model's trainable weights to bf16 in `__init__`; without `Float32Adapter` the first step fails
in the scaler (`_amp_foreach_non_finite_check_and_unscale_cuda` not implemented for BFloat16)."""

from __future__ import annotations

import importlib.util
import math
from dataclasses import replace

import pytest
import torch

pytestmark = [
    pytest.mark.skipif(not torch.cuda.is_available(),
                       reason="needs a CUDA GPU: 4-bit weights and the fp16 grad scaler exist only there"),
    pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None,
                       reason="needs bitsandbytes for 4-bit weights: pip install -e '.[gpu]'"),
]

ROWS = ["Chest pain radiating to the left arm.", "Fever and a stiff neck.", "Cough for three weeks.", "A rash."]


def t4_profile(small_model):
    """The t4 profile on the small pocket model, fp16 forced: an H100 would otherwise pick bf16."""
    from medlab.profiles import load_profile

    profile = load_profile("t4", small_model=str(small_model), data_source="course", offline=True)
    return replace(profile, precision="fp16")


def trainable(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def assert_trained_in_fp16(trainer, before: dict[str, torch.Tensor]) -> None:
    assert trainer.accelerator.scaler is not None, "fp16 mixed precision should use a grad scaler"
    after = trainable(trainer.model)
    assert all(p.dtype == torch.float32 for p in after.values()), "the adapter should stay float32"
    assert any(not torch.equal(before[name].cpu(), after[name].cpu()) for name in before), "the scaler never stepped"
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert losses and all(math.isfinite(loss) for loss in losses)


def test_sft_steps_in_fp16_on_a_4bit_base(small_model, scratch_course):
    from datasets import Dataset
    from trl import SFTTrainer

    from medlab.models import load_model_and_tokenizer
    from medlab.training import Float32Adapter, LoraRecipe, add_lora, sft_config, sft_rows

    profile = t4_profile(small_model)
    model, tokenizer = load_model_and_tokenizer(profile.small_model, profile)
    assert any("4bit" in type(m).__name__ for m in model.modules()), "the base should load in 4 bits"
    recipe = LoraRecipe(r=8, alpha=16, dropout=0.0, targets=("q_proj", "v_proj"), learning_rate=1e-3, epochs=1,
                        batch_size=2, grad_accum=1, max_steps=8)  # the scaler may skip its first steps
    conversations = [[{"role": "user", "content": text}, {"role": "assistant", "content": "Answer: ESI 2"}]
                     for text in ROWS]
    trainer = SFTTrainer(model=add_lora(model, recipe, profile), processing_class=tokenizer,
                         args=sft_config(profile, recipe, scratch_course / "sft", seed=0),
                         train_dataset=Dataset.from_list(sft_rows(conversations)), callbacks=[Float32Adapter()])
    before = trainable(trainer.model)
    trainer.train()
    assert_trained_in_fp16(trainer, before)


def test_grpo_steps_in_fp16_on_a_4bit_base(small_model, scratch_course):
    from datasets import Dataset
    from trl import GRPOTrainer

    from medlab.grpo import GrpoRecipe, grpo_config
    from medlab.models import load_model_and_tokenizer
    from medlab.training import Float32Adapter, LoraRecipe, add_lora

    profile = t4_profile(small_model)
    model, tokenizer = load_model_and_tokenizer(profile.small_model, profile)
    lora = LoraRecipe(r=8, alpha=16, dropout=0.0, targets=("q_proj", "v_proj"), learning_rate=1e-3, epochs=1)
    recipe = GrpoRecipe(learning_rate=1e-3, num_generations=4, prompts_per_step=2, steps=6, max_completion_length=8)

    def length_reward(completions, **kwargs):  # differs within a group: every group teaches
        return [len(c[0]["content"]) / 40 for c in completions]

    trainer = GRPOTrainer(model=add_lora(model, lora, profile), processing_class=tokenizer,
                          args=grpo_config(recipe, profile, scratch_course / "grpo", seed=0),
                          reward_funcs=[length_reward], callbacks=[Float32Adapter()],
                          train_dataset=Dataset.from_list([{"prompt": [{"role": "user", "content": t}]} for t in ROWS]))
    before = trainable(trainer.model)
    trainer.train()
    assert_trained_in_fp16(trainer, before)
