"""The course as a website, built offline from one run's executed notebooks.

    make site                               # runs/tiny/ into runs/tiny/site/
    python -m medlab.site --profile t4      # a learner's own t4 run

The notebooks are committed without outputs; a run (`make course`) writes executed copies to
`runs/<profile>/`. This module stages those copies with the README, the exercises' solutions
and the data cards, writes a course map (each notebook: what it teaches, its seconds in this
run, its T4 estimate, what it needs first, what it found) and a line on every page naming the
run it shows (profile, commit, machine, date), then builds HTML with Sphinx and MyST-NB.

Why Sphinx with MyST-NB: it renders a notebook's stored outputs (tables, figures, printed text)
without executing it (`nb_execution_mode = "off"`), reads the README and the Markdown files as
they are, resolves their links between pages, and builds from installed packages alone: nothing
is fetched while building, and the default theme serves every script and style from the site
itself. The widget manager and MathJax, which MyST-NB and Sphinx would load from the internet,
are switched off: the progress bars show as text, and the course writes no formulas as LaTeX.
Publish the folder as it is (on GitHub Pages: the output of `make site`, pushed to a `gh-pages`
branch or uploaded by the Pages action).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

from medlab.runlog import course_root, runs_dir, summary_file

CONF = '''# Written by medlab.site for one build: Sphinx with MyST-NB over a run's executed notebooks.
project = "medlab"
extensions = ["myst_nb"]
nb_execution_mode = "off"  # the run executed them; the site shows what it stored
nb_ipywidgets_js = {}  # progress bars as text: no widget manager fetched from the internet
mathjax_path = "no-mathjax.js"  # a local, empty script: MathJax is not fetched (formulas show as written)
html_static_path = ["_static"]
html_css_files = ["medlab.css"]  # wide tables scroll in the text column (WIDE_TABLES)
html_theme = "alabaster"
html_title = "medlab: fine-tuning language models for clinical reasoning"
html_show_sourcelink = False
html_copy_source = False  # the executed notebooks are big; the pages hold what they show
html_show_sphinx = False
exclude_patterns = ["_build"]
myst_heading_anchors = 3  # GitHub's anchors: the README's "#the-llamacpp-build" finds its heading
'''


# The course's tables (08's results, the README's figures) are wider than alabaster's text
# column: each scrolls sideways inside the column, and the page itself never does.
WIDE_TABLES = """div.body table { display: block; max-width: 100%; overflow-x: auto; }
div.body div.output { max-width: 100%; overflow-x: auto; }
"""


def run_line(summary: dict) -> str:
    """The sentence on every page that names the run it shows.

    >>> run_line({"profile": "tiny", "commit": "3d95dc1", "machine": "x86, 2 cores", "started": "2026-12-06 16:22 UTC"})
    'This page shows the `tiny` run of commit 3d95dc1, on x86, 2 cores, started 2026-12-06 16:22 UTC.'
    """
    commit, machine = summary.get("commit", "unknown"), summary.get("machine", "a machine not recorded")
    return (f"This page shows the `{summary['profile']}` run of commit {commit}, on {machine}, "
            f"started {summary.get('started', 'at a time not recorded')}.")


def readme_table(readme: str, header: tuple[str, ...]) -> dict[str, list[str]]:
    """The rows of the README table whose header begins with `header`, by their first cell (a
    link's text, or the text), each with its other cells as written.

    >>> table = "| notebook | hours |\\n|---|---|\\n| [03_sft](notebooks/03.ipynb) | 0.5 |\\n"
    >>> readme_table(table, ("notebook", "hours"))
    {'03_sft': ['0.5']}
    """
    rows, inside = {}, False
    for line in readme.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|"):
            inside = False
        elif tuple(cells[:len(header)]) == header:
            inside = True
        elif inside and not set(cells[0]) <= {"-", ":"}:
            rows[re.sub(r"\[(.+?)\]\(.*?\)", r"\1", cells[0])] = cells[1:]
    return rows


def prerequisites(notebook: str) -> list[str]:
    """The notebooks whose adapters `notebook` starts from (`medlab.course.RUNS`); 08 evaluates every
    training notebook's adapters, and 09 exports 05's (or, without it, another's)."""
    from medlab.course import BY_NAME, RUNS

    if notebook == "08_evaluation":
        return sorted({run.notebook for run in RUNS})
    if notebook == "09_export_chat":
        return [BY_NAME["ppo_mcq"].notebook]
    return sorted({BY_NAME[run.start].notebook for run in RUNS if run.notebook == notebook and run.start})


def data_cards() -> list[str]:
    """The data cards' pages: data/<task>/CARD."""
    return [f"data/{path.parent.name}/CARD" for path in sorted((course_root() / "data").glob("*/CARD.md"))]


def found_in(headline, metrics: dict) -> str:
    """A notebook's row of figures (`readme.HEADLINES`), or a pointer to the page where a run
    recorded other figures than the tiny run's (a t4 run, a smoke test, a learner's notebook).

    >>> found_in(lambda m: f"loss {m['loss']}", {"loss": 0.5}), found_in(lambda m: m["loss"], {})
    ('loss 0.5', 'on its page')
    """
    try:
        return headline(metrics) if headline else "on its page"
    except (KeyError, IndexError, TypeError, ValueError):
        return "on its page"


def course_map(summary: dict, readme: str) -> str:
    """The site's first page: a row a notebook of the run, each linked to its page."""
    from medlab.readme import HEADLINES

    teaches = readme_table(readme, ("notebook", "what it teaches"))
    t4_hours = readme_table(readme, ("notebook", "T4 hours, at most"))  # benchmarks/colab_session.py's
    header = ("notebook", "what it teaches", "seconds in this run", "T4 hours, at most", "needs first",
              "what this run found")
    lines = ["# The course map", "", run_line(summary), "", "| " + " | ".join(header) + " |", "|---" * 6 + "|"]
    for notebook in summary["notebooks"]:
        name = notebook["name"]
        found = found_in(HEADLINES.get(name), notebook.get("metrics") or {})
        needs = ", ".join(f"[{need}](notebooks/{need}.ipynb)" for need in prerequisites(name)) or "-"
        lines.append(f"| [{name}](notebooks/{name}.ipynb) | {(teaches.get(name) or [''])[0]} | "
                     f"{notebook['seconds']:.0f} | {(t4_hours.get(name) or ['not estimated: it trains nothing'])[0]} | "
                     f"{needs} | {found} |")
    cards = ", ".join(f"[{page.split('/')[1]}]({page}.md)" for page in data_cards())
    lines += ["", f"Also here: the [README](README.md), the exercises' [solutions](notebooks/SOLUTIONS.md) and "
              f"the data cards ({cards}).", "",
              "```{toctree}", ":hidden:", "", "README", *(f"notebooks/{n['name']}" for n in summary["notebooks"]),
              "notebooks/SOLUTIONS", *data_cards(), "```"]
    return "\n".join(lines) + "\n"


BADGE = re.compile(r'<img src="https://colab\.research\.google\.com/assets/colab-badge\.svg"[^>]*>')


def offline(text: str) -> str:
    """Markdown whose images all come from the site: the Colab badge, an image on Colab's server,
    becomes the words of its link.

    >>> badge = '<img src="https://colab.research.google.com/assets/colab-badge.svg" alt="Open In Colab"/>'
    >>> offline(f'<a href="https://colab.research.google.com/x">{badge}</a>')
    '<a href="https://colab.research.google.com/x">Open in Colab</a>'
    """
    return BADGE.sub("Open in Colab", text)


def for_the_site(notebook: dict, line: str) -> dict:
    """An executed notebook as the site shows it: a first cell naming the run, and Markdown that
    loads nothing from outside the site."""
    banner = {"cell_type": "markdown", "id": "medlab-run", "metadata": {}, "source": [f"*{line}*"]}
    cells = [{**cell, "source": offline("".join(cell["source"]))} if cell["cell_type"] == "markdown" else cell
             for cell in notebook["cells"]]
    return {**notebook, "cells": [banner, *cells]}


def stage(profile: str, folder: Path) -> dict:
    """The site's sources in `folder`: the course map, the README, every executed notebook of the
    run with its run line, the solutions, the data cards and Sphinx's configuration. Returns the
    run's summary."""
    runs = runs_dir(profile)
    summary_path = summary_file(profile)
    if not summary_path.exists():
        raise FileNotFoundError(f"{summary_path}: no run to show; `make course` (or python -m medlab.runner "
                                f"--profile {profile}) first")
    summary = json.loads(summary_path.read_text())
    root = course_root()
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "notebooks").mkdir(parents=True)
    readme = (root / "README.md").read_text(encoding="utf-8")
    (folder / "README.md").write_text(offline(readme), encoding="utf-8")
    for image in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", readme):  # the README's figures, where it keeps them
        if (root / image).is_file():
            (folder / image).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / image, folder / image)
    (folder / "index.md").write_text(course_map(summary, readme), encoding="utf-8")
    # the run's line under the site's name in the sidebar of every page, the README's and cards' too
    # a page as wide as the course map's six columns on a laptop (alabaster's default is 940 pixels)
    options = {"description": run_line(summary), "page_width": "1200px", "body_max_width": "none"}
    (folder / "conf.py").write_text(CONF + f"html_theme_options = {options!r}\n")
    (folder / "_static").mkdir()
    (folder / "_static" / "no-mathjax.js").write_text("// MathJax is not loaded: the site fetches nothing\n")
    (folder / "_static" / "medlab.css").write_text(WIDE_TABLES)
    shutil.copy2(root / "notebooks" / "SOLUTIONS.md", folder / "notebooks" / "SOLUTIONS.md")
    for page in data_cards():
        (folder / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / f"{page}.md", folder / f"{page}.md")
    for notebook in summary["notebooks"]:
        executed = runs / f"{notebook['name']}.ipynb"
        if not executed.exists():
            raise FileNotFoundError(f"{executed}: the run's executed copy of {notebook['name']} is missing; run the "
                                    "course again")
        shown = for_the_site(json.loads(executed.read_text()), run_line(summary))
        (folder / "notebooks" / executed.name).write_text(json.dumps(shown))
    return summary


def build(profile: str = "tiny", out: Path | None = None) -> Path:
    """Build the site of `profile`'s run into `out` (default `runs/<profile>/site/`); its index page."""
    from sphinx.cmd.build import build_main

    out = out or runs_dir(profile) / "site"
    source = runs_dir(profile) / "site-source"
    stage(profile, source)
    status = build_main(["-b", "html", "-q", "-d", str(source / "_doctrees"), str(source), str(out)])
    if status:
        raise RuntimeError(f"Sphinx failed (exit {status}) building {source}: its messages are above")
    return out / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="tiny", help="whose run to show (default: tiny)")
    parser.add_argument("--out", type=Path, help="where to write the site (default: runs/<profile>/site)")
    args = parser.parse_args(argv)
    try:
        index = build(args.profile, args.out)
    except FileNotFoundError as missing:
        parser.error(str(missing))
    print(f"the site of the {args.profile} run: {index} (open it, or serve its folder: "
          f"python -m http.server -d {index.parent})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
