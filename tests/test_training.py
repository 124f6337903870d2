"""LoRA SFT machinery: float32 adapters, the monitor's log, and resuming an interrupted run."""

import json
from dataclasses import replace

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback

from medlab import prompts
from medlab.adapters import META, AdapterInfo, find_adapters
from medlab.data import sources
from medlab.profiles import load_profile
from medlab.runlog import runs_dir
from medlab.training import Float32Adapter, LoraRecipe, add_lora, run_sft, sft_config, sft_rows, upcast_trainable

RECIPE = LoraRecipe(r=4, alpha=8, dropout=0.0, targets=("q_proj", "v_proj"), learning_rate=5e-3, epochs=1,
                    batch_size=4, grad_accum=1)


@pytest.fixture
def course(scratch_course):
    """A scratch run folder; the data is still the checkout's."""
    return scratch_course


def conversations(n):
    items = sources.splits("medqa", load_profile("tiny")).train[:n]
    return [prompts.mcq_messages(i, with_answer=True) for i in items]


def test_rows_put_the_answer_in_the_completion():
    rows = sft_rows(conversations(2))
    assert [m["role"] for m in rows[0]["prompt"]] == ["system", "user"]
    assert rows[0]["completion"][0]["role"] == "assistant"
    assert rows[0]["completion"][0]["content"].startswith("Answer: ")


def test_lora_weights_are_float32_on_a_half_precision_base(small_model):
    model = AutoModelForCausalLM.from_pretrained(small_model, dtype=torch.bfloat16)
    peft_model = add_lora(model, RECIPE, load_profile("tiny"))
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    assert trainable and all(p.dtype == torch.float32 for p in trainable)
    frozen = [p for p in peft_model.parameters() if not p.requires_grad]
    assert all(p.dtype == torch.bfloat16 for p in frozen)  # the base stays as loaded
    assert upcast_trainable(peft_model) == 0  # nothing left to cast


