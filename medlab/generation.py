"""Batched chat generation: one code path for the pocket model and hub models.

Prompts are rendered by the model's own chat template, sorted by length so each batch pads
little, left-padded so every row continues from its last real token, and generated in
batches and in rounds (see `generate`). On a GPU, a batch that runs out of memory is halved
and retried, so one setting fits a T4 and an H100 alike.

Introduced in notebooks/02_baseline.ipynb.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace

import torch
from tqdm.auto import tqdm

from medlab.pocket.chat import EMPTY_THINK_BLOCK


@dataclass(frozen=True)
class Sampling:
    """How to decode. Greedy by default: evaluation should not depend on luck."""

    max_new_tokens: int = 64
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0: the whole distribution, as the temperature describes it (transformers cuts to 50); RL needs it
    min_p: float = 0.0  # drop tokens below min_p x the likeliest one's probability: cuts a small model's junk tail
    enable_thinking: bool = True  # False starts the reply after an empty <think> block (see render_prompts)

    def generate_kwargs(self) -> dict:
        kwargs = {"max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample}
        if self.do_sample:
            kwargs.update(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k)
            if self.min_p:
                kwargs["min_p"] = self.min_p
        return kwargs


def render_prompts(tokenizer, conversations: list[list[dict]], enable_thinking: bool = True) -> list[str]:
    """Each conversation as the text the model continues (generation prompt added).

    Thinking off means the reply starts after an empty think block. Templates with a thinking
    switch (Qwen3's, the pocket model's) write that block themselves; Llama 3's template
    silently ignores `enable_thinking`, so there the block is appended here. Without it the
    "no think" evaluation would repeat the thinking one under another name.
    """
    prompts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True,
                                             enable_thinking=enable_thinking) for c in conversations]
    if enable_thinking or has_thinking_switch(tokenizer):
        return prompts
    return [p + EMPTY_THINK_BLOCK for p in prompts]


def has_thinking_switch(tokenizer) -> bool:
    """Does the tokenizer's chat template read `enable_thinking`?"""
    return "enable_thinking" in str(tokenizer.chat_template or "")


def generate(model, tokenizer, conversations: list[list[dict]], sampling: Sampling = Sampling(),
             batch_size: int = 32, desc: str = "generating", first_round: int = 16) -> list[str]:
    """The model's reply to each conversation, in input order, special tokens removed.

    Generation runs in rounds of growing length (16, 32, 64... new tokens). After each round,
    rows that reached an end token leave and the rest continue together. A plain batch keeps
    every finished row waiting (and computing padding) until its longest reply ends. Rounds
    bound that waste by the round's length, which is what makes batching pay off when reply
    lengths vary, as they do in evaluation.
    """
    prompts = render_prompts(tokenizer, conversations, sampling.enable_thinking)
    tokens = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    replies: list[list[int]] = [[] for _ in prompts]
    stops = end_token_ids(model, tokenizer)
    active, spent, budget = list(range(len(prompts))), 0, first_round
    progress = tqdm(total=len(prompts), desc=desc, mininterval=2)
    while active and spent < sampling.max_new_tokens:
        length = min(budget, sampling.max_new_tokens - spent)
        finished, batch_size = run_round(model, tokenizer, tokens, replies, active, length, sampling, batch_size,
                                         stops)
        progress.update(len(finished))
        active = [i for i in active if i not in finished]
        spent, budget = spent + length, budget * 2
    progress.update(len(active))  # rows cut off at max_new_tokens
    progress.close()
    return [tokenizer.decode(r, skip_special_tokens=True) for r in replies]


