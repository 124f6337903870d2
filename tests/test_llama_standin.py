"""The t4 path against Llama's and Qwen's own files: the real tokenizers, the official chat
templates and the published configs, through stand-in models (`standins.py`) on a CPU.

The pocket model could not show any of this: its tokenizer, template, end token and context are
the course's own. Each test here checks one thing a learner's first Llama run meets.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from medlab import prompts
from medlab.data import sources
from medlab.evaluation import TASKS
from medlab.generation import EMPTY_THINK_BLOCK, Sampling, end_token_ids, generate, render_prompts
from medlab.models import TEMPLATE_DATE, load_tokenizer
from medlab.profiles import load_profile

EOT, EOM, END_OF_TEXT, BEGIN = 128009, 128008, 128001, 128000


@pytest.fixture(scope="module")
def eval_sets():
    return sources.eval_sets(load_profile("tiny"))


def conversation(eval_sets, task="triage"):
    return TASKS[task].messages(eval_sets[task][0])


# ---- the tokenizer is Llama 3's own ----------------------------------------------------------

def test_the_stand_in_has_the_real_llama3_tokenizer_with_31s_token_names(llama32):
    tokenizer = AutoTokenizer.from_pretrained(llama32)
    assert len(tokenizer) == 128256
    assert tokenizer("Hello world", add_special_tokens=False)["input_ids"] == [9906, 1917]
    ids = tokenizer.convert_tokens_to_ids(["<|begin_of_text|>", "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>",
                                           "<|python_tag|>", "<|finetune_right_pad_id|>"])
    assert ids == [BEGIN, EOT, EOM, END_OF_TEXT, 128010, 128004]
    assert tokenizer.pad_token is None  # as published: the course must set one itself


def test_the_configs_carry_the_published_fields_that_change_behaviour(llama32, llama31, qwen_judge):
    small, large, judge = (AutoConfig.from_pretrained(p) for p in (llama32, llama31, qwen_judge))
    for config in (small, large):
        assert config.vocab_size == 128256 and config.max_position_embeddings == 131072
        assert config.num_key_value_heads == 8 and config.eos_token_id == [END_OF_TEXT, EOM, EOT]
        assert config.pad_token_id is None and config.rope_scaling["rope_type"] == "llama3"
        assert config.rope_scaling["original_max_position_embeddings"] == 8192
    assert (small.rope_scaling["factor"], small.tie_word_embeddings) == (32.0, True)
    assert (large.rope_scaling["factor"], large.tie_word_embeddings) == (8.0, False)
    assert judge.model_type == "qwen2" and judge.vocab_size == 151936 and judge.tie_word_embeddings
    assert AutoTokenizer.from_pretrained(qwen_judge)("Hello world")["input_ids"] == [9707, 1879]


# ---- prompts as the official templates write them ---------------------------------------------

def test_prompts_carry_the_templates_date_lines_and_the_empty_think_block_when_thinking_is_off(
        llama32, llama31, eval_sets):
    messages = conversation(eval_sets)
    for folder in (llama31, llama32):
        tokenizer = load_tokenizer(str(folder))
        on, off = (render_prompts(tokenizer, [messages], flag)[0] for flag in (True, False))
        assert on.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                             "Cutting Knowledge Date: December 2023\n")
        assert f"Today Date: {TEMPLATE_DATE}\n" in on and messages[0]["content"] in on
        assert on.endswith("<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
        assert off == on + EMPTY_THINK_BLOCK  # Llama's template ignores enable_thinking: the block is added


def test_llama_32s_prompt_is_the_same_on_any_day(llama32, eval_sets, monkeypatch):
    """3.2's template stamps today's date unless given one: the course gives it TEMPLATE_DATE."""
    import datetime as real_datetime

    from transformers.utils import chat_template_utils

    tokenizer, messages = load_tokenizer(str(llama32)), conversation(eval_sets)
    today = render_prompts(tokenizer, [messages])[0]

    class NewYear(real_datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2031, 1, 1, tzinfo=tz)

    monkeypatch.setattr(chat_template_utils, "datetime", NewYear)
    assert render_prompts(tokenizer, [messages])[0] == today


# ---- generation stops at each of Llama's end tokens ---------------------------------------------

def forced_to_say(folder, token_id: int):
    """The stand-in with `token_id` always the likeliest next token: the reply is whatever the
    harness makes of a model that ends (or never ends) with that token."""
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()

    def boost(module, inputs, logits):
        logits[..., token_id] += 1e4
        return logits

    model.lm_head.register_forward_hook(boost)
    return model


@pytest.mark.parametrize("end", [EOT, EOM, END_OF_TEXT])
def test_generation_stops_at_every_llama_end_token_and_replies_hold_no_special_tokens(llama31, eval_sets, end):
    tokenizer = load_tokenizer(str(llama31))
    model = forced_to_say(llama31, end)
    assert end_token_ids(model, tokenizer) == {EOT, EOM, END_OF_TEXT}
    replies = generate(model, tokenizer, [conversation(eval_sets)] * 2, Sampling(max_new_tokens=16))
    assert replies == ["", ""]  # the end token ended the reply, and is not in its text


def test_a_reply_that_never_ends_is_cut_at_the_budget_without_special_tokens(llama31, eval_sets):
    tokenizer = load_tokenizer(str(llama31))
    model = forced_to_say(llama31, 128011)  # a reserved special token, over and over
    reply = generate(model, tokenizer, [conversation(eval_sets)], Sampling(max_new_tokens=8))[0]
    assert reply == ""  # decoded without special tokens: nothing a parser or a reward could read


# ---- SFT: the loss on the reply only, <|eot_id|> included; nothing cut without a word ------------

def test_sft_labels_only_the_reply_and_its_end_token(llama32, eval_sets, tmp_path):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from medlab.training import sft_rows

    tokenizer = load_tokenizer(str(llama32))  # the course's: <|eot_id|> doubles as the pad token
    messages = conversation(eval_sets) + [{"role": "assistant", "content": "<answer>ESI 2</answer>"}]
    model = AutoModelForCausalLM.from_pretrained(llama32, dtype=torch.float32)
    trainer = SFTTrainer(model=model, processing_class=tokenizer, train_dataset=Dataset.from_list(sft_rows([messages])),
                         args=SFTConfig(output_dir=str(tmp_path), max_length=4096, report_to="none", bf16=False,
                                        use_cpu=True))
    row = trainer.train_dataset[0]
    assert row["input_ids"][0] == BEGIN and row["input_ids"].count(BEGIN) == 1  # one BOS, not two
    batch = trainer.data_collator([row])
    taught = batch["labels"][0][batch["labels"][0] != -100].tolist()
    assert tokenizer.decode(taught) == "<answer>ESI 2</answer><|eot_id|>"  # the stop is learned, though it is the pad


def test_examples_longer_than_max_seq_len_are_counted_and_too_many_stop_the_run(llama32, eval_sets, capsys):
    from medlab.training import TooLong, check_lengths

    tokenizer = AutoTokenizer.from_pretrained(llama32)
    notes = eval_sets["reasoning"][:4]
    conversations = [prompts.reasoning_messages(n) + [{"role": "assistant", "content": prompts.to_target_text(n)}]
                     for n in notes]
    lengths = check_lengths(tokenizer, conversations, 10**6, "fits")
    assert capsys.readouterr().out == ""
    with pytest.raises(TooLong, match=r"4 of 4 examples .* --set max_seq_len="):
        check_lengths(tokenizer, conversations, min(lengths) - 1, "too short")
    assert "4 of 4 examples are longer than max_seq_len" in capsys.readouterr().out


def test_real_length_direct_notes_fit_t4s_reasoning_recipe_and_not_the_profiles_length(llama32, tmp_path):
    from learner_files import write_release_folder

    from medlab.data.load.direct import read_notes
    from medlab.recipes import sft_recipe
    from medlab.training import TooLong, check_lengths, seq_len

    write_release_folder(tmp_path, notes=4, long=True)
    tokenizer, t4 = load_tokenizer(str(llama32)), load_profile("t4")
    conversations = [prompts.reasoning_messages(note, with_answer=True) for note in read_notes(tmp_path)[0]]
    lengths = check_lengths(tokenizer, conversations, seq_len(sft_recipe("reasoning", t4), t4), "sft_reasoning")
    assert 2000 <= max(lengths) <= seq_len(sft_recipe("reasoning", t4), t4)
    with pytest.raises(TooLong, match="sft_reasoning: 4 of 4 examples"):  # the profile's 1,024 cut every chain
        check_lengths(tokenizer, conversations, t4.max_seq_len, "sft_reasoning")


# ---- GGUF: llama.cpp's converter, a bounded context, the file's own template --------------------

@pytest.fixture(scope="module")
def llama_gguf(llama32, tmp_path_factory):
    from medlab.export import convert_to_gguf

    return convert_to_gguf(llama32, tmp_path_factory.mktemp("gguf") / "llama32-f16.gguf", "f16",
                           model_name="llama 3.2 stand-in")


def test_the_converter_recognises_llama3s_pre_tokenizer_and_template(llama_gguf, llama32):
    from medlab.export import gguf_metadata

    metadata = gguf_metadata(llama_gguf)
    assert metadata["tokenizer.ggml.pre"] == "llama-bpe"
    assert metadata["tokenizer.chat_template"] == AutoTokenizer.from_pretrained(llama32).chat_template
    assert metadata["llama.context_length"] == "131072"


def test_a_gguf_file_loads_with_a_bounded_context_and_says_what_its_kv_cache_needs(llama_gguf, capsys):
    from contextlib import closing

    from medlab.export import DEFAULT_CONTEXT, load_gguf

    with closing(load_gguf(llama_gguf)) as llm:
        assert llm.n_ctx() == DEFAULT_CONTEXT  # not the trained 131,072
    assert "context 4,096 tokens of 131,072 trained, KV cache" in capsys.readouterr().out
    with pytest.raises(ValueError, match="131,072 tokens for Llama 3.x"):
        load_gguf(llama_gguf, n_ctx=0)


def test_the_chat_cli_answers_through_the_files_template(llama_gguf, tmp_path):
    script = ("import json, sys\n"
              "from medlab.export import load_gguf\n"
              "llm = load_gguf(sys.argv[1])\n"
              "out = llm.create_chat_completion([{'role': 'user', 'content': 'Chest pain: what first?'}], max_tokens=4,"
              " temperature=0.0)\n"
              "print(json.dumps({'format': llm.chat_format, 'reply': out['choices'][0]['message']['content']}))\n")
    done = subprocess.run([sys.executable, "-c", script, str(llama_gguf)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["format"] == "chat_template.default"  # the template stored in the file, not a guess
    assert "<|" not in result["reply"]


# ---- the judge: Qwen2.5's tokenizer writes "Score: " and one digit, as the reward reads it ---------

def test_the_judge_reads_a_digit_score_through_qwens_and_llamas_own_tokenizers(qwen_judge, llama32):
    from medlab.rewards import digit_token_ids, judge_scores

    for folder in (qwen_judge, llama32):
        digits = digit_token_ids(AutoTokenizer.from_pretrained(folder))
        assert len(set(digits)) == 10
    tokenizer = load_tokenizer(str(qwen_judge))
    judge = AutoModelForCausalLM.from_pretrained(qwen_judge, dtype=torch.float32).eval()
    scores = judge_scores(judge, tokenizer, ["Thunderclap headache: CT first."] * 3,
                          ["CT first.", "", "An unrelated answer about knee pain."], batch_size=2)
    assert len(scores) == 3 and all(0.0 <= s <= 1.0 for s in scores)
