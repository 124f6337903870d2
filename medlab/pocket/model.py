"""Build, pretrain and cache the pocket model: a small Llama the course makes for itself.

On machines with no GPU and no hub the course still needs a real causal LM, one that later
notebooks can teach something measurable. The pocket model is a Llama-architecture network
(the same class as Llama 3.2/3.1, only smaller) with a SentencePiece tokenizer. It is saved
as an ordinary Hugging Face model folder, so notebooks load it with the very
`AutoModelForCausalLM.from_pretrained` / `AutoTokenizer.from_pretrained` calls a hub model
goes through, and llama.cpp's GGUF converter accepts its `tokenizer.model`.

Introduced in notebooks/00_setup.ipynb.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import sentencepiece as spm
import torch
import transformers
from tqdm.auto import tqdm

from medlab.pocket import corpus
from medlab.pocket.chat import CHAT_TEMPLATE, END_OF_TURN, REASONING_TAGS, ROLE_TOKENS

BOS, EOS, UNK, PAD = "<s>", "</s>", "<unk>", "<pad>"
BUILD_VERSION = 3  # bump whenever the build code changes what it writes, to retire old caches


@dataclass(frozen=True)
class PocketRecipe:
    """Everything that decides the pocket model's weights; its hash is the cache key."""

    vocab_size: int = 2048  # small enough that the embedding does not dominate 2M parameters
    hidden_size: int = 192
    intermediate_size: int = 512
    num_layers: int = 4
    num_heads: int = 6  # head_dim 32
    num_kv_heads: int = 2  # grouped-query attention, as in Llama 3
    max_positions: int = 1024  # longer than any tiny example; RoPE needs no learned positions
    corpus_docs: int = 6000
    seq_len: int = 256
    batch_size: int = 8
    train_steps: int = 320  # about 90 seconds on two CPU cores at ~7k tokens/s
    learning_rate: float = 3e-3  # tiny models tolerate (and need) a high rate for a short run
    warmup_steps: int = 20
    seed: int = 0

    @functools.cache  # noqa: B019 - frozen and hashable; every load asks, and the corpus takes ~0.5 s to write
    def key(self) -> str:
        """Hash of the recipe, corpus text, chat template, build version and library versions.

        Computed once per recipe in a process: loading the model and its tokenizer each ask for
        the folder, and a notebook loads them a dozen times."""
        text = "\n".join(corpus.documents(self.corpus_docs, self.seed))
        parts = [json.dumps(asdict(self), sort_keys=True), text, CHAT_TEMPLATE, str(BUILD_VERSION),
                 transformers.__version__, spm.__version__]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


def cache_dir() -> Path:
    """`MEDLAB_CACHE` if set, else `~/.cache/medlab`: shared by every notebook and test."""
    return Path(os.environ.get("MEDLAB_CACHE", Path.home() / ".cache" / "medlab"))


def pocket_model_path(recipe: PocketRecipe | None = None, root: Path | None = None) -> Path:
    """Folder of the pocket model for `recipe`, built on first use and reused after."""
    recipe = recipe or PocketRecipe()
    target = (root or cache_dir()) / f"pocket-{recipe.key()}"
    if not (target / "config.json").exists():
        build_pocket_model(recipe, target)
    return target


