"""The real loaders on fixture files in the real schemas, and what they say about bad input."""

import json
import shutil
from pathlib import Path

import pytest

from medlab.data.errors import DataError
from medlab.data.load.appropriateness import load_appropriateness_csv
from medlab.data.load.direct import read_note, read_notes, to_target_text
from medlab.data.load.mcq import load_medmcqa, load_medqa
from medlab.data.load.triage import load_mietic

FIXTURES = Path(__file__).parent / "fixtures"


def write_lines(path: Path, *rows) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def medqa_row(**changes):
    row = json.loads((FIXTURES / "medqa.jsonl").read_text().splitlines()[0])
    return {**row, **changes}


def test_medqa_reads_the_real_schema_and_counts_short_questions():
    items, report = load_medqa(path=FIXTURES / "medqa.jsonl")
    assert [item.answer for item in items] == ["B", "C"]
    assert items[0].answer_text == "Inferior myocardial infarction"
    assert report.reasons == {"question under 10 words": 1}
    assert "skipped 1" in str(report)


@pytest.mark.parametrize(("row", "expected"), [
    ("{not json", "line 2: not valid JSON"),
    (medqa_row(answer_idx="E"), "line 2, field 'answer_idx': 'E' is not one of the options A-D"),
    (medqa_row(answer="Aspirin"), "line 2, field 'answer': 'Aspirin' is not option B"),
    ({k: v for k, v in medqa_row().items() if k != "options"}, "line 2, field 'options': missing column"),
])
def test_medqa_bad_rows_name_file_line_and_field(tmp_path, row, expected):
    path = write_lines(tmp_path / "bad.jsonl", medqa_row(), row)
    with pytest.raises(DataError) as error:
        load_medqa(path=path)
    assert str(error.value).startswith(str(path)) and expected in str(error.value)


def test_malformed_rows_can_be_skipped_and_are_counted(tmp_path):
    path = write_lines(tmp_path / "mixed.jsonl", medqa_row(), medqa_row(answer_idx="E"))
    items, report = load_medqa(path=path, skip_malformed=True)
    assert len(items) == 1 and report.reasons == {"malformed answer_idx": 1}


def test_nulls_and_numbers_where_text_belongs_are_data_errors_that_can_be_skipped(tmp_path):
    """The hub path loads with skip_malformed=True: an AttributeError would end the run instead."""
    mcmcqa = json.loads((FIXTURES / "medmcqa.jsonl").read_text().splitlines()[0])
    cases = [
        (load_medqa, medqa_row(question=None), "question"),
        (load_medqa, medqa_row(options={**medqa_row()["options"], "C": None}), "options.C"),
        (load_medmcqa, {**mcmcqa, "question": None}, "question"),
        (load_medmcqa, {**mcmcqa, "opb": 7}, "opb"),
        (load_medmcqa, {**mcmcqa, "cop": "1"}, "cop"),
    ]
    for load, row, field in cases:
        path = write_lines(tmp_path / "rows.jsonl", row)
        with pytest.raises(DataError, match=rf"line 1, field '{field}'"):
            load(path=path)
        assert load(path=path, skip_malformed=True)[1].reasons == {f"malformed {field}": 1}
    items, _ = load_medmcqa(path=write_lines(tmp_path / "float.jsonl", {**mcmcqa, "cop": 1.0}))
    assert items[0].answer == "B"  # a label saved through pandas as 1.0 is still option b


def test_a_triage_case_with_null_fields_names_the_field(tmp_path):
    from medlab.data.load.triage import load_cases

    row = json.loads((Path(__file__).parent.parent / "data/triage/test.jsonl").read_text().splitlines()[0])
    for field in ("case", "narrative", "trail"):
        path = write_lines(tmp_path / "cases.jsonl", row, {**row, field: None})
        with pytest.raises(DataError, match=rf"cases.jsonl, line 2, field '{field}': expected"):
            load_cases(path)


def test_an_empty_training_set_stops_before_the_trainer_with_its_name():
    from medlab.training import check_lengths

    with pytest.raises(ValueError, match="sft_mcq: no training examples"):
        check_lengths(None, [], 640, "sft_mcq")


def test_medmcqa_reads_the_real_schema_and_refuses_unlabelled_rows(tmp_path):
    items, _ = load_medmcqa(path=FIXTURES / "medmcqa.jsonl")
    assert [(item.answer, item.answer_text) for item in items] == [("A", "Streptococcus pneumoniae"),
                                                                    ("B", "Metformin")]
    row = json.loads((FIXTURES / "medmcqa.jsonl").read_text().splitlines()[0])
    path = write_lines(tmp_path / "test.jsonl", {**row, "cop": -1})
    with pytest.raises(DataError, match="line 1, field 'cop': cop = -1 .*use the validation split"):
        load_medmcqa(path=path)
    with pytest.raises(DataError, match="use split='validation'"):
        load_medmcqa(split="test")  # refused before any download


