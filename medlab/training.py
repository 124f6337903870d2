"""LoRA supervised fine-tuning: recipes, precision, a training monitor, resumable runs.

notebooks/03_sft_mcq.ipynb builds the LoRA model, TRL's `SFTConfig` and `SFTTrainer` in its
own cells and attaches what is here: `TrainingMonitor` (a JSON log that survives a crash),
`Float32Adapter` (the adapter stays float32 under fp16), `run_settings` (seeds, checkpoints,
logging) and `resume_point` (carry on after a dead kernel). `run_sft` is the same loop in one
call, for notebooks whose lesson is elsewhere. Importing this module on a machine without a GPU
also makes TRL's fused LM head score only the labelled tokens (`labelled_tokens_only_on_cpu`), as
it does on a GPU.

Introduced in notebooks/03_sft_mcq.ipynb.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from transformers import TrainerCallback

from medlab.adapters import AdapterInfo, find_adapters, save_adapter
from medlab.env import precision_for, training_peak_mb
from medlab.profiles import Profile
from medlab.runlog import kept_dir, runs_dir, work_dir, write_json


@dataclass(frozen=True)
class LoraRecipe:
    """A LoRA fine-tuning recipe: the adapter's shape and the optimiser's schedule."""

    r: int
    alpha: int
    dropout: float
    targets: tuple[str, ...]
    learning_rate: float
    epochs: float
    batch_size: int = 1
    grad_accum: int = 8
    scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    max_steps: int = 0  # optimiser steps at most (0: the epochs decide); caps a run to fit a session
    max_seq_len: int = 0  # tokens per example, prompt and reply, where more than the profile's (`seq_len`)

    def lora_config(self):
        from peft import LoraConfig

        return LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout,
                          target_modules=list(self.targets), task_type="CAUSAL_LM")

    def key(self) -> str:
        return recipe_key(self)


def seq_len(recipe: LoraRecipe, profile: Profile) -> int:
    """The tokens per example a run trains on: the profile's `max_seq_len`, or the recipe's own
    where a task's data needs more (real DiReCT notes run past t4's 1,024). The larger wins, so
    `--set max_seq_len=...` can still raise it."""
    return max(recipe.max_seq_len, profile.max_seq_len)


def recipe_key(recipe) -> str:
    """A short hash of a recipe dataclass, in its checkpoint folder's name: a changed recipe
    never resumes another recipe's checkpoint."""
    return hashlib.sha256(json.dumps(asdict(recipe), sort_keys=True).encode()).hexdigest()[:8]


# ---- data ------------------------------------------------------------------------------------

def sft_rows(conversations: list[list[dict]]) -> list[dict]:
    """Conversations ending in the assistant's answer as TRL prompt/completion rows, so the
    loss is computed on the completion (the answer) only."""
    return [{"prompt": c[:-1], "completion": c[-1:]} for c in conversations]


MAX_CUT_SHARE = 0.02  # a run that would cut more of its examples than this stops instead


class TooLong(ValueError):
    """Too many training examples longer than the run's `max_seq_len`; says what to set."""


def check_lengths(tokenizer, conversations: list[list[dict]], max_len: int, name: str,
                  max_cut_share: float = MAX_CUT_SHARE) -> list[int]:
    """The token count of each conversation as SFT reads it (chat template applied), checked
    against `max_len`.

    TRL cuts every longer example to `max_len` tokens without a word, and what it cuts is the
    end: the reply the run is meant to teach. So the cut examples are counted and printed, and
    when they are more than `max_cut_share` of the run, it stops and names the setting. No
    examples at all stop it too (TRL would end in a StopIteration deep inside its data loader)."""
    if not conversations:
        raise ValueError(f"{name}: no training examples; check the data the notebook printed it loaded "
                         "and the profile's max_train_examples")
    lengths = token_lengths(tokenizer, conversations)
    cut = sum(n > max_len for n in lengths)
    if cut:
        print(f"{name}: {cut} of {len(lengths)} examples are longer than max_seq_len={max_len} tokens (the longest "
              f"{max(lengths)}); TRL cuts their replies short")
        if cut > max_cut_share * len(lengths):
            raise TooLong(f"{name}: {cut} of {len(lengths)} examples ({cut / len(lengths):.0%}) would lose the end "
                          f"of their reply; raise max_seq_len (the longest needs {max(lengths)}), e.g. "
                          f"--set max_seq_len={round_up(max(lengths), 256)} or the recipe's max_seq_len, or shorten "
                          "the data")
    return lengths


