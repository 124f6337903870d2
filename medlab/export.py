"""From a LoRA adapter to a file a laptop can chat with: merge, convert to GGUF, quantize.

1. **Merge** (`merge_adapter`): the adapter's update `(alpha / r) * B A` is added into the base
   weights, and the result is saved as an ordinary Hugging Face folder. The base is loaded in
   16-bit (never 4-bit) for this: adding a float update into NF4 weights would round it away.
2. **Convert** (`convert_to_gguf`): llama.cpp's own `convert_hf_to_gguf.py`, from the
   llama.cpp that the installed `llama-cpp-python` vendors, so the file's writer and its reader
   are one version of one project (`fetch_converter`).
3. **Quantize** (`quantize_gguf`): llama.cpp's quantizer, called through `llama_cpp`.

Used in notebooks/09_export_chat.ipynb and by `python -m medlab.chat`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from contextlib import closing
from pathlib import Path

from medlab.runlog import course_root

CONVERTER_DIR = ".cache/llama.cpp"
"""Where `fetch_converter` keeps the converter, under the checkout (ignored by git)."""
PACKAGES = ("conversion/", "gguf-py/")
# Refuse links and absolute paths inside the archive where this Python can (3.10.12+, 3.11.4+).
SAFE_EXTRACT = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


# ---- merge -------------------------------------------------------------------------------------

def merge_adapter(info, profile, out_dir: Path) -> Path:
    """The base model with `info`'s adapter merged in, saved to `out_dir` (safetensors) with its
    tokenizer. The merge runs on the CPU, in fp16 for a GPU profile's model (an 8B does not fit
    a T4's 15 GB in fp16) and in the profile's precision otherwise; never in 4-bit. The RAM it
    needs and the disk it writes are checked first."""
    from peft import PeftModel

    from medlab.models import load_model_and_tokenizer

    on_cpu = merge_profile(profile)
    check_memory_for_merge(info.base_model, on_cpu)
    out_dir = Path(out_dir)
    require_free_disk(out_dir, merge_memory_gb(info.base_model, on_cpu.precision) * 1e9, "the merged model")
    model, tokenizer = load_model_and_tokenizer(info.base_model, on_cpu)
    merged = PeftModel.from_pretrained(model, info.path).merge_and_unload()
    merged.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    copy_sentencepiece_model(info.base_model, out_dir)
    return out_dir


def merge_profile(profile):
    """`profile` as the merge runs it: on the CPU, 16-bit for a GPU profile's model, never 4-bit."""
    from dataclasses import replace

    return replace(profile, load_in_4bit=False, device="cpu",
                   precision="fp16" if profile.device == "cuda" else profile.precision)


def weight_count(model_id: str) -> int:
    """The weights of `model_id`, counted from its config alone (nothing is downloaded but the
    config); a tied output layer is the embedding, counted once."""
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    from medlab.models import from_hub

    with init_empty_weights():
        skeleton = AutoModelForCausalLM.from_config(from_hub(AutoConfig.from_pretrained, model_id))
    skeleton.tie_weights()
    return sum(p.numel() for p in skeleton.parameters())


def merge_memory_gb(model_id: str, precision: str) -> float:
    """RAM a merge needs: every weight of the base at `precision`."""
    return weight_count(model_id) * (4 if precision == "fp32" else 2) / 1e9


def check_memory_for_merge(model_id: str, profile) -> None:
    """Fail before loading when the base cannot fit in this machine's free RAM; print both."""
    import psutil

    needed = merge_memory_gb(model_id, profile.precision)
    free = psutil.virtual_memory().available / 1e9
    print(f"merge: about {needed:.1f} GB of RAM for {model_id} in {profile.precision} ({free:.1f} GB free)")
    if needed > free:
        raise MemoryError(
            f"merging into {model_id} needs about {needed:.1f} GB of RAM in {profile.precision}; "
            f"{free:.1f} GB is free. "
            "Merge on a machine with more memory (copy the adapter folder there), export a smaller base's adapter "
            "(ADAPTER = 'sft_triage', a 3B), or give llama.cpp the base GGUF and the adapter separately")