class StopAt(TrainerCallback):
    """Simulates a crash (a dead kernel) once training reaches `step`."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt("simulated crash")


class StepsSeen(TrainerCallback):
    def __init__(self):
        self.first = None

    def on_step_end(self, args, state, control, **kwargs):
        self.first = self.first or state.global_step


def test_an_interrupted_run_resumes_from_its_last_checkpoint(course, small_model):
    profile = load_profile("tiny")
    data = conversations(40)  # 10 optimiser steps at batch 4
    info = AdapterInfo("resume_test", "pocket", ("medqa",), "test", "sft")

    def fresh():
        return AutoModelForCausalLM.from_pretrained(small_model), AutoTokenizer.from_pretrained(small_model)

    with pytest.raises(KeyboardInterrupt):
        run_sft(*fresh(), data, profile, RECIPE, info, save_steps=3, callbacks=[StopAt(7)])
    checkpoints = runs_dir("tiny") / "checkpoints" / f"resume_test-{RECIPE.key()}"
    assert sorted(p.name for p in checkpoints.glob("checkpoint-*")) == ["checkpoint-3", "checkpoint-6"]
    log_path = runs_dir("tiny") / "logs" / "resume_test.json"
    assert json.loads(log_path.read_text())["step"] == list(range(1, 7))  # the crash kept its curve so far

    seen = StepsSeen()
    model, log = run_sft(*fresh(), data, profile, RECIPE, info, save_steps=3, callbacks=[seen])
    assert seen.first == 7  # continued after checkpoint-6, not from step 1
    assert log["step"] == list(range(1, 11))  # one continuous curve, no step twice
    assert all(v is not None for v in log["loss"]) and max(log["peak_memory_mb"]) > 0
    assert not checkpoints.exists()  # removed once training finished
    saved = runs_dir("tiny") / "adapters" / "resume_test"
    assert (saved / "adapter_model.safetensors").exists() and (saved / META).exists()
    assert [a.name for a in find_adapters(profile)] == ["resume_test"]


def test_training_lowers_the_loss(course, small_model):
    profile = load_profile("tiny")
    recipe = LoraRecipe(r=8, alpha=16, dropout=0.0, targets=("q_proj", "k_proj", "v_proj", "o_proj"),
                        learning_rate=1e-2, epochs=6, batch_size=8, grad_accum=1)
    model = AutoModelForCausalLM.from_pretrained(small_model)
    tokenizer = AutoTokenizer.from_pretrained(small_model)
    _, log = run_sft(model, tokenizer, conversations(48), profile, recipe,
                     AdapterInfo("loss_test", "pocket", ("medqa",), "test", "sft"))
    assert log["loss"][-1] < 0.7 * log["loss"][0]
    assert log["tokens_per_second"][-1] > 0


class DtypesAtStep(TrainerCallback):
    """Records the dtypes of the trainable weights just before the optimiser steps."""

    def __init__(self):
        self.seen = set()

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        self.seen |= {p.dtype for p in model.parameters() if p.requires_grad}


def quantized_flagged(small_model):
    """The small model flagged as 4-bit, as bitsandbytes would leave it: what TRL checks."""
    model = AutoModelForCausalLM.from_pretrained(small_model)
    model.is_loaded_in_4bit = True
    return model


def test_sft_trainer_on_a_quantized_base_steps_with_float32_adapter_weights(course, small_model):
    from datasets import Dataset
    from trl import SFTTrainer

    profile = load_profile("tiny", load_in_4bit=True)
    recipe = replace(RECIPE, max_steps=1)
    rows = Dataset.from_list(sft_rows(conversations(8)))
    args = sft_config(profile, recipe, course / "out", seed=0)

    plain = SFTTrainer(model=add_lora(quantized_flagged(small_model), recipe, profile), args=args,
                       processing_class=AutoTokenizer.from_pretrained(small_model), train_dataset=rows)
    # The trap itself: TRL casts the adapter to bf16 while building the trainer.
    assert {p.dtype for p in plain.model.parameters() if p.requires_grad} == {torch.bfloat16}

    at_step, base = DtypesAtStep(), quantized_flagged(small_model)
    trainer = SFTTrainer(model=add_lora(base, recipe, profile), args=args,
                         processing_class=AutoTokenizer.from_pretrained(small_model), train_dataset=rows,
                         callbacks=[Float32Adapter(), at_step])
    del base.is_loaded_in_4bit  # counting parameters of a "4-bit" model would need bitsandbytes
    trainer.train()
    assert at_step.seen == {torch.float32}


def test_grpo_trainer_on_a_quantized_base_keeps_float32_adapter_weights(course, small_model):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    profile = load_profile("tiny", load_in_4bit=True)
    prompts_ = Dataset.from_list([{"prompt": c[:-1]} for c in conversations(4)])
    args = GRPOConfig(output_dir=str(course / "grpo"), use_cpu=True, per_device_train_batch_size=4,
                      num_generations=4, max_completion_length=8, report_to="none")

    def length_reward(completions, **kwargs):
        return [float(len(str(c))) for c in completions]

    def build(callbacks):
        return GRPOTrainer(model=add_lora(quantized_flagged(small_model), RECIPE, profile),
                           reward_funcs=length_reward, args=args, train_dataset=prompts_,
                           processing_class=AutoTokenizer.from_pretrained(small_model), callbacks=callbacks)

    assert {p.dtype for p in build([]).model.parameters() if p.requires_grad} == {torch.bfloat16}
    assert {p.dtype for p in build([Float32Adapter()]).model.parameters() if p.requires_grad} == {torch.float32}


def test_a_step_cap_bounds_the_run(course, small_model):
    profile = load_profile("tiny")
    model = AutoModelForCausalLM.from_pretrained(small_model)
    tokenizer = AutoTokenizer.from_pretrained(small_model)
    _, log = run_sft(model, tokenizer, conversations(40), profile, replace(RECIPE, max_steps=3),
                     AdapterInfo("capped", "pocket", ("medqa",), "test", "sft"))
    assert log["step"] == [1, 2, 3]  # 10 steps' worth of data, 3 taken
