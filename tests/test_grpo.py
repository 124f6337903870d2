"""The GRPO glue the RL notebooks share: a warm start loaded trainable, a logged run, a saved adapter."""

import json
import shutil

import pytest
import torch
from interrupts import StepsSeen, StopAt
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, TrainerCallback
from trl import GRPOConfig

from medlab.adapters import AdapterInfo, find_adapters, save_adapter
from medlab.grpo import GrpoRecipe, run_grpo, warm_start
from medlab.profiles import load_profile
from medlab.training import log_path, run_settings


def pays_for_brevity(completions, **kwargs):
    return [1.0 / (1 + len(c)) for c in completions]


def test_a_changed_recipe_never_shares_a_checkpoint_key():
    recipe = GrpoRecipe(learning_rate=1e-3, num_generations=4, prompts_per_step=2, steps=2, max_completion_length=8)
    same = GrpoRecipe(learning_rate=1e-3, num_generations=4, prompts_per_step=2, steps=2, max_completion_length=8)
    other = GrpoRecipe(learning_rate=1e-3, num_generations=4, prompts_per_step=2, steps=3, max_completion_length=8)
    assert recipe.key() == same.key() != other.key()


def test_run_grpo_logs_every_step_and_reward_and_saves_the_adapter(small_model, scratch_course):
    profile = load_profile("tiny", small_model=str(small_model))
    torch.manual_seed(0)
    start = get_peft_model(AutoModelForCausalLM.from_pretrained(small_model),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    save_adapter(start, profile, AdapterInfo("warm", str(small_model), ("medqa",), "test", "sft"))
    model, tokenizer = warm_start("warm", profile)
    assert all(p.dtype == torch.float32 for p in model.parameters() if p.requires_grad)
    assert any(p.requires_grad for p in model.parameters())

    rows = [{"prompt": [{"role": "user", "content": text}]} for text in ("Chest pain.", "Fever.", "Cough.", "Rash.")]
    args = GRPOConfig(num_generations=4, per_device_train_batch_size=8, max_steps=3, max_completion_length=8,
                      learning_rate=1e-3, temperature=1.0, top_k=0,
                      **run_settings(profile, scratch_course / "ckpt", seed=0, save_steps=1, count_tokens=False))
    info = AdapterInfo("grpo_test", str(small_model), ("medqa",), "test", "grpo")
    saved = SavesSeen()
    log, seconds = run_grpo(model, tokenizer, rows, [pays_for_brevity], args, profile, info, callbacks=[saved])

    assert log["step"] == [1.0, 2.0, 3.0] and seconds > 0
    assert all(v is not None and 0 < v <= 1 for v in log["rewards/pays_for_brevity/mean"])
    assert json.loads(log_path(profile, "grpo_test").read_text())["reward"] == log["reward"]
    assert {a.name: a.method for a in find_adapters(profile)}["grpo_test"] == "grpo"
    assert saved.steps and not (scratch_course / "ckpt").exists()  # checkpoints were written, then removed


def test_grpo_config_turns_a_recipe_into_trl_fields(tmp_path):
    from medlab.grpo import grpo_config

    recipe = GrpoRecipe(learning_rate=1e-3, num_generations=4, prompts_per_step=8, steps=16,
                        max_completion_length=128, min_p=0.1)
    args = grpo_config(recipe, load_profile("tiny"), tmp_path / "ckpt", seed=3)
    assert (args.num_generations, args.per_device_train_batch_size, args.max_steps) == (4, 32, 16)
    assert (args.min_p, args.top_k, args.beta, args.learning_rate) == (0.1, 0, 0.0, 1e-3)
    assert args.use_cpu and not args.fp16 and not args.bf16 and args.seed == 3
    assert grpo_config(GrpoRecipe(1e-5, 4, 1, 100, 768), load_profile("tiny"), tmp_path, 0).min_p is None  # uncut
    assert args.scale_rewards == "none"  # a group of near-equal continuous scores stays near 0 (06)
    assert args.disable_dropout  # t4's adapters have dropout 0.05: the sampler and the update must be one policy


def test_with_beta_above_zero_the_reference_is_the_warm_start_not_the_base(small_model, tmp_path):
    """What the course says about `beta`: TRL 1.16 copies a PEFT model's adapter as a frozen
    "ref" adapter, so a KL term would anchor RL to the warm start."""
    from trl import GRPOTrainer

    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(small_model),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():  # a warm start: B is no longer zero, so the adapter changes the model
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.1)
    args = GRPOConfig(num_generations=4, per_device_train_batch_size=4, max_steps=1, max_completion_length=4,
                      beta=0.1, **run_settings(load_profile("tiny"), tmp_path, seed=0, count_tokens=False))
    rows = [{"prompt": [{"role": "user", "content": "Fever."}]}]
    from datasets import Dataset
    from transformers import AutoTokenizer

    trainer = GRPOTrainer(model=model, args=args, reward_funcs=[pays_for_brevity],
                          processing_class=AutoTokenizer.from_pretrained(small_model),
                          train_dataset=Dataset.from_list(rows))
    params = dict(trainer.model.named_parameters())
    copies = {name: name.replace(".default.", ".ref.") for name in params if ".default." in name}
    assert copies and all(torch.equal(params[name], params[ref]) for name, ref in copies.items())
    assert not any(params[ref].requires_grad for ref in copies.values())