def build_pocket_model(recipe: PocketRecipe, target: Path) -> Path:
    """Train the tokenizer, pretrain the model and save both into `target`.

    Built in a temporary folder and renamed at the end, so an interrupted build leaves
    nothing that looks finished.
    """
    started = time.time()
    docs = corpus.documents(recipe.corpus_docs, recipe.seed)
    n_valid = max(1, len(docs) // 20)
    train_docs, valid_docs = docs[n_valid:], docs[:n_valid]
    staging = target.with_name(f"{target.name}.building-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)

    tokenizer = train_tokenizer(train_docs, recipe, staging)
    torch.manual_seed(recipe.seed)
    model = transformers.LlamaForCausalLM(llama_config(recipe, tokenizer))
    log = pretrain(model, tokenizer, train_docs, valid_docs, recipe)
    model.generation_config = generation_config(tokenizer)
    model.save_pretrained(staging)
    log.update(seconds=round(time.time() - started, 1), parameters=model.num_parameters(),
               recipe=asdict(recipe), key=recipe.key())
    (staging / "pocket_log.json").write_text(json.dumps(log, indent=2) + "\n")

    if target.exists():  # another process finished first: keep its copy
        shutil.rmtree(staging)
    else:
        staging.rename(target)
    return target


def train_tokenizer(docs: list[str], recipe: PocketRecipe, folder: Path):
    """A SentencePiece BPE model with byte fallback, wrapped as a transformers tokenizer.

    SentencePiece (not a custom byte-level BPE) because llama.cpp's converter reads a
    `tokenizer.model` directly and rejects byte-level BPE pre-tokenizers it does not know.
    """
    model_file = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(docs), model_writer=model_file, model_type="bpe",
        vocab_size=recipe.vocab_size, byte_fallback=True, split_digits=True,
        character_coverage=1.0, normalization_rule_name="identity",
        user_defined_symbols=list(ROLE_TOKENS + REASONING_TAGS),
        unk_id=0, bos_id=1, eos_id=2, pad_id=3, unk_piece=UNK, bos_piece=BOS, eos_piece=EOS,
        pad_piece=PAD, num_threads=2, minloglevel=2,
    )
    (folder / "tokenizer.model").write_bytes(model_file.getvalue())
    config = {
        "tokenizer_class": "LlamaTokenizer", "legacy": False, "add_bos_token": True,
        "bos_token": BOS, "eos_token": END_OF_TURN, "unk_token": UNK, "pad_token": PAD,
        # </s> stays special although <|end|> is the chat EOS: decoding must drop both.
        "extra_special_tokens": [t for t in ROLE_TOKENS if t != END_OF_TURN] + [EOS],
        "model_max_length": recipe.max_positions, "chat_template": CHAT_TEMPLATE,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    tokenizer.save_pretrained(folder)  # adds tokenizer.json; tokenizer.model stays for llama.cpp
    declare_added_tokens(folder, tokenizer)
    return tokenizer


def declare_added_tokens(folder: Path, tokenizer) -> None:
    """List the tags in `tokenizer_config.json` as `added_tokens_decoder`, as transformers 4 did.

    llama.cpp's converter reads token types from there: without it, `<|user|>` becomes an
    ordinary piece that llama.cpp splits into characters instead of one control token.
    """
    path = folder / "tokenizer_config.json"
    config = json.loads(path.read_text())
    config["added_tokens_decoder"] = {
        str(tokenizer.convert_tokens_to_ids(tag)): {
            "content": tag, "special": tag in ROLE_TOKENS, "normalized": False,
            "lstrip": False, "rstrip": False, "single_word": False,
        }
        for tag in ROLE_TOKENS + REASONING_TAGS
    }
    path.write_text(json.dumps(config, indent=2) + "\n")


def llama_config(recipe: PocketRecipe, tokenizer) -> transformers.LlamaConfig:
    return transformers.LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=recipe.hidden_size,
        intermediate_size=recipe.intermediate_size, num_hidden_layers=recipe.num_layers,
        num_attention_heads=recipe.num_heads, num_key_value_heads=recipe.num_kv_heads,
        max_position_embeddings=recipe.max_positions, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def generation_config(tokenizer) -> transformers.GenerationConfig:
    # Stop at the end of a chat turn or the end of a document, whichever comes first.
    return transformers.GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=[tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(EOS)],
    )


def pack(tokenizer, docs: list[str], seq_len: int) -> torch.Tensor:
    """Documents as one `<s> doc </s>` stream cut into rows of `seq_len` tokens."""
    eos = tokenizer.convert_tokens_to_ids(EOS)
    stream: list[int] = []
    for ids in tokenizer(docs, add_special_tokens=True)["input_ids"]:
        stream.extend(ids + [eos])
    rows = len(stream) // seq_len
    return torch.tensor(stream[: rows * seq_len]).view(rows, seq_len)


def pretrain(model, tokenizer, train_docs, valid_docs, recipe: PocketRecipe) -> dict:
    """Next-token pretraining with AdamW and a warmup-cosine schedule; returns the loss log."""
    train = pack(tokenizer, train_docs, recipe.seq_len)
    valid = pack(tokenizer, valid_docs, recipe.seq_len)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate, weight_decay=0.1)
    schedule = transformers.get_cosine_schedule_with_warmup(
        optimizer, recipe.warmup_steps, recipe.train_steps)
    generator = torch.Generator().manual_seed(recipe.seed)
    log = {"train_tokens": train.numel(), "valid_loss_before": validation_loss(model, valid),
           "steps": [], "loss": []}
    model.train()
    # mininterval keeps the bar readable in headless logs, where each refresh is a new line.
    steps = tqdm(range(1, recipe.train_steps + 1), desc="pretraining the pocket model", mininterval=2)
    for step in steps:
        batch = train[torch.randint(len(train), (recipe.batch_size,), generator=generator)]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        if step % 10 == 0 or step == 1:
            log["steps"].append(step)
            log["loss"].append(round(loss.item(), 4))
    log["valid_loss_after"] = validation_loss(model, valid)
    return log


@torch.no_grad()
def validation_loss(model, rows: torch.Tensor, batch_size: int = 16) -> float:
    model.eval()
    losses = [model(input_ids=chunk, labels=chunk).loss.item() for chunk in rows.split(batch_size)]
    model.train()
    return round(sum(losses) / len(losses), 4)


def uniform_loss(vocab_size: int) -> float:
    """The loss of a model that has learned nothing: every token equally likely."""
    return math.log(vocab_size)
