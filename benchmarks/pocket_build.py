"""Benchmark: build the pocket model from scratch and print where the time goes.

    .venv/bin/python benchmarks/pocket_build.py

Builds into a temporary cache (the shared one is left alone). Budget: at most 120 s on a
2-core CPU.
"""

import json
import tempfile
import time
from pathlib import Path

import torch

from medlab.pocket import PocketRecipe, pocket_model_path


def main() -> None:
    recipe = PocketRecipe()
    started = time.time()
    with tempfile.TemporaryDirectory() as cache:
        path = pocket_model_path(recipe, root=Path(cache))
        log = json.loads((path / "pocket_log.json").read_text())
    seconds = time.time() - started
    tokens = recipe.train_steps * recipe.batch_size * recipe.seq_len
    print(f"threads:            {torch.get_num_threads()}")
    print(f"parameters:         {log['parameters']:,}")
    print(f"pretraining tokens: {tokens:,} ({tokens / log['train_tokens']:.1f} epochs)")
    print(f"held-out loss:      {log['valid_loss_before']} -> {log['valid_loss_after']}")
    print(f"tokens/s:           {tokens / log['seconds']:,.0f}")
    print(f"build seconds:      {seconds:.1f} (budget 120)")


if __name__ == "__main__":
    main()