def test_direct_note_reads_steps_in_order_with_sections():
    note = read_note(FIXTURES / "direct/tuberculosis_1.json")
    assert note.final_diagnosis == "Tuberculosis"
    assert [(s.diagnosis, s.rationale) for s in note.steps] == [
        ("Suspected tuberculosis", "Earlier tuberculosis can reactivate"),
        ("Suspected tuberculosis", "Cavities suggest active infection"),
        ("Tuberculosis", "A positive culture confirms active disease")]
    assert note.steps[1].evidence == ("thin-walled cavity", "Crackles at the right base")
    assert note.steps[1].sections == ("input6", "input5")
    assert to_target_text(note).splitlines()[:3] == [
        "FINAL DIAGNOSIS: Tuberculosis", "Step 1: Earlier tuberculosis can reactivate",
        "Supporting evidence: Tuberculosis treated years ago"]
    assert "Family history" not in note.text()  # empty sections are left out


@pytest.mark.parametrize(("change", "expected"), [
    (lambda n: {k: ("" if k.startswith("input") else v) for k, v in n.items()}, "field 'input1': empty note"),
    (lambda n: {**n, "Extra$Intermedia_9": {}}, "expected one '<diagnosis>$Intermedia_<n>' key"),
    (lambda n: {**{k: v for k, v in n.items() if "$" not in k}, "Tuberculosis$Intermedia_1": {"no marker": {}}},
     "should end in $Intermedia_<n>"),
    (lambda n: {**{k: v for k, v in n.items() if "$" not in k}, "TB$Intermedia_1": {"why$Cause_1": {}}},
     "a $Cause must hold one or more $Input"),
])
def test_direct_bad_notes_name_file_and_field(tmp_path, change, expected):
    note = json.loads((FIXTURES / "direct/tuberculosis_1.json").read_text())
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(change(note)))
    with pytest.raises(DataError) as error:
        read_note(path)
    assert str(path) in str(error.value) and expected in str(error.value)


def test_direct_folder_reader(tmp_path):
    shutil.copytree(FIXTURES / "direct", tmp_path / "Tuberculosis")
    assert [n.final_diagnosis for n in read_notes(tmp_path)[0]] == ["Tuberculosis"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no DiReCT notes"):
        read_notes(tmp_path / "empty")
    with pytest.raises(DataError, match="folder not found"):
        read_notes(tmp_path / "missing")


def test_a_learners_direct_folder_is_read_without_copies_graphs_or_leaks(tmp_path):
    from learner_files import write_release_folder

    from medlab.data import sources
    from medlab.profiles import load_profile

    write_release_folder(tmp_path)
    notes, skipped = read_notes(tmp_path)
    assert len(notes) == 12
    assert skipped.reasons == {"copies in a hidden folder such as .ipynb_checkpoints": 12,
                               "JSON files that are not notes (no input1..input6: a knowledge graph or an index)": 1,
                               "repeats of a note already read": 1}
    assert all("None" not in n.text() and "Family history" not in n.text() for n in notes)
    parts = sources.splits("reasoning", load_profile("tiny"), 0, tmp_path)
    held_out = {n.text() for n in parts.validation + parts.test}
    assert parts.test and not held_out & {n.text() for n in parts.train}
    assert sum(map(len, (parts.train, parts.validation, parts.test))) == 12


def test_mietic_sample_file_quirks():
    records, report = load_mietic(FIXTURES / "mietic_sample.csv")
    assert [r.level for r in records] == [1, 2, 5]  # the REMOVE row is left out...
    assert report.reasons == {"expert decision REMOVE": 1}  # ...and counted
    assert "temperature 36.1 C" in records[0].narrative  # 97.0 F, converted
    assert "pain uta" in records[0].narrative and "pain Critical" in records[1].narrative
    assert "pain 0/10" in records[2].narrative
    everything, _ = load_mietic(FIXTURES / "mietic_sample.csv", retained_only=False)
    assert len(everything) == 4


def test_mietic_corpus_file_and_bad_files(tmp_path):
    records, report = load_mietic(FIXTURES / "mietic_corpus.csv")
    assert [r.level for r in records] == [1, 5] and report.reasons == {"output holds no ESI level": 1}
    bad = tmp_path / "bad.csv"
    bad.write_text("acuity,tiragecase\n2,chest pain\nnone,headache\n")
    with pytest.raises(DataError, match=r"bad.csv, line 3, field 'acuity': 'none' is not an ESI level"):
        load_mietic(bad, retained_only=False)
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="match neither MIETIC file"):
        load_mietic(tmp_path / "other.csv")


def sample_file_with(tmp_path, change, name="mietic.csv") -> Path:
    """The fixture sample file with `change` applied to its text."""
    path = tmp_path / name
    path.write_text(change((FIXTURES / "mietic_sample.csv").read_text(encoding="utf-8-sig")), encoding="utf-8")
    return path