class SavesSeen(TrainerCallback):
    """Records the steps at which the trainer wrote a checkpoint."""

    def __init__(self):
        self.steps = []

    def on_save(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


def test_a_notebook_run_again_skips_finished_runs_and_resumes_the_cut_off_one(small_model, scratch_course, tmp_path,
                                                                           monkeypatch, capsys):
    """06 and 07 train one adapter per variant. On Colab the runs folder is on Drive and the
    trainer's checkpoints on the VM's disk, which a disconnect takes away."""
    from medlab import training
    from medlab.training import SLOTS, checkpoint_dir, slot_step

    local_disk = tmp_path / "vm-disk"
    monkeypatch.setenv("MEDLAB_SCRATCH", str(local_disk))
    monkeypatch.setattr(training, "KEEP_EVERY_MINUTES", 0.0)  # keep every checkpoint on the drive
    profile = load_profile("tiny", small_model=str(small_model))
    torch.manual_seed(0)
    start = get_peft_model(AutoModelForCausalLM.from_pretrained(small_model),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    save_adapter(start, profile, AdapterInfo("warm", str(small_model), ("medqa",), "test", "sft"))
    rows = [{"prompt": [{"role": "user", "content": text}]} for text in ("Chest pain.", "Fever.", "Cough.", "Rash.")]
    recipe = GrpoRecipe(learning_rate=1e-3, num_generations=4, prompts_per_step=2, steps=4, max_completion_length=8)

    def variant(name, *callbacks):
        model, tokenizer = warm_start("warm", profile)
        args = GRPOConfig(num_generations=4, per_device_train_batch_size=8, max_steps=4, max_completion_length=8,
                          learning_rate=1e-3, temperature=1.0, top_k=0,
                          **run_settings(profile, checkpoint_dir(profile, name, recipe), seed=0, save_steps=1,
                                         count_tokens=False))
        info = AdapterInfo(name, str(small_model), ("medqa",), "test", "grpo")
        return run_grpo(model, tokenizer, rows, [pays_for_brevity], args, profile, info, callbacks=list(callbacks))

    finished_log, finished_seconds = variant("grpo_a")  # the first session: one variant finishes,
    with pytest.raises(KeyboardInterrupt):
        variant("grpo_b", StopAt(3))  # the next is cut off during step 3
    kept = checkpoint_dir(profile, "grpo_b", recipe)
    assert sorted(p.name for p in kept.iterdir()) == ["medlab_run.json", *SLOTS]  # whose they are, and two slots
    assert sorted(slot_step(kept / name) for name in SLOTS) == [1, 2]
    weights = scratch_course / "runs" / "tiny" / "adapters" / "grpo_a" / "adapter_model.safetensors"
    trained_at = weights.stat().st_mtime_ns

    shutil.rmtree(local_disk)  # a new machine: nothing on its disk, the drive as it was
    capsys.readouterr()
    again_log, again_seconds = variant("grpo_a")
    assert "grpo_a: trained already" in capsys.readouterr().out
    assert weights.stat().st_mtime_ns == trained_at and again_log == finished_log
    assert again_seconds == pytest.approx(finished_seconds, abs=0.1)
    first = StepsSeen()
    log, _ = variant("grpo_b", first)
    assert first.first == 3 and log["step"] == [1.0, 2.0, 3.0, 4.0]  # resumed after step 2, one curve
    assert not kept.exists() and not (local_disk / kept.relative_to(scratch_course)).exists()


def test_a_changed_reward_or_prompt_is_a_different_run(small_model):
    from medlab.grpo import reward_code
    from medlab.training import run_key

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(small_model),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj"]))
    args = GRPOConfig(num_generations=4, per_device_train_batch_size=8, max_steps=4, output_dir="a", use_cpu=True)
    rows = [{"prompt": "Fever."}]

    def pays_for_length(completions, **kwargs):
        return [float(len(c)) for c in completions]

    key = run_key(args.to_dict(), rows, reward_code([pays_for_brevity]), model)
    moved = GRPOConfig(num_generations=4, per_device_train_batch_size=8, max_steps=4, output_dir="b", use_cpu=True)
    # where a run writes is not what it learns
    assert run_key(moved.to_dict(), rows, reward_code([pays_for_brevity]), model) == key
    assert run_key(args.to_dict(), [{"prompt": "Cough."}], reward_code([pays_for_brevity]), model) != key
    assert run_key(args.to_dict(), rows, reward_code([pays_for_length]), model) != key
    with torch.no_grad():
        next(p for p in model.parameters() if p.requires_grad).add_(1.0)  # another warm start
    assert run_key(args.to_dict(), rows, reward_code([pays_for_brevity]), model) != key
