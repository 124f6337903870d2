"""The README's table of a run's figures, and one of its model cards, written from the run itself,
never typed.

    python -m medlab.readme                  # runs/tiny/summary.json into README.md
    python -m medlab.readme --profile t4     # a learner's t4 run, printed
    python -m medlab.readme --print          # print the table, change nothing

`make course` writes `runs/<profile>/summary.json` (each notebook's seconds, and the metrics it
recorded through `run.record`, with the run's commit, machine and date). This module turns it
into one markdown table, a row a notebook, and writes it into the README between two marker
lines, so the figures a reader sees are those of one named run. Each row's text is made by
`HEADLINES`: a function of the notebook's own metrics. Between two more markers goes the model
card notebook 08 wrote for `SHOWN_CARD` (`medlab.cards`).

Introduced with the README; tests/test_readme.py checks that every figure follows its metric.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from medlab.report import interval, labels_used

BEGIN = "<!-- figures of a run: written by `python -m medlab.readme`, not by hand -->"
END = "<!-- end of the figures of a run -->"
CARD_BEGIN = "<!-- a model card of a run: written by `python -m medlab.readme`, not by hand -->"
CARD_END = "<!-- end of the model card -->"
SHOWN_CARD = "grpo_triage_bonus"  # the adapter whose card the README shows: it has every section


def _f(x: float) -> str:
    return f"{x:.2f}"


def _discrimination(result: dict, metric: str) -> str:
    """"0.80 [0.64, 0.91] (majority 0.00, labels used 5 of 5)" from a `evaluation.discrimination` dict."""
    return (f"{interval(result[metric])} (majority {_f(result['majority'])}, "
            f"labels used {labels_used(result)})")


def _setup(m: dict) -> str:
    return f"pocket model ({m['parameters']:,} weights): validation loss {_f(m['pocket_valid_loss_before'])} -> " \
           f"{_f(m['pocket_valid_loss_after'])}"


def _data(m: dict) -> str:
    lengths = ", ".join(f"{task} {n}" for task, n in m["max_tokens"].items())
    return f"longest example in the model's tokens: {lengths}; {m['triage_benchmark_cases']} triage benchmark cases"


def _baseline(m: dict) -> str:
    from medlab.evaluation import TASKS  # each task's headline metric

    no_parse = sorted({round(r["no_parse"], 2) for r in m["baseline"].values()})
    scores = ", ".join(f"{task} {TASKS[task].headline} {_f(r[TASKS[task].headline])}"
                       for task, r in m["baseline"].items() if task in TASKS)  # triage_nothink: triage asked again
    return f"the base model zero-shot: no-parse {' to '.join(map(_f, no_parse))}; {scores}"


def _sft_mcq(m: dict) -> str:
    return (f"held-out MedQA accuracy {interval(m['accuracy_before_ci'])} -> {interval(m['accuracy_after_ci'])}; "
            f"{m['optimiser_steps']} steps in {m['train_seconds']:.0f} s, loss {_f(m['loss_start'])} -> "
            f"{_f(m['loss_end'])}")


def _sft_reasoning(m: dict) -> str:
    warm = m["warm_start_discrimination"]
    return (f"diagnosis accuracy {_f(m['heldout_before']['accuracy'])} -> {_f(m['heldout_after']['accuracy'])}, "
            f"evidence coverage {_f(m['evidence_coverage_after'])}; warm starts on held-out cases: triage kappa "
            f"{_discrimination(warm['triage'], 'kappa')}, imaging macro-F1 with the evidence in the prompt "
            f"{_discrimination(warm['imaging'], 'macro_f1')}")


def _ppo(m: dict) -> str:
    grpo = m.get("grpo")
    beside = f", GRPO {_f(grpo['heldout_after']['accuracy'])}" if grpo else ""
    return (f"held-out MedQA accuracy: SFT {interval(m['accuracy_before_ci'])}, PPO {interval(m['accuracy_after_ci'])}"
            f"{beside} (majority {_f(m['heldout_discrimination']['majority'])}); training reward "
            f"{_f(m['reward_start'])} -> {_f(m['reward_end'])} over {m['steps']} rollouts")


def _grpo_imaging(m: dict) -> str:
    runs = ", ".join(f"{name} {interval(v['heldout']['macro_f1'])}" for name, v in m["variants"].items())
    warm = m["warm_start_heldout"]
    return (f"held-out macro-F1 (majority {_f(warm['imaging']['majority'])}): warm start "
            f"{_f(warm['imaging_citations']['macro_f1'][0])} with the evidence, {_f(warm['imaging']['macro_f1'][0])} "
            f"without; after GRPO {runs}; the judge prefers the gold in {interval(m['judge_prefers_gold'])}")


def _grpo_triage(m: dict) -> str:
    warm = m["evaluation"]["warm start | held out | thinking on"]
    probes = m["evaluation"]["warm start | rule probes | thinking on"]
    runs = "; ".join(f"{name.replace('_', ' ')}: kappa {interval(v['heldout']['kappa'])}, rule probes exact "
                     f"{interval(v['probes_exact'])}" for name, v in m["runs"].items())
    return (f"warm start: held-out exact {interval(warm['exact'])}, rule probes exact {interval(probes['exact'])}; "
            f"{runs} (on the probes, answering ESI {probes['majority_label']} to all scores {_f(probes['majority'])})")


def _evaluation(m: dict) -> str:
    return f"{len(m['models'])} models on one harness: {', '.join(m['models'])}"


def _export(m: dict) -> str:
    files = ", ".join(f"{name.removeprefix('GGUF ')} {v['answers agree']:.0%} ({v['file MB']} MB)"
                      for name, v in m["parity"].items() if name.startswith("GGUF"))
    return f"{m['adapter']} exported; answers that agree with transformers': {files}"


HEADLINES: dict[str, Callable[[dict], str]] = {
    "00_setup": _setup, "01_data": _data, "02_baseline": _baseline, "03_sft_mcq": _sft_mcq,
    "04_sft_reasoning": _sft_reasoning, "05_ppo_mcq": _ppo, "06_grpo_appropriateness": _grpo_imaging,
    "07_grpo_triage": _grpo_triage, "08_evaluation": _evaluation, "09_export_chat": _export,
}
"""Each notebook's row: what of its recorded metrics the README shows."""


