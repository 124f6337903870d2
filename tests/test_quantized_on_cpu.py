"""The t4 profile's 4-bit path, run on a CPU through bitsandbytes' CPU backend.

Everything the t4 profile changes except the device: NF4 weights loaded by the course's loader,
paged 8-bit AdamW, gradient checkpointing, TRL's cast of the adapter to bf16 and the course's fix,
and training that moves the adapter after the model has sampled (SFT, PPO, GRPO).

Each test runs twice: in fp32, a CPU's own choice, and in fp16, the choice the t4 profile makes
on a T4 (compute capability 7.5): fp16 compute on the 4-bit weights and fp16 mixed precision,
which a CPU runs too. Only the grad scaler needs a GPU; tests/test_gpu_fp16.py covers it.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from bitsandbytes.nn import Linear4bit
from transformers import TrainerCallback

from medlab import env
from medlab.adapters import AdapterInfo
from medlab.data import sources
from medlab.env import precision_for, torch_dtype
from medlab.evaluation import TASKS
from medlab.models import generate_text, load_model, load_model_and_tokenizer
from medlab.profiles import load_profile
from medlab.training import Float32Adapter, LoraRecipe, add_lora, run_sft, sft_config, sft_rows

T4_CAPABILITY = (7, 5)
LORA = LoraRecipe(r=8, alpha=16, dropout=0.0, targets=("q_proj", "v_proj"), learning_rate=5e-3, epochs=1,
                  batch_size=4, grad_accum=1)


@pytest.fixture(params=["fp32", "fp16"], ids=["cpu-fp32", "t4-fp16"])
def precision(request, monkeypatch):
    """fp32, or fp16 as the t4 profile chooses it on a T4: the machine reports a T4's capability."""
    if request.param == "fp16":
        monkeypatch.setattr(env, "gpu_capability", lambda: T4_CAPABILITY)
    return request.param


def t4_on_cpu(small_model):
    """The t4 profile with the small pocket model, the course's data and the CPU."""
    return load_profile("t4", small_model=str(small_model), large_model=str(small_model), device="cpu",
                        data_source="course", offline=True)


def four_bit_layers(model) -> list[Linear4bit]:
    return [module for module in model.modules() if isinstance(module, Linear4bit)]


def medqa_conversations(count: int, with_answer: bool) -> list[list[dict]]:
    items = sources.splits("medqa", load_profile("tiny"), seed=0).train[:count]
    return [TASKS["medqa"].messages(item, with_answer=with_answer) for item in items]


