"""LoRA SFT machinery: float32 adapters, the monitor's log, and resuming an interrupted run."""

import json
import shutil
from dataclasses import replace

import pytest
import torch
from interrupts import StepsSeen, StopAt
from transformers import AutoModelForCausalLM, AutoTokenizer

from medlab import prompts
from medlab.adapters import META, AdapterInfo, find_adapters
from medlab.data import sources
from medlab.profiles import load_profile
from medlab.runlog import runs_dir
from medlab.training import LoraRecipe, add_lora, run_sft, sft_rows, upcast_trainable

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
    # what the adapter's model card lists of its run (medlab.cards), recorded as it trained
    saved = json.loads((runs_dir("tiny") / "adapters" / "loss_test" / "medlab_adapter.json").read_text())
    assert saved["training"]["learning_rate"] == 1e-2 and saved["training"]["num_train_epochs"] == 6
    assert saved["training"]["per_device_train_batch_size"] == 8 and saved["training"]["seed"] == 0
    assert saved["quantization"] == "none" and "cores" in saved["hardware"]


def test_a_step_cap_bounds_the_run(course, small_model):
    profile = load_profile("tiny")
    model = AutoModelForCausalLM.from_pretrained(small_model)
    tokenizer = AutoTokenizer.from_pretrained(small_model)
    _, log = run_sft(model, tokenizer, conversations(40), profile, replace(RECIPE, max_steps=3),
                     AdapterInfo("capped", "pocket", ("medqa",), "test", "sft"))
    assert log["step"] == [1, 2, 3]  # 10 steps' worth of data, 3 taken


def test_examples_longer_than_max_seq_len_are_counted_and_too_many_stop_the_run(small_model, capsys):
    from medlab.training import TooLong, check_lengths

    tokenizer = AutoTokenizer.from_pretrained(small_model)
    short = [{"role": "user", "content": "chest pain"}, {"role": "assistant", "content": "ESI 2"}]
    long = [{"role": "user", "content": "chest pain " * 200}, {"role": "assistant", "content": "ESI 2"}]
    lengths = check_lengths(tokenizer, [short] * 60, 100, "all short")
    assert max(lengths) <= 100 and capsys.readouterr().out == ""
    check_lengths(tokenizer, [short] * 60 + [long], 100, "one long")  # 1 of 61: counted, not stopped
    assert "1 of 61 examples are longer than max_seq_len=100" in capsys.readouterr().out
    with pytest.raises(TooLong, match=r"2 of 12 examples \(17%\).*--set max_seq_len="):
        check_lengths(tokenizer, [short] * 10 + [long] * 2, 100, "two long")


def test_checkpoints_kept_on_a_synced_drive_are_rewritten_in_place_and_a_cut_off_copy_is_passed_over(
        tmp_path, monkeypatch):
    """Google Drive moves every deleted or replaced file to its trash, where it still counts
    against the quota: the kept checkpoint rewrites two slots' files, never deletes one."""
    from medlab.runlog import work_dir
    from medlab.training import DONE, keep_in_slot, resume_point

    monkeypatch.setenv("MEDLAB_HOME", str(tmp_path / "drive"))
    monkeypatch.setenv("MEDLAB_SCRATCH", str(tmp_path / "vm-disk"))
    kept = tmp_path / "drive" / "runs" / "t4" / "checkpoints" / "grpo_triage_bonus-abc"
    work = work_dir(kept)
    assert work == tmp_path / "vm-disk" / "runs" / "t4" / "checkpoints" / "grpo_triage_bonus-abc"

    def checkpoint(step):
        folder = work / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        (folder / "adapter_model.safetensors").write_bytes(bytes([step]) * 1000)
        (folder / "optimizer.pt").write_bytes(bytes([step]) * 2000)
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))  # the trainer writes it last
        return folder

    slots = [keep_in_slot(checkpoint(step), kept, step) for step in (25, 50)]
    inodes = {p.relative_to(kept): p.stat().st_ino for p in kept.rglob("*") if p.is_file()}
    assert keep_in_slot(checkpoint(75), kept, 75) == slots[0]  # the older slot, rewritten
    assert keep_in_slot(checkpoint(100), kept, 100) == slots[1]
    assert {p.relative_to(kept): p.stat().st_ino for p in kept.rglob("*") if p.is_file()} == inodes
    assert (slots[1] / "optimizer.pt").read_bytes() == bytes([100]) * 2000

    shutil.rmtree(tmp_path / "vm-disk")  # a new machine
    assert resume_point(work) == str(slots[1])
    (slots[1] / DONE).write_text("{}")  # the step-100 copy was cut off by the disconnect
    assert resume_point(work) == str(slots[0])