def figures_table(summary: dict) -> str:
    """The markdown of a run's figures: a line naming the run, then a row a notebook."""
    total = summary.get("seconds") or sum(n["seconds"] for n in summary["notebooks"])
    lines = [f"Profile `{summary['profile']}`, seed {summary['seed']}, commit {summary.get('commit', 'unknown')}, "
             f"{summary.get('machine', 'machine not recorded')}, {summary.get('started', '')}: "
             f"{summary['status']}, {len(summary['notebooks'])} notebooks in {total:.0f} s.", "",
             "| notebook | seconds | this run's figures |", "|---|---|---|"]
    for notebook in summary["notebooks"]:
        headline = HEADLINES.get(notebook["name"])
        text = headline(notebook["metrics"]) if headline else ""
        lines.append(f"| {notebook['name']} | {notebook['seconds']:.0f} | {text} |")
    return "\n".join(lines)


def with_figures(readme: str, table: str, begin: str = BEGIN, end: str = END) -> str:
    """`readme` with the text between `begin` and `end` replaced by `table`."""
    if begin not in readme or end not in readme:
        raise ValueError(f"the README has no place for the figures: add the lines {begin!r} and {end!r}")
    head, rest = readme.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{table}\n{end}{tail}"


def card_block(card: str, name: str) -> str:
    """A model card (`medlab.cards`, its file's text) folded into the README: the metadata as YAML,
    the sections two levels down, without the figure (it lives beside the card, not in the README).

    >>> print(card_block("---\\nlicense: mit\\n---\\n\\n# x\\n\\n## Use\\n\\n![curves](c.png)\\nok", "x"))
    <details><summary>The model card of <code>x</code>, as notebook 08 wrote it</summary>
    <BLANKLINE>
    ```yaml
    license: mit
    ```
    <BLANKLINE>
    ### x
    <BLANKLINE>
    #### Use
    <BLANKLINE>
    ok
    </details>
    """
    _, metadata, body = card.split("---\n", 2)
    lines = [("##" + line if line.startswith("#") else line) for line in body.strip().splitlines()
             if not line.startswith("![")]
    return "\n".join([f"<details><summary>The model card of <code>{name}</code>, as notebook 08 wrote it</summary>",
                      "", "```yaml", metadata.strip(), "```", "", *lines, "</details>"])


def main(argv: list[str] | None = None) -> int:
    from medlab.adapters import adapters_dir
    from medlab.cards import CARD
    from medlab.profiles import load_profile
    from medlab.runlog import course_root, summary_file

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--print", action="store_true", help="print the table; change nothing")
    args = parser.parse_args(argv)
    path = summary_file(args.profile)
    if not path.exists():
        parser.error(f"{path}: no run yet; `make course` (or python -m medlab.runner --profile {args.profile}) first")
    summary = json.loads(path.read_text())
    if summary.get("status") != "passed":
        parser.error(f"{path}: the run {summary.get('status', 'did not finish')}; only a passed run's figures go in")
    table = figures_table(summary)
    if args.print or args.profile != "tiny":
        print(table)
        return 0
    readme = Path(course_root()) / "README.md"
    text = with_figures(readme.read_text(encoding="utf-8"), table)
    card = adapters_dir(load_profile(args.profile)) / SHOWN_CARD / CARD
    if not card.exists():
        parser.error(f"{card}: no model card; notebook 08 writes one for every adapter")
    text = with_figures(text, card_block(card.read_text(encoding="utf-8"), SHOWN_CARD), CARD_BEGIN, CARD_END)
    readme.write_text(text, encoding="utf-8")
    print(f"README.md: the figures of the run of commit {summary.get('commit', 'unknown')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
