"""Benchmark: batched generation against one prompt at a time, same model, same prompts.

    .venv/bin/python benchmarks/eval_throughput.py [--profile tiny] [--prompts 48] [--batch-size 48]

Prints tokens/s of each and a last line `ratio: X` (batched over sequential). Goal on the
pocket model and a 2-core CPU: X >= 5. Only tokens up to each reply's end are counted, so
padding a finished row does not flatter the batched figure.
"""

import argparse
import time

import torch

from medlab.data import sources
from medlab.evaluation import TASKS
from medlab.generation import Sampling, count_new_tokens, generate
from medlab.models import load_model_and_tokenizer
from medlab.profiles import load_profile


def timed(model, tokenizer, conversations, sampling, batch_size):
    started = time.time()
    replies = generate(model, tokenizer, conversations, sampling, batch_size=batch_size, desc=f"batch {batch_size}")
    seconds = time.time() - started
    return count_new_tokens(tokenizer, replies) / seconds, seconds, replies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--prompts", type=int, default=48)  # the tiny profile's max_eval_examples
    parser.add_argument("--batch-size", type=int, default=48)
    parser.add_argument("--max-new-tokens", type=int, default=160)  # the triage task's budget
    args = parser.parse_args()
    profile = load_profile(args.profile)
    torch.manual_seed(0)
    model, tokenizer = load_model_and_tokenizer(profile.small_model, profile)
    records = sources.splits("triage", profile).test[: args.prompts]
    conversations = [TASKS["triage"].messages(r) for r in records]
    sampling = Sampling(max_new_tokens=args.max_new_tokens)
    timed(model, tokenizer, conversations[:2], sampling, 2)  # warm-up: first calls pay for allocation
    batched, b_seconds, b_replies = timed(model, tokenizer, conversations, sampling, args.batch_size)
    single, s_seconds, s_replies = timed(model, tokenizer, conversations, sampling, 1)
    same = sum(a == b for a, b in zip(b_replies, s_replies, strict=True))
    print(f"device: {model.device}, model: {profile.small_model}, prompts: {len(conversations)}, "
          f"max_new_tokens: {args.max_new_tokens}")
    print(f"batched (batch {args.batch_size}): {batched:8.1f} tokens/s  ({b_seconds:.1f} s)")
    print(f"one at a time:       {single:8.1f} tokens/s  ({s_seconds:.1f} s)")
    print(f"identical replies:   {same}/{len(conversations)} (greedy; padding may change float rounding)")
    print(f"ratio: {batched / single:.1f}")


if __name__ == "__main__":
    main()