MCQ_ADAPTERS = ("ppo_mcq", "sft_mcq")
"""The MedLLM finish: its adapters, on the large model (Llama-3.1-8B on t4)."""
SMALL_ADAPTERS = ("grpo_triage_bonus", "sft_triage", "grpo_imaging_citations", "sft_imaging", "sft_reasoning")
"""Adapters on the small model (Llama-3.2-3B), whose 16-bit merge fits a free Colab's RAM."""


def choose_adapter(profile, requested: str | None = None):
    """The adapter 09 exports: `requested`, or the first of `MCQ_ADAPTERS` then `SMALL_ADAPTERS`
    that is saved and whose base can be merged in this machine's free RAM (on a free Colab the
    8B's 16.1 GB cannot: a 3B adapter then). Says why when it passes one over."""
    import psutil

    from medlab.adapters import find_adapters, saved_adapter

    if requested:
        return saved_adapter(profile, requested)
    present = {info.name: info for info in find_adapters(profile)}
    free = psutil.virtual_memory().available / 1e9
    for name in (*MCQ_ADAPTERS, *SMALL_ADAPTERS):
        if name not in present:
            continue
        needed = merge_memory_gb(present[name].base_model, merge_profile(profile).precision)
        if needed <= free:
            return present[name]
        print(f"{name}: its base {present[name].base_model} needs {needed:.1f} GB of RAM to merge, "
              f"{free:.1f} GB is free here; looking for an adapter on a smaller base")
    raise FileNotFoundError(f"no adapter in the runs folder can be merged in {free:.1f} GB of free RAM: train "
                            "one of " + ", ".join(SMALL_ADAPTERS) + " (04, 06, 07), or set ADAPTER")


# ---- disk and GPU memory, checked before each step ---------------------------------------------