def test_an_sft_run_saved_complete_is_kept_and_a_changed_recipe_trains_again(course, small_model, capsys):
    """04 run again in a new Colab session keeps what the last session trained."""
    profile = load_profile("tiny")
    data = conversations(8)
    info = AdapterInfo("kept_test", "pocket", ("medqa",), "test", "sft")

    def fresh():
        return AutoModelForCausalLM.from_pretrained(small_model), AutoTokenizer.from_pretrained(small_model)

    _, log = run_sft(*fresh(), data, profile, RECIPE, info)
    weights = runs_dir("tiny") / "adapters" / "kept_test" / "adapter_model.safetensors"
    trained_at = weights.stat().st_mtime_ns
    capsys.readouterr()
    _, again = run_sft(*fresh(), data, profile, RECIPE, info)
    assert "kept_test: trained already" in capsys.readouterr().out
    assert again == log and weights.stat().st_mtime_ns == trained_at
    run_sft(*fresh(), data, profile, replace(RECIPE, r=2), info)  # another adapter shape: another run
    assert "trained already" not in capsys.readouterr().out and weights.stat().st_mtime_ns != trained_at


def crash_then(course, small_model, name: str):
    """Train `name` until a simulated crash at step 7 (checkpoints at 3 and 6); returns the data,
    the profile, the info and a maker of fresh models."""
    profile = load_profile("tiny")
    data = conversations(40)  # 10 optimiser steps at batch 4
    info = AdapterInfo(name, "pocket", ("medqa",), "test", "sft")

    def fresh():
        return AutoModelForCausalLM.from_pretrained(small_model), AutoTokenizer.from_pretrained(small_model)

    with pytest.raises(KeyboardInterrupt):
        run_sft(*fresh(), data, profile, RECIPE, info, save_steps=3, callbacks=[StopAt(7)])
    return data, profile, info, fresh


def test_another_runs_checkpoints_are_never_resumed(course, small_model, capsys):
    """The folder is named after the recipe; a run with another seed (or data, or overrides) is
    another run, and resuming its checkpoint would silently mix the two."""
    data, profile, info, fresh = crash_then(course, small_model, "owner_test")
    capsys.readouterr()
    seen = StepsSeen()
    run_sft(*fresh(), data, profile, RECIPE, info, seed=7, save_steps=3, callbacks=[seen])
    assert seen.first == 1 and "checkpoints of another run" in capsys.readouterr().out


def test_a_checkpoint_written_only_in_part_is_passed_over(course, small_model, capsys):
    data, profile, info, fresh = crash_then(course, small_model, "partial_test")
    checkpoints = runs_dir("tiny") / "checkpoints" / f"partial_test-{RECIPE.key()}"
    (checkpoints / "checkpoint-6" / "trainer_state.json").write_text('{"glob')  # the disk filled while saving
    capsys.readouterr()
    seen = StepsSeen()
    _, log = run_sft(*fresh(), data, profile, RECIPE, info, save_steps=3, callbacks=[seen])
    assert "checkpoint-6 was written only in part" in capsys.readouterr().out
    assert seen.first == 4 and log["step"] == list(range(1, 11))


def test_a_run_that_took_no_step_saves_nothing(course, small_model):
    """An adapter saved without training would be the start, labelled as trained."""
    info = AdapterInfo("nothing_test", "pocket", ("medqa",), "test", "sft")
    model, tokenizer = AutoModelForCausalLM.from_pretrained(small_model), AutoTokenizer.from_pretrained(small_model)
    with pytest.raises(ValueError, match="no optimiser step was taken"):
        run_sft(model, tokenizer, conversations(8), load_profile("tiny"), replace(RECIPE, epochs=0), info)
    assert not (runs_dir("tiny") / "adapters" / "nothing_test").exists()