def test_the_mietic_loader_fails_or_counts_and_never_guesses(tmp_path):
    no_decision = sample_file_with(tmp_path, lambda t: "\n".join(line.rsplit(",", 1)[0] for line in t.splitlines()))
    with pytest.raises(DataError, match=r"line 1, field 'Final Decision': no such column"):
        load_mietic(no_decision)  # it used to keep the experts' REMOVE rows without a word
    assert len(load_mietic(no_decision, retained_only=False)[0]) == 4

    celsius = sample_file_with(tmp_path, lambda t: t.replace(",97.0,", ",37.0,"))
    assert "temperature 37.0 C" in load_mietic(celsius)[0][0].narrative  # was "temperature 2.8 C"
    feverish = sample_file_with(tmp_path, lambda t: t.replace(",97.0,", ",150,"))
    with pytest.raises(DataError, match=r"line 2, field 'temperature': 150.0 is a body temperature in neither"):
        load_mietic(feverish)

    truncated = sample_file_with(tmp_path, lambda t: t.replace(",agree,agree,RETAIN\n", "\n", 1))
    with pytest.raises(DataError, match=r"mietic.csv, line 2: 10 fields where the header has 13"):
        load_mietic(truncated)  # it used to count as "expert decision REMOVE"


def test_a_file_in_another_encoding_names_the_file_line_and_fix(tmp_path):
    latin = tmp_path / "table.csv"
    header = (FIXTURES / "appropriateness.csv").read_text().splitlines()[0]
    latin.write_bytes(f"{header}\nH\u00e9morragie,v,CT head,Usually Appropriate,8,,r,\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"table.csv, line 2: not UTF-8 text \(byte 0xe9\): save the file as UTF-8"):
        load_appropriateness_csv(latin)
    note = json.loads((FIXTURES / "direct/tuberculosis_1.json").read_text())
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "n.json").write_bytes(json.dumps({**note, "input1": "fi\u00e8vre"}, ensure_ascii=False)
                                                .encode("latin-1"))
    with pytest.raises(DataError, match=r"n.json, line 1: not UTF-8 text \(byte 0xe8\)"):
        read_notes(tmp_path / "notes")
    utf16 = tmp_path / "mietic.csv"
    utf16.write_text((FIXTURES / "mietic_sample.csv").read_text(encoding="utf-8-sig"), encoding="utf-16")
    with pytest.raises(DataError, match=r"mietic.csv, line 1: not UTF-8 text .* \(it looks like UTF-16\)"):
        load_mietic(utf16)


def test_appropriateness_csv_reads_rows_and_folds_disagreement():
    items = load_appropriateness_csv(FIXTURES / "appropriateness.csv")
    assert [(i.appropriateness, i.rating, i.radiation_level) for i in items] == [
        ("Usually Appropriate", 9, "☢☢☢"), ("Usually Not Appropriate", 1, "☢"), ("May Be Appropriate", 5, "O")]
    assert items[0].evidence == ("CT finds blood early.", "Sensitivity is high in six hours.")
    assert items[1].evidence == ()


@pytest.mark.parametrize(("line", "expected"), [
    ("H,v,CT head,Usually Appropriate,11,,r,", "line 2, field 'rating': '11' is not a whole number from 1 to 9"),
    ("H,v,CT head,Usually Appropriate,5,,r,", "field 'appropriateness': 'Usually Appropriate' does not match rating 5"),
    ("H,v,CT head,Fine,8,,r,", "field 'appropriateness': 'Fine' is not one of"),
    ("H,,CT head,Usually Appropriate,8,,r,", "field 'variant': empty"),
])
def test_appropriateness_bad_rows(tmp_path, line, expected):
    path = tmp_path / "table.csv"
    header = (FIXTURES / "appropriateness.csv").read_text().splitlines()[0]
    path.write_text(f"{header}\n{line}\n")
    with pytest.raises(DataError) as error:
        load_appropriateness_csv(path)
    assert expected in str(error.value)


def test_a_short_row_or_a_huge_field_names_the_file_and_line(tmp_path):
    path = tmp_path / "table.csv"
    header = (FIXTURES / "appropriateness.csv").read_text().splitlines()[0]
    path.write_text(f"{header}\nH,v,CT head,Usually Appropriate,8,,r,\nH,v,CT head\n")
    with pytest.raises(DataError, match=r"table.csv, line 3: 3 fields where the header has 8"):
        load_appropriateness_csv(path)
    path.write_text(f"{header}\nH,v,CT head,Usually Appropriate,8,{'x' * 200_000},r,\n")
    with pytest.raises(DataError, match=r"table.csv, line \d: unreadable CSV \(field larger than field limit"):
        load_appropriateness_csv(path)


def test_appropriateness_missing_column(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("condition,variant,procedure\nH,v,CT\n")
    with pytest.raises(DataError, match="line 1, field 'appropriateness': missing column"):
        load_appropriateness_csv(path)
