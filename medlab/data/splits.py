"""Splits fixed by seed, and the guarantee that no held-out item is also trained on.

Introduced in notebooks/01_data.ipynb.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def normalize(text: str) -> str:
    """Lower case, punctuation removed, whitespace folded: two phrasings that differ only
    in those count as the same item."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text.lower())).strip()


def split_holdout(items: Sequence[T], fraction: float, seed: int) -> tuple[list[T], list[T]]:
    """(train, held out): a `fraction` of `items` held out, chosen by `seed` (MedLLM used 5%)."""
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    n_held = max(1, round(len(items) * fraction)) if items else 0
    held = set(order[:n_held])
    return ([x for i, x in enumerate(items) if i not in held],
            [x for i, x in enumerate(items) if i in held])


def split_three_ways(items: Sequence[T], seed: int) -> tuple[list[T], list[T], list[T]]:
    """(train, validation, test), 80/10/10 by `seed`: for a learner's own files, which come unsplit."""
    train, held = split_holdout(items, 0.2, seed)
    validation, test = split_holdout(held, 0.5, seed)
    return train, validation, test


def drop_overlap(train: Sequence[T], held_out: Sequence[Sequence[T]],
                 key: Callable[[T], str]) -> tuple[list[T], int]:
    """`train` without any item whose normalised key appears in a held-out split.

    Returns the kept items and how many were dropped, so the caller can report it.
    """
    seen = {normalize(key(x)) for split in held_out for x in split}
    kept = [x for x in train if normalize(key(x)) not in seen]
    return kept, len(train) - len(kept)
