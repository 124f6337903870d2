"""The README's figures of a run come from the run (`python -m medlab.readme`), not from a hand."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from medlab import readme

FIXTURE = Path(__file__).parent / "fixtures" / "summary_tiny.json"  # a tiny run's summary, the metrics 08 reads
README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture
def summary() -> dict:
    return json.loads(FIXTURE.read_text())


def test_every_notebook_of_the_course_has_a_row_made_from_its_metrics(summary):
    table = readme.figures_table(summary)
    notebooks = sorted(p.stem for p in (README.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(readme.HEADLINES) == notebooks
    for name in notebooks:
        assert f"| {name} |" in table
    assert "commit 7cf9f35" in table and "PPO 0.75 [0.61, 0.85]" in table and "majority 0.38" in table


@pytest.mark.parametrize(("notebook", "path", "value", "shown"), [
    ("03_sft_mcq", ("accuracy_after_ci",), [0.5, 0.4, 0.6], "-> 0.50 [0.40, 0.60]"),
    ("05_ppo_mcq", ("heldout_discrimination", "majority"), 0.123, "majority 0.12"),
    ("07_grpo_triage", ("runs", "bonus", "probes_exact"), [0.9, 0.8, 0.95], "rule probes exact 0.90 [0.80, 0.95]"),
    # the warm start on the rule probes, beside the RL runs' (the same measure for all three)
    ("07_grpo_triage", ("evaluation", "warm start | rule probes | thinking on", "exact"), [0.3, 0.2, 0.4],
     "rule probes exact 0.30 [0.20, 0.40]; no bonus"),
])
def test_a_changed_metric_changes_the_table(summary, notebook, path, value, shown):
    changed = copy.deepcopy(summary)
    metrics = next(n["metrics"] for n in changed["notebooks"] if n["name"] == notebook)
    for key in path[:-1]:
        metrics = metrics[key]
    metrics[path[-1]] = value
    assert shown not in readme.figures_table(summary) and shown in readme.figures_table(changed)


def test_the_table_goes_between_the_markers_and_nowhere_else():
    text = f"intro\n{readme.BEGIN}\nold table\n{readme.END}\noutro\n"
    written = readme.with_figures(text, "| new |")
    assert written == f"intro\n{readme.BEGIN}\n| new |\n{readme.END}\noutro\n"
    assert readme.with_figures(written, "| new |") == written  # again: the same
    with pytest.raises(ValueError, match="no place for the figures"):
        readme.with_figures("no markers", "| new |")


def test_the_readme_has_its_place_for_the_figures_and_they_name_their_run():
    text = README.read_text(encoding="utf-8")
    assert text.count(readme.BEGIN) == 1 and text.count(readme.END) == 1
    block = text.split(readme.BEGIN)[1].split(readme.END)[0]
    assert "Profile `tiny`, seed 0, commit " in block and "| 09_export_chat |" in block


def test_the_readme_shows_a_model_card_the_course_wrote():
    """The card between the markers is 08's file for `readme.SHOWN_CARD`, copied by the command."""
    text = README.read_text(encoding="utf-8")
    assert text.count(readme.CARD_BEGIN) == 1 and text.count(readme.CARD_END) == 1
    block = text.split(readme.CARD_BEGIN)[1].split(readme.CARD_END)[0]
    assert "```yaml" in block and "library_name: peft" in block and "model-index:" in block
    for section in ("Training configuration", "Reward design", "Training results", "Evaluation", "Limitations"):
        assert f"#### {section}" in block
    assert f"### {readme.SHOWN_CARD}" in block and "Not for clinical use" in block


def test_only_a_passed_run_is_written_in(tmp_path, monkeypatch, summary, capsys):
    monkeypatch.setenv("MEDLAB_HOME", str(tmp_path))
    (tmp_path / "runs" / "tiny").mkdir(parents=True)
    (tmp_path / "runs" / "tiny" / "summary.json").write_text(json.dumps({**summary, "status": "failed"}))
    with pytest.raises(SystemExit):
        readme.main(["--print"])
    assert "only a passed run's figures go in" in capsys.readouterr().err
