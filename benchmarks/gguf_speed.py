"""Benchmark: tokens/s of a GGUF file through the installed llama.cpp, and the build it ran on.

    .venv/bin/python benchmarks/gguf_speed.py [--model FILE.gguf] [--tokens 128] [--prompts 4]

Without `--model` it converts the course's pocket model to q8_0 once (into the pocket model's
cache). Each prompt gets exactly `--tokens` new tokens (every end token is masked, so a short
reply does not flatter or spoil the figure), greedily, on all cores. Prints the build's flags,
llama.cpp's CPU features, and a last line `tokens/s: X`. Compare a portable and a native build
by installing each in turn (README, "The llama.cpp build").
"""

import argparse
import time
from pathlib import Path

import llama_cpp
import numpy as np

from medlab.export import convert_to_gguf, load_gguf
from medlab.llama_build import build_description, system_info
from medlab.pocket import pocket_model_path

PROMPTS = ["A 70-year-old man has crushing chest pain for two hours.", "Sudden severe headache while lifting weights.",
           "Fever, neck stiffness and a rash in a student.", "Wheeze and a silent chest in a child of four."]


def pocket_q8_0() -> Path:
    folder = pocket_model_path()
    target = folder.parent / f"{folder.name}-q8_0.gguf"
    return target if target.is_file() else convert_to_gguf(folder, target, "q8_0", model_name="pocket")


def end_tokens(llm) -> list[int]:
    """Every token llama.cpp ends a reply on (end of text, end of turn...)."""
    vocab = llama_cpp.llama_model_get_vocab(llm._model.model)
    return [token for token in range(llm.n_vocab()) if llama_cpp.llama_vocab_is_eog(vocab, token)]


def tokens_per_second(llm, prompts: list[str], tokens: int) -> float:
    ends = end_tokens(llm)

    def never_end(_ids, scores):
        scores[ends] = -np.inf
        return scores

    started = time.perf_counter()
    for prompt in prompts:
        out = llm.create_completion(prompt, max_tokens=tokens, temperature=0.0, logits_processor=[never_end])
        assert out["usage"]["completion_tokens"] == tokens
        llm.reset()
    return len(prompts) * tokens / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, help="a .gguf file (default: the pocket model in q8_0)")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--prompts", type=int, default=4)
    args = parser.parse_args()
    model = args.model or pocket_q8_0()
    print(f"build: {build_description()}")
    print(f"llama.cpp: {system_info()}")
    llm = load_gguf(model, n_ctx=512)
    try:
        tokens_per_second(llm, PROMPTS[:1], 8)  # warm-up: first-call allocations
        speed = tokens_per_second(llm, (PROMPTS * args.prompts)[: args.prompts], args.tokens)
    finally:
        llm.close()
    print(f"model: {model} ({model.stat().st_size / 2**20:.1f} MB)")
    print(f"tokens/s: {speed:.0f}")


if __name__ == "__main__":
    main()