GGUF_BYTES_PER_WEIGHT = {"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}
"""llama.cpp's formats: f16 is 2 bytes a weight; q8_0 blocks of 32 8-bit weights and an f16
scale; q4_0 blocks of 32 4-bit weights and an f16 scale. A few tensors stay wider, so a file
comes out somewhat larger (`gguf_bytes` adds 10%)."""


def gguf_bytes(model_id: str, kind: str) -> float:
    """About how many bytes the GGUF file of `model_id` in `kind` takes."""
    return weight_count(model_id) * GGUF_BYTES_PER_WEIGHT[kind] * 1.1


def require_free_disk(folder: Path, needed: float, what: str) -> None:
    """Print what `what` writes to `folder` and the space free there; stop first if it does not fit."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    print(f"{what}: writes about {needed / 1e9:.2f} GB to {folder} ({free / 1e9:.1f} GB free)")
    if needed > free:
        raise OSError(f"{what} needs about {needed / 1e9:.2f} GB in {folder}, where {free / 1e9:.1f} GB is free: "
                      "delete what you no longer need there (files deleted on Google Drive stay in its trash, "
                      "still counted, until it is emptied), or keep a smaller file (KEEP = 'q4_0')")


def require_gpu_memory(needed: float, what: str) -> None:
    """On a GPU: print what `what` needs and what is free, and stop first if it does not fit."""
    import torch

    if not torch.cuda.is_available():
        return
    free, total = torch.cuda.mem_get_info()
    print(f"{what}: about {needed / 2**30:.1f} GiB of GPU memory ({free / 2**30:.1f} of {total / 2**30:.1f} GiB free)")
    if needed > free:
        raise MemoryError(f"{what} needs about {needed / 2**30:.1f} GiB of GPU memory and {free / 2**30:.1f} GiB is "
                          "free: compare on a larger GPU, or export an adapter of the smaller model (a 3B)")


def keep_file(path: Path, folder: Path) -> Path:
    """`path` copied into `folder` (the runs folder: Google Drive on Colab), unless it is there."""
    target = Path(folder) / Path(path).name
    if Path(path).resolve() != target.resolve():
        require_free_disk(folder, Path(path).stat().st_size, f"keeping {Path(path).name}")
        shutil.copyfile(path, target)
    print(f"kept: {target} ({target.stat().st_size / 2**20:,.1f} MB)")
    return target


def copy_sentencepiece_model(model_id: str, out_dir: Path) -> None:
    """The base's `tokenizer.model`, where it has one, beside the merged weights.

    transformers saves only its own `tokenizer.json`. Without the SentencePiece file, the
    converter builds the vocabulary from that JSON and gives every piece the same score, and
    llama.cpp, which merges pieces by score, then splits words differently from the tokenizer
    the model was trained with (measured: every MedQA prompt of the pocket model)."""
    from medlab.models import resolve_model

    source = Path(resolve_model(model_id))
    if source.is_dir():
        if (source / "tokenizer.model").is_file():
            shutil.copy(source / "tokenizer.model", out_dir / "tokenizer.model")
        return
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:  # a hub model: fetch the file where the repository has one (Llama 3's BPE does not)
        shutil.copy(hf_hub_download(model_id, "tokenizer.model"), out_dir / "tokenizer.model")
    except EntryNotFoundError:
        pass


# ---- llama.cpp's converter ---------------------------------------------------------------------

def fetch_converter(root: Path | None = None) -> Path:
    """`convert_hf_to_gguf.py` of the llama.cpp that the installed `llama-cpp-python` vendors.

    The converter ships only in the package's source archive, so the archive of the installed
    version is downloaded once and the converter and its `gguf-py` are unpacked from it.
    """
    import llama_cpp

    folder = (root or course_root()) / CONVERTER_DIR / llama_cpp.__version__
    script = folder / "convert_hf_to_gguf.py"
    if script.exists():
        verify_converter(folder, llama_cpp.__version__)  # a cached copy too: it is run as a program
        return script
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                        f"llama-cpp-python=={llama_cpp.__version__}", "-d", tmp], check=True)
        archives = sorted(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        if not archives:
            raise FileNotFoundError(f"pip gave no source archive of llama-cpp-python {llama_cpp.__version__}: "
                                    "the converter ships only there")
        unpack_converter(archives[0], folder)
    verify_converter(folder, llama_cpp.__version__)
    return script


CONVERTER_SHA256 = {"0.3.36": "708d70c516bf277cf51a4e99bb6f0ed3ec359ecc5389d115c712b24f6313b2bd"}
"""`integrity.folder_digest` of the converter unpacked from each tested llama-cpp-python's source."""


def verify_converter(folder: Path, version: str) -> None:
    """The unpacked converter is the one the course was tested with; a differing one stops."""
    from medlab.integrity import IntegrityError, folder_digest

    if version not in CONVERTER_SHA256:
        raise IntegrityError(f"no pinned sha256 for the converter of llama-cpp-python {version}: the course is "
                             f"tested with {', '.join(CONVERTER_SHA256)} (make setup installs it)")
    found = folder_digest(folder)
    if found != CONVERTER_SHA256[version]:
        raise IntegrityError(f"llama.cpp's converter in {folder} has sha256 {found}, not the "
                             f"{CONVERTER_SHA256[version]} it was tested with: delete {folder} and run "
                             "`python -m medlab.export` to fetch it again")


def unpack_converter(archive: Path, folder: Path) -> None:
    """The converter script and the two packages it imports (`conversion`, `gguf-py`), out of the
    source archive."""
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            inside = member.name.split("/vendor/llama.cpp/", 1)
            if len(inside) == 2 and (inside[1] == "convert_hf_to_gguf.py" or inside[1].startswith(PACKAGES)):
                member.name = inside[1]
                tar.extract(member, staging, **SAFE_EXTRACT)
    staging.replace(folder)  # all or nothing: a half-unpacked converter is never found


def convert_to_gguf(hf_dir: Path, out_path: Path, outtype: str = "f16", converter: Path | None = None,
                    model_name: str | None = None) -> Path:
    """An HF model folder as one GGUF file (`outtype`: f32, f16, bf16 or q8_0); `model_name` is
    the name the file gives itself (the chat's `info` shows it)."""
    converter = converter or fetch_converter()
    out_path = Path(out_path)
    naming = ["--model-name", model_name] if model_name else []
    result = subprocess.run([sys.executable, str(converter), str(hf_dir), "--outfile", str(out_path),
                             "--outtype", outtype, *naming], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"convert_hf_to_gguf.py failed on {hf_dir}:\n{result.stderr[-2000:]}")
    match_tokenizer(out_path, hf_dir, converter)
    return out_path


SAMPLE_CHAT = [{"role": "system", "content": "You are a clinician."},
               {"role": "user", "content": "Chest pain for two hours?"}]


def match_tokenizer(gguf_path: Path, hf_dir: Path, converter: Path) -> None:
    """Make llama.cpp split a chat prompt into exactly the tokens transformers does.

    Two things can differ in a SentencePiece model's file, and both did for the pocket model:
    - the tokens transformers adds to the vocabulary (the chat's role markers, the think and
      answer tags) arrive as ordinary pieces, so llama.cpp spells `<|user|>` out letter by letter;
    - SentencePiece starts text with a space piece (the "dummy prefix"); llama.cpp adds it to every
      stretch of text after a special token, transformers only at the very start, so each turn
      of a chat would open with a space token the model never saw in training.
    Where llama.cpp and transformers disagree on a sample chat, the file is rewritten with the
    added tokens typed (special ones as control tokens) and the prefix off, by llama.cpp's own
    gguf-py, and checked again.
    """
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    prompt = tokenizer.apply_chat_template(SAMPLE_CHAT, tokenize=False, add_generation_prompt=True)
    expected = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    if llama_cpp_tokens(gguf_path, prompt) == expected:
        return
    gguf = vendored_gguf(converter)
    types = list(gguf.GGUFReader(gguf_path, "r").fields["tokenizer.ggml.token_type"].contents())
    for token_id, added in tokenizer.added_tokens_decoder.items():
        if token_id < len(types):
            types[token_id] = gguf.TokenType.CONTROL if added.special else gguf.TokenType.USER_DEFINED
    rewrite_metadata(gguf_path, gguf, {
        "tokenizer.ggml.token_type": (gguf.GGUFValueType.ARRAY, [int(t) for t in types], gguf.GGUFValueType.INT32),
        "tokenizer.ggml.add_space_prefix": (gguf.GGUFValueType.BOOL, False, None),
    })
    if llama_cpp_tokens(gguf_path, prompt) != expected:
        raise RuntimeError(f"llama.cpp tokenizes {gguf_path.name}'s chat prompts differently from transformers; "
                           "its replies would not match the model's")


def llama_cpp_tokens(gguf_path: Path, text: str) -> list[int]:
    import llama_cpp
    from llama_cpp._utils import suppress_stdout_stderr

    with suppress_stdout_stderr(disable=False):  # llama.cpp warns from C about the missing context
        vocab = llama_cpp.Llama(model_path=str(gguf_path), vocab_only=True, verbose=False)
    try:
        return vocab.tokenize(text.encode(), add_bos=False, special=True)
    finally:
        vocab.close()


def vendored_gguf(converter: Path):
    """llama.cpp's gguf-py, from beside the converter: the same version that wrote the file."""
    folder = converter.parent / "gguf-py"
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    import gguf

    if folder not in Path(gguf.__file__).parents:
        raise RuntimeError(f"another gguf package ({gguf.__file__}) is already imported; restart the kernel so "
                           f"that llama.cpp's own, in {folder}, is used")
    return gguf


def rewrite_metadata(gguf_path: Path, gguf_py, values: dict[str, tuple]) -> None:
    """Set metadata keys of a GGUF file (`key: (type, value, array item type)`) with gguf-py's
    `copy_with_new_metadata`, the code of llama.cpp's `gguf_new_metadata.py`; `gguf_py` is the
    module `vendored_gguf` returned."""
    from gguf.scripts.gguf_new_metadata import MetadataDetails, copy_with_new_metadata  # beside gguf_py

    reader = gguf_py.GGUFReader(gguf_path, "r")
    staging = gguf_path.with_suffix(".tmp")
    writer = gguf_py.GGUFWriter(staging, arch=reader.fields["general.architecture"].contents())
    copy_with_new_metadata(reader, writer, {key: MetadataDetails(kind, value, sub_type=item)
                                            for key, (kind, value, item) in values.items()}, [])
    del reader  # release the memory map before replacing the file
    staging.replace(gguf_path)


def quantize_gguf(source: Path, out_path: Path, kind: str = "q4_0") -> Path:
    """`source` requantized by llama.cpp's own quantizer (`kind`: q4_0, q4_k_m, q5_k_m...).

    Tensors whose width the kind's blocks do not divide fall back to a type that fits, as
    llama.cpp's `llama-quantize` does."""
    import llama_cpp
    from llama_cpp._utils import suppress_stdout_stderr

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{kind.upper()}")
    with suppress_stdout_stderr(disable=False):  # llama.cpp prints a line per tensor from C
        status = llama_cpp.llama_model_quantize(str(source).encode(), str(out_path).encode(), params)
    if status != 0:
        raise RuntimeError(f"llama.cpp could not quantize {source} to {kind} (status {status})")
    return Path(out_path)


# ---- running a GGUF file -----------------------------------------------------------------------

DEFAULT_CONTEXT = 4096  # tokens: any course prompt with its longest reply budget, with room


def load_gguf(path: Path, n_ctx: int | None = None, n_gpu_layers: int = 0, threads: int | None = None):
    """A `llama_cpp.Llama` for `path` with a context of `n_ctx` tokens (None: `DEFAULT_CONTEXT`,
    or the model's trained context where that is shorter), quiet, with a one-line error for a
    missing or unreadable file or a context that does not fit in memory.

    The context is always bounded: llama.cpp reads 0 as the model's trained context, 131,072
    tokens for Llama 3.x, and allocates its whole KV cache up front (14 GiB for a 3B in f16, on
    a Colab VM with about 12.7 GB of RAM). The KV cache's size is printed before it is allocated.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}: give the path of a .gguf file (notebook 09 writes them)")
    if n_ctx is not None and n_ctx <= 0:
        raise ValueError(f"a context of {n_ctx} tokens: give a positive length such as {DEFAULT_CONTEXT} (llama.cpp "
                         "would read 0 as the model's trained context, 131,072 tokens for Llama 3.x)")
    import llama_cpp
    from llama_cpp._utils import suppress_stdout_stderr

    metadata = gguf_metadata(path)
    trained = metadata_int(metadata, "context_length")
    n_ctx = n_ctx or default_context(metadata)
    need = kv_cache_bytes(metadata, n_ctx)
    print(f"{path.name}: context {n_ctx:,} tokens of {trained:,} trained, KV cache {need / 2**30:.2f} GiB (f16)")
    try:
        with suppress_stdout_stderr(disable=False):  # llama.cpp's loading chatter, printed from C
            return llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_gpu_layers=n_gpu_layers, n_threads=threads,
                                   verbose=False)
    except ValueError as error:  # llama_cpp's way of saying the model or its context did not load
        if "llama_context" in str(error):
            raise MemoryError(f"llama.cpp could not allocate a context of {n_ctx:,} tokens for {path.name} (a KV "
                              f"cache of {need / 2**30:.2f} GiB): give a smaller n_ctx") from None
        raise ValueError(f"{path} is not a GGUF model llama.cpp can read ({error})") from None


def default_context(metadata: dict[str, str]) -> int:
    """The context a model file is opened with unless asked otherwise: `DEFAULT_CONTEXT`, or the
    model's trained context where that is shorter (1,024 tokens for the pocket model).

    >>> default_context({"general.architecture": "llama", "llama.context_length": "131072"})
    4096
    """
    return min(DEFAULT_CONTEXT, metadata_int(metadata, "context_length"))


def gpu_layers() -> int:
    """Layers llama.cpp should put on the GPU: all (-1) where a GPU is present and this build of
    llama.cpp can use it, else 0. `medlab.llama_build` builds for the CPU unless `CMAKE_ARGS`
    asks for CUDA (`-DGGML_CUDA=on`)."""
    import llama_cpp
    import torch

    return -1 if torch.cuda.is_available() and llama_cpp.llama_supports_gpu_offload() else 0


def gguf_metadata(path: Path) -> dict[str, str]:
    """The GGUF file's key-value header, read with the vocabulary only (no weights, no context)."""
    import llama_cpp
    from llama_cpp._utils import suppress_stdout_stderr

    try:
        with suppress_stdout_stderr(disable=False):
            header = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    except ValueError as error:
        raise ValueError(f"{path} is not a GGUF model llama.cpp can read ({error})") from None
    with closing(header):
        return dict(header.metadata)


def metadata_int(metadata: dict[str, str], field: str, default: int | None = None) -> int:
    """An integer field of the model's architecture, e.g. "block_count" -> `llama.block_count`."""
    value = metadata.get(f"{metadata['general.architecture']}.{field}")
    if value is None:
        if default is None:
            raise KeyError(f"the GGUF header has no {metadata['general.architecture']}.{field}")
        return default
    return int(value)


def kv_cache_bytes(metadata: dict[str, str], n_ctx: int) -> int:
    """Bytes of an f16 KV cache of `n_ctx` tokens: keys and values, for every layer and KV head.

    >>> llama32_3b = {"general.architecture": "llama", "llama.block_count": "28", "llama.embedding_length": "3072",
    ...               "llama.attention.head_count": "24", "llama.attention.head_count_kv": "8"}
    >>> kv_cache_bytes(llama32_3b, 131072) / 2**30
    14.0
    """
    heads = metadata_int(metadata, "attention.head_count")
    head_dim = metadata_int(metadata, "embedding_length") // heads
    kv_heads = metadata_int(metadata, "attention.head_count_kv", heads)
    key, value = (metadata_int(metadata, f"attention.{part}_length", head_dim) for part in ("key", "value"))
    return n_ctx * metadata_int(metadata, "block_count") * kv_heads * (key + value) * 2  # 2 bytes an f16


def agreement(replies: list[str], reference: list[str], parse, items, tokenize) -> dict[str, float]:
    """How closely `replies` (a GGUF file's) follow `reference` (the transformers model's), case
    by case: the share whose answers, as `parse(reply, item)` reads them, are the same, and the
    mean share of tokens written before the first difference.

    Whole replies are the wrong unit: a GPU and a CPU, or f16 and 4-bit weights, round near-ties
    differently, and one different token early on sends the rest of a long reply elsewhere
    while the answer stays the same.

    >>> agreement(["A. yes", "B"], ["A. no", "C"], lambda r, _: r[0], [None, None], str.split)
    {'answers': 0.5, 'tokens_before_first_difference': 0.25}
    """
    answers, prefix = [], []
    for reply, ref, item in zip(replies, reference, items, strict=True):
        answers.append(parse(reply, item) == parse(ref, item))
        a, b = tokenize(reply), tokenize(ref)
        same = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
        prefix.append(same / max(len(a), len(b), 1))
    n = max(len(answers), 1)
    return {"answers": sum(answers) / n, "tokens_before_first_difference": round(sum(prefix) / n, 4)}


def gguf_replies(llm, prompts: list[str], max_tokens: int) -> tuple[list[str], float]:
    """Greedy replies to prompts already rendered by the chat template, and tokens per second.

    The prompts are tokenized as written (their BOS included, special tokens parsed), so the
    GGUF model reads exactly the tokens the transformers model read."""
    replies, tokens, started = [], 0, time.time()
    for prompt in prompts:
        ids = llm.tokenize(prompt.encode(), add_bos=False, special=True)
        out = llm.create_completion(ids, max_tokens=max_tokens, temperature=0.0, top_k=1)
        replies.append(out["choices"][0]["text"])
        tokens += out["usage"]["completion_tokens"]
        llm.reset()
    return replies, tokens / max(time.time() - started, 1e-9)


if __name__ == "__main__":  # `make setup`: fetch the converter once, so notebook 09 runs offline
    print(f"GGUF converter: {fetch_converter()}")