def token_lengths(tokenizer, conversations: list[list[dict]], add_generation_prompt: bool = False) -> list[int]:
    """Each conversation's length in tokens through the chat template: whole, as SFT reads it,
    or with `add_generation_prompt` as a prompt that a reply will follow."""
    return [len(tokenizer.apply_chat_template(c, tokenize=True, add_generation_prompt=add_generation_prompt,
                                              return_dict=False)) for c in conversations]


def round_up(n: int, step: int) -> int:
    """`n` rounded up to a multiple of `step`.

    >>> round_up(1221, 256)
    1280
    """
    return -(-n // step) * step


# ---- model -----------------------------------------------------------------------------------

def add_lora(model, recipe: LoraRecipe, profile: Profile):
    """Wrap `model` in a fresh LoRA adapter, ready to train under the profile's precision."""
    from peft import get_peft_model

    model = get_peft_model(prepare_base(model, profile), recipe.lora_config())
    upcast_trainable(model)
    return model


def prepare_base(model, profile: Profile):
    """A 4-bit base readied for training (norms in float32, input gradients for gradient
    checkpointing) before an adapter goes on it; any other base as it is."""
    if not profile.load_in_4bit:
        return model
    from peft import prepare_model_for_kbit_training

    return prepare_model_for_kbit_training(model, use_gradient_checkpointing=profile.gradient_checkpointing)


def upcast_trainable(model) -> int:
    """Keep trainable (LoRA) weights in float32; returns how many tensors were cast.

    On a 4-bit base, PEFT creates LoRA weights in the compute dtype. Under fp16 mixed precision
    the gradient scaler then refuses bf16 gradients (`_amp_foreach_non_finite_check_and_unscale_cuda`
    is not implemented for BFloat16) and fp16 master weights lose small updates. The adapter is a
    few MB, so float32 costs nothing that matters. See `Float32Adapter` for why this must run
    again once a TRL trainer is built.
    """
    cast = 0
    for param in model.parameters():
        if param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.float()
            cast += 1
    return cast


class Float32Adapter(TrainerCallback):
    """Casts the trainable weights back to float32 once the trainer is built.

    TRL 1.16's `SFTTrainer` and `GRPOTrainer` cast every trainable weight of a quantized model
    to bf16 inside `__init__` (the QLoRA paper's advice), undoing `add_lora`'s float32. With
    fp16 on a T4 the first optimiser step would then fail in the gradient scaler.
    `on_init_end` runs at the very end of the trainer's construction, after that cast.
    """

    def on_init_end(self, args, state, control, model=None, **kwargs):
        upcast_trainable(model)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        upcast_trainable(model)  # a no-op unless something cast the adapter since


def labelled_tokens_only_on_cpu() -> bool:
    """Make TRL's fused LM head score only the tokens that have a label on a CPU, as it does on
    a GPU. Returns False where this TRL has no such switch (nothing is changed then).

    TRL 1.16's `SFTTrainer` and `GRPOTrainer` get the loss from a fused LM head
    (`trl.trainer.utils.add_fused_lm_head`). With Triton (a GPU) it projects only the positions
    whose label is not -100. Elsewhere it projects every position, prompt and padding included,
    and zeroes the unlabelled ones afterwards, so that compiled devices (Neuron) see one tile
    shape. A CPU runs eagerly and compiles nothing, so that work is wasted: the prompt is most of
    an SFT row and nearly all of a GRPO row. Scoring the labelled positions alone gives the same
    log-probabilities and gradients (`tests/test_training.py`) and takes a quarter off an SFT step
    of the pocket model (`benchmarks/cpu_speed.py`); with Llama's 128,256-token vocabulary it is
    most of a GRPO step. TRL reads the switch at every forward, and only there.
    """
    from trl.trainer import utils as trl_utils

    uses_triton = getattr(trl_utils, "_use_triton", None)
    if uses_triton is None:
        return False
    if not getattr(uses_triton, "labelled_only_on_cpu", False):
        def compact(device) -> bool:
            return device.type == "cpu" or uses_triton(device)

        compact.labelled_only_on_cpu = True
        trl_utils._use_triton = compact
    return True


# Every course trainer is built after importing this module. With a GPU there is nothing to
# change, and TRL stays unimported until a notebook trains (on Colab every notebook imports this
# module, through medlab.colab).
if not torch.cuda.is_available():
    labelled_tokens_only_on_cpu()


# ---- the trainer -------------------------------------------------------------------------------

def run_settings(profile: Profile, output_dir: Path, seed: int, report_to: str = "none",
                 save_steps: int = 25, count_tokens: bool = True) -> dict:
    """The trainer-config fields that are the course's plumbing, not the recipe: seeds, the CPU
    switch, checkpoints often enough to survive a crash, a log line every step.

    They fit `SFTConfig` and `GRPOConfig` alike: `SFTConfig(**run_settings(...), learning_rate=...)`.
    `count_tokens` feeds the monitor's tokens/s; pass False to `GRPOConfig`, whose batches are
    prompts the trainer cannot count (it warns at every step).
    """
    return dict(output_dir=str(work_dir(Path(output_dir))), seed=seed, data_seed=seed, use_cpu=profile.device == "cpu",
                logging_steps=1, save_strategy="steps", save_steps=save_steps, save_total_limit=2,
                report_to=report_to, include_num_input_tokens_seen=count_tokens, dataloader_num_workers=0,
                disable_tqdm=False)


def sft_config(profile: Profile, recipe: LoraRecipe, output_dir: Path, seed: int, report_to: str = "none",
               save_steps: int = 25):
    """TRL's SFTConfig for `recipe` on `profile`: precision, memory savers, checkpoints, logging."""
    from trl import SFTConfig

    precision = precision_for(profile)
    return SFTConfig(
        **run_settings(profile, output_dir, seed, report_to, save_steps),
        learning_rate=recipe.learning_rate, num_train_epochs=recipe.epochs, max_steps=recipe.max_steps or -1,
        per_device_train_batch_size=recipe.batch_size, gradient_accumulation_steps=recipe.grad_accum,
        lr_scheduler_type=recipe.scheduler, warmup_steps=recipe.warmup_ratio,  # below 1: a ratio of all steps
        fp16=precision == "fp16", bf16=precision == "bf16",
        activation_checkpointing=profile.gradient_checkpointing, optim=profile.optim,  # v5's name for it
        max_length=seq_len(recipe, profile),
    )


def checkpoint_dir(profile: Profile, name: str, recipe) -> Path:
    """Where a run's checkpoints go; the recipe's hash (`recipe.key()`: a LoraRecipe, a GrpoRecipe,
    a PPOConfig) is in the name, so a changed recipe never resumes from another recipe's checkpoint."""
    return runs_dir(profile.name) / "checkpoints" / f"{name}-{recipe.key()}"


def log_path(profile: Profile, name: str) -> Path:
    """The training log of adapter `name`, where notebooks/08_evaluation.ipynb gathers curves."""
    return runs_dir(profile.name) / "logs" / f"{name}.json"


class TrainingMonitor(TrainerCallback):
    """Writes loss, learning rate, grad norm, tokens/s and peak memory (and any `extra_keys` the
    trainer logs, such as GRPO's rewards) to a JSON log at every logging step, so a crashed run
    still leaves its curve behind."""

    KEYS = ("step", "loss", "learning_rate", "grad_norm", "tokens_per_second", "peak_memory_mb")

    def __init__(self, path: Path, extra_keys: tuple[str, ...] = ()):
        self.path = Path(path)
        self.keys = self.KEYS + tuple(extra_keys)
        self.log = {key: [] for key in self.keys}
        self._clock = self._tokens = None

    def on_train_begin(self, args, state, control, **kwargs):
        if self.path.exists() and state.global_step:  # resumed: keep the curve up to the checkpoint
            old = json.loads(self.path.read_text())
            keep = [i for i, step in enumerate(old["step"]) if step <= state.global_step]
            self.log = {key: [old.get(key, [None] * len(old["step"]))[i] for i in keep] for key in self.keys}
        self._clock, self._tokens = time.time(), state.num_input_tokens_seen

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "loss" not in logs or not state.is_world_process_zero:  # several processes: one log
            return
        now, tokens = time.time(), state.num_input_tokens_seen
        speed = (tokens - self._tokens) / max(now - self._clock, 1e-6) if tokens else None  # None: not counted
        self._clock, self._tokens = now, tokens
        values = {**logs, "step": state.global_step, "tokens_per_second": speed and round(speed, 1),
                  "peak_memory_mb": training_peak_mb()}
        for key in self.keys:
            value = values.get(key)
            self.log[key].append(float(value) if value is not None else None)
        self.save()

    def save(self) -> None:
        write_json(self.path, self.log, indent=None)


def loss_start_end(log: dict) -> tuple[float, float]:
    """Mean loss over the first and over the last quarter of the steps: single steps are noisy,
    so "the loss fell" compares these two.

    >>> loss_start_end({"loss": [4.0, 3.0, 2.0, 1.0]})
    (4.0, 1.0)
    """
    start, end = quarter_means(log["loss"])
    return round(start, 4), round(end, 4)


def quarter_means(values: list[float]) -> tuple[float, float]:
    """Mean of the first and of the last quarter of a curve (loss, reward): "it fell" or "it
    rose" compares these two.

    >>> quarter_means([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    (1.5, 7.5)
    """
    quarter = max(1, len(values) // 4)
    return sum(values[:quarter]) / quarter, sum(values[-quarter:]) / quarter


# ---- checkpoints that survive a crash or a disconnect ------------------------------------------

KEEP_EVERY_MINUTES = 15.0
"""How often a run's newest checkpoint is copied from the local disk to a synced drive."""
SLOTS = ("slot-a", "slot-b")
DONE = "medlab_kept.json"  # written last into a slot: the step its files are whole for


class KeepCheckpoint(TrainerCallback):
    """Copies the newest checkpoint into the kept folder on the synced drive, at most every
    `minutes`, so that a new machine after a disconnect resumes from it.

    The trainer writes and rotates `checkpoint-N` folders on the local disk. On Google Drive a
    deleted file goes to the trash and still counts against the 15 GB, and a rotated checkpoint
    of an r32 adapter with its optimiser is about 195 MB every 25 steps. So the copy goes into
    one of two slots, file by file over the same names (a file rewritten, none deleted), the
    older slot each time: a copy cut off by a disconnect leaves the other slot whole.
    """

    def __init__(self, kept: Path, minutes: float | None = None):
        self.kept = Path(kept)
        self.seconds = (KEEP_EVERY_MINUTES if minutes is None else minutes) * 60
        self._last = time.time()

    def on_save(self, args, state, control, **kwargs):
        if time.time() - self._last < self.seconds or not state.is_world_process_zero:
            return
        saved = Path(args.output_dir) / f"checkpoint-{state.global_step}"  # the one just written
        if whole_checkpoint(saved):
            keep_in_slot(saved, self.kept, state.global_step)
            self._last = time.time()


def keep_in_slot(checkpoint: Path, kept: Path, step: int) -> Path:
    """Copy `checkpoint` over the older of `kept`'s two slots, in place; returns the slot."""
    slot = kept / min(SLOTS, key=lambda name: slot_step(kept / name))
    slot.mkdir(parents=True, exist_ok=True)
    if (slot / DONE).exists():
        (slot / DONE).write_text("{}")  # no longer whole while its files change
    for source in sorted(p for p in checkpoint.rglob("*") if p.is_file()):
        target = slot / source.relative_to(checkpoint)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)  # opens the old file for writing: rewritten, not replaced
    (slot / DONE).write_text(json.dumps({"step": step}))  # in place too (write_json replaces the file)
    return slot


def slot_step(slot: Path) -> int:
    """The step a slot's files are whole for; -1 when it is empty or a copy into it was cut off."""
    try:
        return int(json.loads((slot / DONE).read_text()).get("step", -1))
    except (OSError, ValueError):
        return -1


RUN_FILE = "medlab_run.json"
"""In a run's checkpoint folder: the run (`run_key`) its checkpoints belong to."""


def claim_checkpoints(work: Path, key: str) -> None:
    """Make `work` (and its kept copy on a synced drive) the checkpoint folder of the run `key`.

    The folder is named after the recipe, so a run with another seed, other data or other
    overrides would find the same folder: checkpoints another run left there are removed,
    saying so, and never resumed."""
    for folder in dict.fromkeys([work, kept_dir(work)]):
        if folder.is_dir() and any(folder.iterdir()) and run_of(folder) != key:
            print(f"{folder}: checkpoints of another run (its seed, data or settings differ); this run starts afresh")
            shutil.rmtree(folder, ignore_errors=True)  # another process of this launch may be removing it too
        folder.mkdir(parents=True, exist_ok=True)
        (folder / RUN_FILE).write_text(json.dumps({"key": key}))


def run_of(folder: Path) -> str | None:
    """The run key a checkpoint folder was claimed by, or None."""
    try:
        return json.loads((folder / RUN_FILE).read_text()).get("key")
    except (OSError, ValueError):
        return None


def whole_checkpoint(folder: Path) -> bool:
    """Whether the trainer finished writing `folder`: its `trainer_state.json`, written last,
    reads whole. A run stopped while saving (a full disk, a kill) leaves one that is not."""
    try:
        return "global_step" in json.loads((folder / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return False


def checkpoint_step(folder: Path) -> int:
    """The step in a `checkpoint-N` folder's name; -1 for another name."""
    step = folder.name.removeprefix("checkpoint-")
    return int(step) if step.isdigit() else -1


def resume_point(checkpoints: Path, tidy: bool = True) -> str | None:
    """The newest whole checkpoint of an interrupted run, if there is one; else None. One written
    only in part is passed over, saying so, and removed where `tidy` (one process of a launch
    tidies; the others read). `checkpoints`: the trainer's `output_dir`. Where the runs folder
    is a synced drive, a new machine finds nothing on its local disk, and the newest whole slot
    on the drive is the one."""
    last = None
    found = sorted(checkpoints.glob("checkpoint-*"), key=checkpoint_step, reverse=True) if checkpoints.is_dir() else []
    for folder in found:
        if whole_checkpoint(folder):
            last = str(folder)
            break
        if tidy:
            print(f"{folder} was written only in part (the run stopped while saving it, or the disk was full): "
                  "removed")
            shutil.rmtree(folder, ignore_errors=True)  # else the trainer's own rotation would take it for the newest
    kept = kept_dir(checkpoints)
    if not last and kept != checkpoints:
        whole = [(slot_step(kept / name), kept / name) for name in SLOTS if whole_checkpoint(kept / name)]
        step, slot = max(whole, default=(-1, None))
        last = str(slot) if step > 0 else None
    if last:
        print(f"resuming from {last}")
    return last


def train_resumable(trainer, key: str | None = None):
    """`trainer.train()`, resuming from the newest checkpoint if this run was interrupted.

    `key`: the run's `run_key` (None: from the trainer's settings, its dataset's fingerprint and
    its model's trainable weights), which the checkpoint folder is claimed for, so that no other
    run resumes from it. Checkpoints exist to survive crashes: once training finishes they are
    removed, so running the notebook again trains afresh (and, seeded, to the same result). Where
    the runs folder is a synced drive, the newest is kept there too (`KeepCheckpoint`).
    """
    work = Path(trainer.args.output_dir)
    kept = kept_dir(work)
    accelerator = trainer.accelerator
    # One process of a launch claims the folder and removes it at the end: two claiming at once
    # could each take the other's half-written claim for another run's and remove the folder
    # the other was writing into.
    if accelerator.is_local_main_process:
        claim_checkpoints(work, key or trainer_key(trainer))
    accelerator.wait_for_everyone()
    if kept != work:
        trainer.add_callback(KeepCheckpoint(kept))
    output = trainer.train(resume_from_checkpoint=resume_point(work, tidy=accelerator.is_local_main_process))
    accelerator.wait_for_everyone()  # every process's last checkpoint files are written
    if accelerator.is_local_main_process:
        for folder in {work, kept}:
            shutil.rmtree(folder, ignore_errors=True)
    return output


def trainer_key(trainer) -> str:
    """The `run_key` of a trainer built by hand (notebook 03): its settings, its dataset's rows
    (as tokenized), its adapter's configuration and its base model. Not
    the weights: run again in the same kernel after an interrupt, the model in memory has
    trained on, and it is the checkpoint's weights that the run resumes with."""
    model = trainer.model
    adapters = {name: config.to_dict() for name, config in getattr(model, "peft_config", {}).items()}
    base = str(getattr(getattr(model, "config", None), "_name_or_path", ""))
    # the rows as the trainer holds them (tokenized), not the dataset's fingerprint, which the
    # datasets library draws at random where it cannot hash a transform
    rows = trainer.train_dataset.to_list() if trainer.train_dataset is not None else []
    return run_key(trainer.args.to_dict(), [adapters, *rows], [base])


# ---- a run saved complete is not trained again ---------------------------------------------------

IGNORED_SETTINGS = ("output_dir", "logging_dir", "report_to", "run_name", "disable_tqdm", "hub", "save_", "local_rank")
"""Trainer-config fields that change where a run writes or what it shows, not what it learns, and
the one that differs between the processes of one launch (each must find the same run)."""


def run_key(settings: dict, rows: list[dict], sources=(), model=None) -> str:
    """A short hash of what decides a run's result: its settings (a trainer config's `to_dict()`,
    seed included), its rows, `sources` (the base model's id, the recipe's key, each reward's
    code) and `model`'s trainable weights where it has some (a warm start's adapter; a base
    model straight from the hub has every weight trainable, and is named in `sources` instead)."""
    digest = hashlib.sha256()
    settings = {k: v for k, v in settings.items() if not any(word in k for word in IGNORED_SETTINGS)}
    digest.update(json.dumps(settings, sort_keys=True, default=as_json).encode())
    digest.update(json.dumps(rows, sort_keys=True, default=as_json).encode())
    for source in sources:
        digest.update(source.encode())
    for name, weight in sorted(model.named_parameters() if model is not None else []):
        if weight.requires_grad:
            digest.update(name.encode() + weight.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:12]


def as_json(value):
    """A value JSON lacks, the same in every process: a set sorted (its order changes from one
    Python process to the next), anything else as text.

    >>> as_json({"v_proj", "q_proj"})
    ['q_proj', 'v_proj']
    """
    return sorted(value, key=str) if isinstance(value, set | frozenset) else str(value)


def finished_run(profile: Profile, name: str, key: str) -> tuple[dict, float] | None:
    """The log and training seconds of adapter `name`, where it was saved complete by the run `key`.

    A notebook run again after a disconnect then carries on where it stopped: what was trained
    is kept, not trained again (delete the adapter's folder to train it afresh)."""
    saved = next((info for info in find_adapters(profile) if info.name == name), None)
    if saved is None or saved.run_key != key or not (Path(saved.path) / TRAIN_LOG).exists():
        return None
    print(f"{name}: trained already by this run (same settings, data and start), in {saved.path}; kept. "
          "Delete that folder to train it again.")
    return json.loads((Path(saved.path) / TRAIN_LOG).read_text()), saved.train_seconds


TRAIN_LOG = "train_log.json"
"""The training log, kept in the adapter's folder too: `logs/<name>.json` is rewritten by the
next run of that name, and a kept run must report its own curve."""


def keep_with_adapter(folder: Path | None, log: dict) -> None:
    """The log of the run that trained the adapter in `folder` (None: another process saved it)."""
    if folder is not None:
        write_json(folder / TRAIN_LOG, log, indent=None)


def run_sft(model, tokenizer, conversations: list[list[dict]], profile: Profile, recipe: LoraRecipe,
            info: AdapterInfo, seed: int = 0, report_to: str = "none", save_steps: int = 25, callbacks=(),
            args=None, max_cut_share: float = MAX_CUT_SHARE):
    """LoRA-SFT `model` on `conversations`; save the adapter as `info`. Returns (model, log).

    The shortcut for what notebooks/03_sft_mcq.ipynb builds step by step. `args`: the
    `sft_config(...)` of this run when the caller built it before loading the model, as
    scripts/sft.py does (under DeepSpeed ZeRO-3 the model then loads shard by shard).
    `max_cut_share`: the share of examples longer than `max_seq_len` that stops the run
    (`check_lengths`); a memory benchmark that fills every row past it on purpose passes 1.
    """
    from datasets import Dataset
    from trl import SFTTrainer

    check_lengths(tokenizer, conversations, seq_len(recipe, profile), info.name, max_cut_share)
    args = args or sft_config(profile, recipe, checkpoint_dir(profile, info.name, recipe), seed, report_to, save_steps)
    rows = sft_rows(conversations)
    key = run_key(args.to_dict(), rows, [info.base_model, recipe.key()])  # the recipe: the adapter's shape
    finished = finished_run(profile, info.name, key)
    if finished:
        return model, finished[0]
    monitor = TrainingMonitor(log_path(profile, info.name))
    trainer = SFTTrainer(
        model=add_lora(model, recipe, profile), processing_class=tokenizer, args=args,
        train_dataset=Dataset.from_list(rows), callbacks=[monitor, Float32Adapter(), *callbacks],
    )
    started = time.time()
    train_resumable(trainer, key)
    folder = save_trained_adapter(trainer, profile, replace(info, run_key=key,
                                                            train_seconds=round(time.time() - started, 1)))
    keep_with_adapter(folder, monitor.log)
    return trainer.model, monitor.log


CARD_SETTINGS = ("learning_rate", "lr_scheduler_type", "warmup_steps", "num_train_epochs", "max_steps",
                 "per_device_train_batch_size", "gradient_accumulation_steps", "max_length", "num_generations",
                 "max_completion_length", "temperature", "beta", "loss_type", "scale_rewards", "reward_weights",
                 "optim", "fp16", "bf16", "gradient_checkpointing", "seed")
"""The settings of a trainer's run that an adapter's model card lists (`medlab.cards`)."""


def training_settings(args) -> dict:
    """Those of `CARD_SETTINGS` that a trainer's `args` (SFTConfig, GRPOConfig) has, as trained."""
    settings = args.to_dict()
    return {name: settings[name] for name in CARD_SETTINGS if name in settings}


def save_trained_adapter(trainer, profile: Profile, info: AdapterInfo) -> Path | None:
    """`save_adapter` for a trainer's model, however many processes trained it.

    Every process must call it: under DeepSpeed ZeRO-3 or FSDP gathering the sharded weights
    (from the engine's wrapper, `model_wrapped`) is collective. Under DDP every process holds
    the whole adapter already. One process writes; the others wait until it is on disk."""
    from accelerate.utils import DistributedType

    steps = trainer.state.global_step
    if steps < 1:  # an adapter saved now would be the start, labelled as trained
        raise ValueError(f"{info.name}: no optimiser step was taken, so there is nothing to save: check the "
                         "recipe's steps (max_steps, --max-steps) and that there were rows to train on")
    info = replace(info, steps=steps, training=training_settings(trainer.args))
    accelerator = trainer.accelerator
    sharded = accelerator.distributed_type in (DistributedType.DEEPSPEED, DistributedType.FSDP)
    state_dict = accelerator.get_state_dict(trainer.model_wrapped) if sharded else None
    folder = None
    if accelerator.is_main_process:
        folder = save_adapter(accelerator.unwrap_model(trainer.model), profile, info, state_dict=state_dict)
    accelerator.wait_for_everyone()
    return folder