def test_an_adapter_records_the_steps_it_was_trained_for(course, small_model):
    model, tokenizer = AutoModelForCausalLM.from_pretrained(small_model), AutoTokenizer.from_pretrained(small_model)
    info = AdapterInfo("counted_test", "pocket", ("medqa",), "test", "sft")
    run_sft(model, tokenizer, conversations(8), load_profile("tiny"), RECIPE, info)
    assert [a.steps for a in find_adapters(load_profile("tiny")) if a.name == "counted_test"] == [2]


class LaunchedTrainer:
    """A trainer of one process of a two-process launch, as far as `train_resumable` sees it:
    its output folder, its place in the launch, and the barriers it waits at."""

    def __init__(self, output_dir, main: bool):
        from types import SimpleNamespace

        self.args = SimpleNamespace(output_dir=str(output_dir))
        self.events = []
        self.accelerator = SimpleNamespace(is_local_main_process=main,
                                           wait_for_everyone=lambda: self.events.append("barrier"))

    def add_callback(self, callback):
        pass

    def train(self, resume_from_checkpoint=None):
        self.events.append("train")


@pytest.mark.parametrize("main", [True, False])
def test_only_one_process_of_a_launch_claims_and_removes_the_checkpoint_folder(tmp_path, main):
    """Two processes claiming one folder at once could each read the other's half-written claim
    as another run's and remove the folder the other was writing into, and both removed partial
    checkpoints. The launch's main process claims and tidies it before a barrier and removes it
    after one; the others only read it."""
    from medlab.training import RUN_FILE, run_of, train_resumable

    work = tmp_path / "checkpoints"
    work.mkdir()
    (work / RUN_FILE).write_text(json.dumps({"key": "another run"}))
    (work / "checkpoint-3").mkdir()  # written only in part: no trainer_state.json
    trainer = LaunchedTrainer(work, main)
    train_resumable(trainer, key="this run")
    assert trainer.events == ["barrier", "train", "barrier"]
    if main:
        assert not work.exists()  # claimed (another run's checkpoints gone), then removed after training
    else:
        assert run_of(work) == "another run" and (work / "checkpoint-3").is_dir()  # untouched


def test_on_a_cpu_trls_fused_head_scores_only_the_labelled_tokens_with_the_same_log_probs_and_gradients(
        small_model, monkeypatch):
    """medlab.training.labelled_tokens_only_on_cpu: TRL projects every position of a CPU batch
    through the vocabulary (prompt and padding too) unless told otherwise; the course's trainers
    score only the labelled ones, and the numbers are those of the full logits."""
    import torch.nn.functional as F
    from trl.trainer import utils as trl_utils

    rows_scored = []
    kernel = trl_utils._ChunkedLogProbFunction

    class CountingKernel:
        @staticmethod
        def apply(hidden, *args):
            rows_scored.append(hidden.shape[0])
            return kernel.apply(hidden, *args)

    monkeypatch.setattr(trl_utils, "_ChunkedLogProbFunction", CountingKernel)
    torch.manual_seed(0)
    fused = AutoModelForCausalLM.from_pretrained(small_model, dtype=torch.float32)
    plain = AutoModelForCausalLM.from_pretrained(small_model, dtype=torch.float32)
    trl_utils.add_fused_lm_head(fused, outputs=("log_probs", "entropy"))
    input_ids = torch.randint(0, fused.config.vocab_size, (3, 12))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, :4] = 0  # a left-padded row, as GRPO batches its prompts
    labels = input_ids.clone()
    labels[:, :9] = -100  # a prompt of 9 tokens, then the 3 that are learned
    labels[2] = -100  # a row with nothing to learn
    out = fused(input_ids=input_ids, attention_mask=attention_mask, labels=labels, fused_lm_head=True)
    assert rows_scored == [2 * 3]  # every position, 3 x 11, before

    targets = labels[:, 1:]
    logits = plain(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1].float()
    log_probs = F.log_softmax(logits, dim=-1)
    learned = targets != -100
    expected = log_probs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1) * learned
    entropy = -(log_probs.exp() * log_probs).sum(-1) * learned
    torch.testing.assert_close(out.log_probs, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.entropy, entropy, rtol=1e-4, atol=1e-5)
    out.log_probs.sum().backward()
    expected.sum().backward()
    for name, weight in fused.named_parameters():
        torch.testing.assert_close(weight.grad, dict(plain.named_parameters())[name].grad, rtol=1e-4, atol=1e-6)
