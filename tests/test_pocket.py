"""The pocket model: built from its recipe, deterministic, loadable like a hub model."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from medlab.pocket import corpus, pocket_model_path
from medlab.pocket.chat import REASONING_TAGS, ROLE_TOKENS, render_chat
from medlab.pocket.model import uniform_loss


def test_builds_once_and_is_then_reused(small_model, small_recipe, tmp_path_factory):
    stamp = (small_model / "model.safetensors").stat().st_mtime_ns
    assert pocket_model_path(small_recipe, root=small_model.parent) == small_model
    assert (small_model / "model.safetensors").stat().st_mtime_ns == stamp


def test_same_seed_gives_the_same_model_and_metrics(small_model, small_recipe, tmp_path_factory):
    again = pocket_model_path(small_recipe, root=tmp_path_factory.mktemp("again"))
    first, second = (json.loads((p / "pocket_log.json").read_text()) for p in (small_model, again))
    assert first["loss"] == second["loss"]
    assert first["valid_loss_after"] == second["valid_loss_after"]
    weights = load_file(small_model / "model.safetensors"), load_file(again / "model.safetensors")
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_cache_key_follows_the_recipe(small_recipe):
    assert small_recipe.key() == replace(small_recipe).key()
    assert small_recipe.key() != replace(small_recipe, train_steps=61).key()
    assert small_recipe.key() != replace(small_recipe, seed=1).key()


def test_cache_key_writes_the_corpus_once_per_recipe(small_recipe, monkeypatch):
    written = []
    monkeypatch.setattr(corpus, "documents", lambda n, seed: written.append(seed) or ["a document"])
    recipe = replace(small_recipe, seed=small_recipe.seed + 1000)  # a recipe no other test has asked about
    assert recipe.key() == replace(recipe).key()  # an equal recipe, as each load builds its own
    assert written == [recipe.seed]


def test_pretraining_learns_far_more_than_token_frequencies(small_model, small_recipe):
    log = json.loads((small_model / "pocket_log.json").read_text())
    assert log["valid_loss_before"] > 0.9 * uniform_loss(small_recipe.vocab_size)
    assert log["valid_loss_after"] < 0.5 * log["valid_loss_before"]
    assert log["loss"][-1] < log["loss"][0]


def test_loads_and_generates_through_the_standard_api(small_model):
    tokenizer = AutoTokenizer.from_pretrained(small_model)
    model = AutoModelForCausalLM.from_pretrained(small_model)
    assert model.config.model_type == "llama"
    inputs = tokenizer("A 48-year-old woman arrives by ambulance with", return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]
    assert tokenizer.decode(out[0], skip_special_tokens=True).startswith("A 48-year-old woman")


def test_sentencepiece_model_is_shipped_for_gguf_conversion(small_model):
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(small_model / "tokenizer.model"))
    tokenizer = AutoTokenizer.from_pretrained(small_model)
    assert sp.get_piece_size() == len(tokenizer)
    for tag in ROLE_TOKENS + REASONING_TAGS:  # each tag is one piece, in both tokenizers
        assert sp.piece_to_id(tag) == tokenizer.convert_tokens_to_ids(tag) != sp.unk_id()
    # llama.cpp's converter takes token types from here: role tokens must become control
    # tokens (special), reasoning tags user-defined ones, or llama.cpp splits them into letters.
    declared = json.loads((small_model / "tokenizer_config.json").read_text())["added_tokens_decoder"]
    kinds = {entry["content"]: entry["special"] for entry in declared.values()}
    assert kinds == {**dict.fromkeys(ROLE_TOKENS, True), **dict.fromkeys(REASONING_TAGS, False)}


def test_chat_template_turns_and_tags(small_model):
    tokenizer = AutoTokenizer.from_pretrained(small_model)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Fever."},
                {"role": "assistant", "content": "<think>mild</think><answer>5</answer>"}]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    assert text == ("<s><|system|>\nBe brief.<|end|>\n<|user|>\nFever.<|end|>\n"
                    "<|assistant|>\n<think>mild</think><answer>5</answer><|end|>\n")
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    decoded = tokenizer.decode(ids, skip_special_tokens=True)
    assert "<answer>5</answer>" in decoded and "<|user|>" not in decoded
    prompt = tokenizer.apply_chat_template(messages[:2], tokenize=False, add_generation_prompt=True,
                                           enable_thinking=False)
    assert prompt.endswith("<|assistant|>\n<think>\n\n</think>\n")


def test_chat_template_rejects_unknown_roles(small_model):
    tokenizer = AutoTokenizer.from_pretrained(small_model)
    with pytest.raises(Exception, match="roles are system, user and assistant"):
        tokenizer.apply_chat_template([{"role": "tool", "content": "x"}], tokenize=False)


def test_corpus_is_seeded_and_holds_no_answers():
    docs = corpus.documents(600, seed=3)
    assert docs == corpus.documents(600, seed=3) != corpus.documents(600, seed=4)
    text = "\n".join(docs).lower()
    for answer_marker in ("<answer>", "<think>", "esi level", "esi 1", "usually appropriate",
                          "may be appropriate", "answer:", "final diagnosis", "step 1", "supporting evidence"):
        assert answer_marker not in text


def test_corpus_chat_chores_render_like_the_chat_template(small_model):
    tokenizer = AutoTokenizer.from_pretrained(small_model)
    turns = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
             {"role": "assistant", "content": "a"}]
    assert tokenizer.bos_token + render_chat(turns) == tokenizer.apply_chat_template(turns, tokenize=False)
    chores = [d for d in corpus.documents(90, seed=1) if d.startswith("<|system|>")]
    assert len(chores) == 90 * 3 // len(corpus.GENERATORS)  # three chore generators in the cycle
    assert all(d.count("<|assistant|>") == 1 and d.endswith("<|end|>\n") for d in chores)