def run_round(model, tokenizer, tokens, replies, active, length, sampling, batch_size, stops) -> tuple[set[int], int]:
    """Extend every active row by up to `length` tokens.

    Returns the rows that ended, and the batch size that fitted: a batch that runs out of GPU
    memory is halved and retried, and later rounds start from the smaller size instead of
    running out of memory again.
    """
    finished: set[int] = set()
    # Longest first, so each batch holds rows of similar length and pads little.
    order = sorted(active, key=lambda i: len(tokens[i]) + len(replies[i]), reverse=True)
    start = 0
    while start < len(order):
        chunk = order[start:start + batch_size]
        try:
            new_rows = generate_ids(model, tokenizer, [tokens[i] + replies[i] for i in chunk],
                                    replace(sampling, max_new_tokens=length))
        except torch.cuda.OutOfMemoryError:
            if batch_size == 1:
                raise
            new_rows = None
        if new_rows is None:
            # Outside the `except` block: while it runs, the exception's traceback still holds the
            # failed batch's tensors, and emptying the cache there frees nothing.
            batch_size = max(1, batch_size // 2)
            torch.cuda.empty_cache()
            continue
        for i, row in zip(chunk, new_rows, strict=True):
            kept = cut_at_stop(row, stops)
            replies[i].extend(kept)
            if kept and kept[-1] in stops:
                finished.add(i)
        start += len(chunk)
    return finished, batch_size


@torch.inference_mode()
def generate_ids(model, tokenizer, rows: list[list[int]], sampling: Sampling) -> list[list[int]]:
    """One left-padded batch through `model.generate`; the new token ids of each row."""
    input_ids, attention = left_pad(rows, tokenizer.pad_token_id, model.device)
    with lora_merged(model):
        output = model.generate(input_ids=input_ids, attention_mask=attention, **sampling.generate_kwargs(),
                                pad_token_id=tokenizer.pad_token_id)
    return output[:, input_ids.shape[1]:].tolist()


@contextmanager
def lora_merged(model):
    """The active LoRA adapter added into its base weights while the block runs; afterwards
    the base weights are copied back as they were, bit for bit.

    An unmerged adapter costs every linear layer two extra small matrix products per token, and
    generation is one token at a time: merged, the pocket model generates about a fifth faster
    on a CPU. Merging only where it is exact to undo (float32 weights, not quantized): a
    quantized or half-precision base would be rounded by merge and unmerge, so those run as
    they are. The copy costs a second set of the adapted layers' weights, which only the
    float32 models (the pocket model) need.
    """
    layers = exactly_mergeable(model)
    saved = [layer.get_base_layer().weight.detach().clone() for layer in layers]
    if layers:
        model.merge_adapter()
    try:
        yield
    finally:
        if layers:
            model.unmerge_adapter()
            with torch.no_grad():
                for layer, weight in zip(layers, saved, strict=True):
                    layer.get_base_layer().weight.copy_(weight)


def exactly_mergeable(model) -> list:
    """The LoRA layers of `model` to merge for generation: all of them when every base layer is
    a plain float32 `Linear` and the adapter is switched on; none otherwise (no adapter, a
    quantized or half-precision base, an adapter switched off, a layer already merged)."""
    if not hasattr(model, "merge_adapter"):
        return []
    from peft.tuners.lora import LoraLayer

    layers = [m for m in model.modules() if isinstance(m, LoraLayer)]
    usable = all(type(layer.get_base_layer()) is torch.nn.Linear
                 and layer.get_base_layer().weight.dtype == torch.float32
                 and not layer.disable_adapters and not layer.merged for layer in layers)
    return layers if usable else []


def left_pad(rows: list[list[int]], pad: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rows padded on the left to one width, and their attention mask: every row then
    ends at the last column, where the next token is read or generated.

    >>> ids, attention = left_pad([[5, 6], [7]], pad=0, device="cpu")
    >>> ids.tolist(), attention.tolist()
    ([[5, 6], [0, 7]], [[1, 1], [0, 1]])
    """
    width = max(len(r) for r in rows)
    input_ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=device)
    attention = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
    return input_ids, attention


def position_ids(attention: torch.Tensor) -> torch.Tensor:
    """Positions that count real tokens only, as `generate` computes them: with left padding a
    row's first token is at position 0 whatever the padding before it, so a row's result does
    not depend on the other rows of its batch.

    >>> position_ids(torch.tensor([[0, 1, 1], [1, 1, 1]])).tolist()
    [[0, 0, 1], [0, 1, 2]]
    """
    return (attention.cumsum(-1) - 1).clamp(min=0)


def cut_at_stop(ids: list[int], stops: set[int]) -> list[int]:
    """The tokens up to and including the first end token; all of them where none ends.

    >>> cut_at_stop([5, 6, 2, 7, 2], {2}), cut_at_stop([5, 6], {2})
    ([5, 6, 2], [5, 6])
    """
    cut = next((k for k, t in enumerate(ids) if t in stops), None)
    return ids if cut is None else ids[: cut + 1]


def end_token_ids(model, tokenizer) -> set[int]:
    ids = model.generation_config.eos_token_id
    ids = set(ids if isinstance(ids, list) else [ids]) if ids is not None else set()
    return ids | ({tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set())


def count_new_tokens(tokenizer, replies: list[str]) -> int:
    """Tokens actually generated (up to each reply's end), for throughput figures."""
    return sum(len(tokenizer(r, add_special_tokens=False)["input_ids"]) for r in replies)