def adapter_weights(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def moved(before: dict[str, torch.Tensor], model) -> set[str]:
    """The adapter tensors whose values changed since `before`."""
    return {name for name, p in model.named_parameters() if name in before and not torch.equal(before[name], p)}


def reply_length(completions, **kwargs) -> list[float]:
    """A reward that differs between replies, so every update has an advantage to follow."""
    return [len(completion if isinstance(completion, str) else completion[0]["content"]) / 50
            for completion in completions]


def sample_once(model, tokenizer) -> None:
    """Generation in eval mode without gradients: where bitsandbytes would repack 4-bit weights."""
    model.eval()
    generate_text(model, tokenizer, "A 64-year-old woman with chest pain", max_new_tokens=4)


class SeenAtStep(TrainerCallback):
    """Which optimiser trains (library, state bits, paged), and the adapter's dtypes just before
    each optimiser step."""

    def __init__(self):
        self.dtypes, self.optimizer = set(), None

    def on_train_begin(self, args, state, control, optimizer=None, **kwargs):
        inner = getattr(optimizer, "optimizer", optimizer)  # accelerate wraps the optimiser
        library = type(inner).__module__.split(".")[0]
        bits = inner.args.optim_bits if hasattr(inner, "args") else 32
        self.optimizer = (library, bits, getattr(inner, "is_paged", False))

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        self.dtypes |= {p.dtype for p in model.parameters() if p.requires_grad}


# ---- loading --------------------------------------------------------------------------------------

def test_the_loader_holds_every_block_linear_layer_in_nf4(small_model, precision):
    profile = t4_on_cpu(small_model)
    assert precision_for(profile) == precision
    model = load_model(profile.small_model, profile)
    layers = four_bit_layers(model)
    per_block = 7  # q, k, v, o, gate, up, down; the output head stays unquantized, as bitsandbytes leaves it
    assert len(layers) == per_block * model.config.num_hidden_layers
    assert {layer.weight.quant_type for layer in layers} == {"nf4"}
    assert {layer.compute_dtype for layer in layers} == {torch_dtype(precision)}
    assert not any(layer.support_avx512bf16_for_cpu for layer in layers), "sampling would freeze the layers"


# ---- SFT: TRL's bf16 cast, and learning after sampling ---------------------------------------------

def test_sft_trainer_casts_a_4bit_models_adapter_to_bf16_and_float32adapter_undoes_it(small_model, scratch_course):
    from datasets import Dataset
    from trl import SFTTrainer

    profile = t4_on_cpu(small_model)
    rows = Dataset.from_list(sft_rows(medqa_conversations(4, with_answer=True)))

    def trainer(callbacks):
        model, tokenizer = load_model_and_tokenizer(profile.small_model, profile)
        return SFTTrainer(model=add_lora(model, LORA, profile), processing_class=tokenizer, train_dataset=rows,
                          args=sft_config(profile, LORA, scratch_course / "sft", seed=0), callbacks=callbacks)

    def adapter_dtypes(built):
        return {p.dtype for p in built.model.parameters() if p.requires_grad}

    assert adapter_dtypes(trainer([])) == {torch.bfloat16}  # the trap, on real 4-bit weights
    assert adapter_dtypes(trainer([Float32Adapter()])) == {torch.float32}


def test_grpo_trainer_casts_the_same_way_and_float32adapter_undoes_it(small_model, scratch_course):
    from datasets import Dataset
    from trl import GRPOTrainer

    from medlab.grpo import GrpoRecipe, grpo_config

    profile = t4_on_cpu(small_model)
    recipe = GrpoRecipe(learning_rate=1e-3, num_generations=4, prompts_per_step=2, steps=1, max_completion_length=8)
    rows = Dataset.from_list([{"prompt": conversation} for conversation in medqa_conversations(2, with_answer=False)])

    def adapter_dtypes(callbacks):
        model, tokenizer = load_model_and_tokenizer(profile.small_model, profile)
        trainer = GRPOTrainer(model=add_lora(model, LORA, profile), processing_class=tokenizer, train_dataset=rows,
                              args=grpo_config(recipe, profile, scratch_course / "grpo", seed=0),
                              reward_funcs=[reply_length], callbacks=callbacks)
        return {p.dtype for p in trainer.model.parameters() if p.requires_grad}

    assert adapter_dtypes([]) == {torch.bfloat16}
    assert adapter_dtypes([Float32Adapter()]) == {torch.float32}


def test_sft_on_a_4bit_base_learns_after_sampling(small_model, scratch_course, precision):
    profile = t4_on_cpu(small_model)
    model, tokenizer = load_model_and_tokenizer(profile.small_model, profile)
    sample_once(model, tokenizer)
    seen = SeenAtStep()
    recipe = LoraRecipe(**{**LORA.__dict__, "epochs": 4, "learning_rate": 2e-2})
    trained, log = run_sft(model, tokenizer, medqa_conversations(16, with_answer=True), profile, recipe,
                           AdapterInfo("sft_4bit", str(small_model), ("medqa",), "test", "sft"), callbacks=[seen])
    assert seen.optimizer == ("bitsandbytes", 8, True) and seen.dtypes == {torch.float32}
    assert trained.is_gradient_checkpointing
    losses = log["loss"]
    assert all(math.isfinite(loss) for loss in losses)
    assert sum(losses[-4:]) < 0.8 * sum(losses[:4]), losses  # the same rows, first and fourth epoch


# ---- RL: the adapter moves after the policy has sampled ---------------------------------------------

def test_ppo_on_a_4bit_base_moves_the_policy_adapter(small_model, scratch_course, precision):
    """Each PPO step samples in eval mode, then trains: without `keep_4bit_layers_trainable`, the
    sampling would leave a CPU's 4-bit layers passing no gradient to the adapter."""
    from peft import get_peft_model

    from medlab.ppo import PPOConfig, ValueHead, load_policy_and_reference, train_ppo
    from medlab.training import prepare_base

    profile = t4_on_cpu(small_model)
    base, tokenizer = load_model_and_tokenizer(profile.large_model, profile)
    get_peft_model(base, LORA.lora_config()).save_pretrained(scratch_course / "sft")  # a fresh "SFT" adapter
    model = load_policy_and_reference(prepare_base(base, profile), str(scratch_course / "sft"))
    value_head = ValueHead(model.config.hidden_size)
    before = adapter_weights(model)
    config = PPOConfig(learning_rate=1e-3, batch_size=8, minibatch_size=4, ppo_epochs=1, max_new_tokens=12)
    log = train_ppo(model, value_head, tokenizer, medqa_conversations(8, with_answer=False), {}, reply_length,
                    config, steps=3, log_path=scratch_course / "ppo.json", checkpoints=scratch_course / "ppo")
    assert moved(before, model) == set(before), "every policy adapter tensor should train"
    assert all(math.isfinite(value) for key in ("policy_loss", "value_loss", "kl") for value in log[key])
    assert all(value != 0 for value in log["kl"][1:]), "after the first update the policy should leave its reference"
    assert all(p.dtype == torch.float32 for p in model.parameters() if p.requires_grad)


def test_grpo_on_a_4bit_base_moves_the_adapter(small_model, scratch_course, precision):
    from medlab.grpo import GrpoRecipe, grpo_config, run_grpo

    profile = t4_on_cpu(small_model)
    model, tokenizer = load_model_and_tokenizer(profile.small_model, profile)
    model = add_lora(model, LORA, profile)
    sample_once(model, tokenizer)
    before = adapter_weights(model)
    recipe = GrpoRecipe(learning_rate=1e-3, num_generations=4, prompts_per_step=2, steps=3, max_completion_length=12)
    rows = [{"prompt": conversation} for conversation in medqa_conversations(6, with_answer=False)]
    args = grpo_config(recipe, profile, scratch_course / "grpo", seed=0)
    log, _ = run_grpo(model, tokenizer, rows, [reply_length], args, profile,
                      AdapterInfo("grpo_4bit", str(small_model), ("medqa",), "test", "grpo"))
    assert moved(before, model) == set(before), "every adapter tensor should train"
    assert all(math.isfinite(loss) for loss in log["loss"])
    assert all(p.dtype == torch.float32 for p in model.parameters() if p.requires_grad)
    assert Path(scratch_course / "runs" / "t4" / "adapters" / "grpo_4bit").is_dir()
