"""Where the course lives: the one setting behind every "Open in Colab" badge and setup cell.

A notebook opened on Colab installs the course itself (its second cell clones this repository
at `REF`), so the address is written into every notebook and the README. It is set here once:
a fork changes `REPOSITORY` or `REF`, then runs `python -m medlab.repository` to write the new
address everywhere (`--check` only reports the lines that disagree, as the tests do).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

REPOSITORY = "medlab-course/medlab"  # owner/name on GitHub
REF = "main"  # the branch or tag that badges open and Colab's setup cells install
ROOT = Path(__file__).resolve().parent.parent

BADGE = re.compile(r"colab\.research\.google\.com/github/(?P<repository>[\w.-]+/[\w.-]+)/blob/(?P<ref>[\w./-]+?)"
                   r"/notebooks/")
CLONE = re.compile(r"git clone -q --depth 1 --branch (?P<ref>[\w./-]+) https://github\.com/(?P<repository>[\w.-]+/"
                   r"[\w.-]+?) ")


def addresses(text: str) -> list[tuple[str, str]]:
    """(repository, ref) of every badge and clone line in `text`.

    >>> addresses("https://colab.research.google.com/github/a/b/blob/v1/notebooks/00_setup.ipynb")
    [('a/b', 'v1')]
    """
    return [(m["repository"], m["ref"]) for pattern in (BADGE, CLONE) for m in pattern.finditer(text)]


def readdress(text: str, repository: str = REPOSITORY, ref: str = REF) -> str:
    """`text` with every badge and clone line pointing at `repository` and `ref`.

    >>> readdress("git clone -q --depth 1 --branch main https://github.com/a/b /content/medlab", "c/d", "v2")
    'git clone -q --depth 1 --branch v2 https://github.com/c/d /content/medlab'
    """
    text = BADGE.sub(f"colab.research.google.com/github/{repository}/blob/{ref}/notebooks/", text)
    return CLONE.sub(f"git clone -q --depth 1 --branch {ref} https://github.com/{repository} ", text)


def course_files(root: Path = ROOT) -> list[Path]:
    """The files that carry the address: the README and every notebook."""
    return [root / "README.md", *sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))]


def disagreeing(root: Path = ROOT, repository: str = REPOSITORY, ref: str = REF) -> list[str]:
    """'file: address' for each badge or clone line that is not `repository` at `ref`."""
    return [f"{path.relative_to(root)}: {found[0]} at {found[1]}" for path in course_files(root)
            for found in addresses(path.read_text(encoding="utf-8")) if found != (repository, ref)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="list the lines that disagree; change nothing")
    args = parser.parse_args(argv)
    wrong = disagreeing()
    if args.check:
        print("\n".join(wrong) or f"every badge and clone line points at {REPOSITORY} at {REF}")
        return 1 if wrong else 0
    for path in course_files():
        text = path.read_text(encoding="utf-8")
        if readdress(text) != text:
            path.write_text(readdress(text), encoding="utf-8")
            print(f"{path.relative_to(ROOT)}: now {REPOSITORY} at {REF}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
