"""Model cards and the publish folder (medlab.cards, medlab.publish), from a run's recorded files.

The files are written here as a course run writes them (the adapter folder with PEFT's config and
medlab's description, the training log, 08's evaluations), so each test can change one recorded
fact and see what the card and the publish command make of it. The upload (`publish.push`, two
library calls) goes to a fake `HfApi` that records what it was sent, or refuses it as the Hub does.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import io
import json
from pathlib import Path

import pytest

from medlab import cards, publish
from medlab.profiles import load_profile
from medlab.runlog import runs_dir

TRIAGE = {"exact": [0.5833, 0.4222, 0.7286], "adjacent": [0.8611, 0.7132, 0.9392],
          "critical_under_triage": [0.04, 0.0071, 0.1954], "kappa": [0.6104, 0.4012, 0.7788]}


def record_run(name: str = "grpo_triage_bonus", base: str = "meta-llama/Llama-3.2-3B-Instruct", smoke_steps=0,
               credentialed=(), metrics: dict | None = None, evaluated: bool = True, logged: bool = True,
               task: str = "triage", extras: dict | None = None) -> Path:
    """An adapter of the tiny run folder as a course run leaves it; returns its folder."""
    import torch
    from safetensors.torch import save_file

    runs = runs_dir("tiny")
    folder = runs / "adapters" / name
    folder.mkdir(parents=True, exist_ok=True)
    save_file({"base_model.model.layers.0.self_attn.q_proj.lora_A.weight": torch.zeros(2, 4)},
              folder / "adapter_model.safetensors")
    (folder / "adapter_config.json").write_text(json.dumps({
        "base_model_name_or_path": "/models/llama-local", "r": 32, "lora_alpha": 32,
        "lora_dropout": 0.0, "target_modules": ["q_proj", "v_proj"], "peft_type": "LORA"}))
    (folder / "medlab_adapter.json").write_text(json.dumps({
        "name": name, "base_model": base, "tasks": [task], "notebook": "07_grpo_triage", "method": "grpo",
        "path": "", "smoke_steps": smoke_steps, "run_key": "abc", "train_seconds": 812.4, "steps": 75,
        "training": {"learning_rate": 1e-05, "num_generations": 4, "beta": 0.0, "seed": 0},
        "hardware": "Tesla T4", "quantization": "4-bit NF4 (bitsandbytes), double quantization",
        "credentialed_data": list(credentialed)}))
    if logged:
        (runs / "logs").mkdir(parents=True, exist_ok=True)
        (runs / "logs" / f"{name}.json").write_text(json.dumps({"step": [1, 2, 3, 4], "loss": [0.01, 0.0, None, -0.01],
                                                                 "reward": [0.31, 0.52, 0.6, 0.74]}))
    if evaluated:
        (runs / "eval").mkdir(parents=True, exist_ok=True)
        for mode, thinking in (("", True), ("__nothink", False)):
            (runs / "eval" / f"{name}__triage{mode}.json").write_text(json.dumps({
                "model": name, "task": task, "metrics": metrics or TRIAGE,
                "extras": {"n": 36, "enable_thinking": thinking, "majority": {"exact": 0.3889, "kappa": 0.0},
                           "labels_predicted": 5, **(extras or {})}, "examples": []}))
    return folder


def card_of(folder: Path):
    from huggingface_hub import ModelCard

    path = folder / "card.md"
    cards.adapter_card(folder, load_profile("tiny")).save(path)
    return ModelCard.load(path)


def test_a_runs_card_parses_back_and_its_model_index_holds_the_recorded_metrics(scratch_course):
    folder = record_run()
    card = card_of(folder)
    assert card.data.library_name == "peft" and card.data.base_model == "meta-llama/Llama-3.2-3B-Instruct"
    assert card.data.license == "llama3.2" and "grpo" in card.data.tags
    index = {(r.dataset_config, r.metric_name, r.metric_value) for r in card.data.eval_results}
    for metric, (value, _, _) in TRIAGE.items():
        assert (None, metric, value) in index and ("thinking-off", f"{metric} (thinking off)", value) in index
    for section in ("## Training configuration", "## Reward design", "## Training results", "## Evaluation",
                    "## How to use it", "## Limitations", "## Data and citations"):
        assert section in card.text
    assert "Not for clinical use" in card.text and "Tesla T4" in card.text and "812 s" in card.text
    assert "- reward: 0.310 over the first quarter of the steps, 0.740 over the last" in card.text  # the log's
    assert "- loss: 0.010 over the first quarter" in card.text  # a step logged without a loss is left out
    assert "75 optimiser steps in 812 s on Tesla T4" in card.text
    assert 'from_pretrained("YOUR_NAME/grpo-triage-bonus")' in card.text  # never this machine's folder
    assert "intubat\\|chest tube\\|central line" in card.text  # the rule table, its | escaped in the cell
    assert (folder / cards.CURVES).exists()  # the log drawn beside the card


def test_every_figure_comes_from_the_recorded_metrics(scratch_course):
    before = card_of(record_run()).text
    changed = {**TRIAGE, "critical_under_triage": [0.25, 0.12, 0.44]}
    after = card_of(record_run(metrics=changed)).text
    assert "| critical_under_triage | 0.040 | [0.007, 0.195] |" in before
    assert "| critical_under_triage | 0.250 | [0.120, 0.440] |" in after
    # critical under-triage is a share of all cases (metrics.triage_safety), and the card says so
    assert "in 25% of the cases (up to 44% within the 95% interval) an ESI 1 or 2 patient was sent to wait" in after
    assert "in 4% of the cases (up to 20%" in before


def test_the_publish_folder_holds_what_an_upload_sends_and_names_the_base_as_the_hub_does(scratch_course):
    record_run()
    folder = publish.build_folder("grpo_triage_bonus", load_profile("tiny"), repo_id="someone/esi-grpo")
    assert folder == runs_dir("tiny") / "publish" / "grpo_triage_bonus"
    assert sorted(path.name for path in folder.iterdir()) == [
        "README.md", "adapter_config.json", "adapter_model.safetensors", "training_curves.png"]
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "meta-llama/Llama-3.2-3B-Instruct"  # no local folder
    assert 'from_pretrained("someone/esi-grpo")' in (folder / "README.md").read_text()


@pytest.mark.parametrize("recorded, push, reason", [
    (dict(smoke_steps=2), False, "trained for 2 steps only"),
    (dict(credentialed=["MIETIC"]), False, "trained on MIETIC, credentialed data"),
    (dict(evaluated=False), False, "has no evaluation: run notebook 08"),
    (dict(base="pocket"), True, "base model 'pocket' is not on the Hub"),
], ids=["smoke", "credentialed", "unevaluated", "pocket-push"])
def test_publishing_is_refused_in_one_line_that_says_why(scratch_course, capsys, recorded, push, reason):
    record_run(**recorded)
    with pytest.raises(publish.NotPublishable, match=reason):
        publish.build_folder("grpo_triage_bonus", load_profile("tiny"), push=push)
    argv = ["grpo_triage_bonus", *(["--repo-id", "someone/x", "--push"] if push else [])]
    assert publish.main(argv) == 2
    said = capsys.readouterr().err.strip()
    assert reason in said and "\n" not in said


def hub_http():
    """The HTTP library `huggingface_hub` speaks through (its errors and responses are that library's)."""
    import importlib

    from huggingface_hub.errors import Response

    return importlib.import_module(Response.__module__.split(".")[0])


def hub_refusal(status: int, body: bytes = b""):
    """The error `huggingface_hub` raises when the Hub answers the repository request with `status`."""
    from huggingface_hub.utils import hf_raise_for_status

    http = hub_http()
    request = http.Request("POST", "https://huggingface.co/api/repos/create")
    response = http.Response(status, request=request, content=body,
                             headers={"x-request-id": "Root=1-abc", "content-type": "application/json"})
    try:
        hf_raise_for_status(response)
    except Exception as error:  # noqa: BLE001  (the one the library chose)
        return error
    raise AssertionError(f"the library raised nothing for {status}")


class FakeHub:
    """`huggingface_hub.HfApi` in the Hub's place: each call is checked against the real method's
    signature and recorded, or fails with `failure` as the library would raise it."""

    calls: list = []
    failure: Exception | None = None

    def create_repo(self, *args, **options):
        from huggingface_hub.hf_api import HfApi  # the real one: the package's name for it is this fake
        from huggingface_hub.utils import validate_repo_id

        bound = inspect.signature(HfApi.create_repo).bind(self, *args, **options).arguments
        validate_repo_id(bound["repo_id"])  # as the library does before any request
        if self.failure is not None:
            raise self.failure
        FakeHub.calls.append(("create_repo", {k: v for k, v in bound.items() if k != "self"}))

    def upload_folder(self, *args, **options):
        from huggingface_hub.hf_api import HfApi  # the real one: the package's name for it is this fake

        bound = inspect.signature(HfApi.upload_folder).bind(self, *args, **options).arguments
        sent = sorted(p.name for p in Path(bound["folder_path"]).iterdir())
        FakeHub.calls.append(("upload_folder", {k: v for k, v in bound.items() if k != "self"}, sent))


@pytest.fixture
def fake_hub(monkeypatch):
    import huggingface_hub

    FakeHub.calls, FakeHub.failure = [], None
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHub)
    return FakeHub


def test_push_creates_a_private_repository_and_uploads_the_built_folder(scratch_course, capsys, fake_hub):
    record_run()
    assert publish.main(["grpo_triage_bonus", "--repo-id", "someone/esi-grpo", "--push"]) == 0
    (create, created), (upload, uploaded, sent) = fake_hub.calls
    assert created == {"repo_id": "someone/esi-grpo", "repo_type": "model", "private": True, "exist_ok": True}
    assert sent == ["README.md", "adapter_config.json", "adapter_model.safetensors", "training_curves.png"]
    assert uploaded["repo_id"] == "someone/esi-grpo" and uploaded["repo_type"] == "model"
    assert "published: https://huggingface.co/someone/esi-grpo" in capsys.readouterr().out


@pytest.mark.parametrize("failure, repo_id, said", [
    (lambda: hub_refusal(401, b'{"error":"Invalid username or password."}'), "someone/esi-grpo",
     "Client error '401 Unauthorized' for url 'https://huggingface.co/api/repos/create' (Request ID: Root=1-abc) "
     "(Invalid username or password.); log in with `hf auth login` or set HF_TOKEN, then run this again"),
    (lambda: hub_refusal(403, b'{"error":"You don\'t have the rights to create a model under the namespace"}'),
     "meta-llama/esi-grpo", "(You don't have the rights to create a model under the namespace)"),
    (lambda: hub_refusal(403), "meta-llama/esi-grpo",
     "use a token with write access, and a repository id under your own name or an organisation you can write to"),
    (lambda: hub_refusal(503), "someone/esi-grpo", "the Hub is busy or failing (HTTP 503): wait a few minutes"),
    (lambda: hub_http().ConnectError("[Errno -3] Temporary failure in name resolution"), "someone/esi-grpo",
     "Temporary failure in name resolution; check the connection to the Hub, then run this again"),
    (lambda: __import__("huggingface_hub").errors.OfflineModeIsEnabled("Cannot reach the Hub: offline mode is on"),
     "someone/esi-grpo", "HF_HUB_OFFLINE is set: unset it, then run this again"),
    (lambda: None, "someone/esi/grpo", "give the repository id as USER/NAME, then run this again"),
    pytest.param(lambda: __import__("hf_xet").XetAuthenticationError("Token refresh failed"), "someone/esi-grpo",
                 "Token refresh failed; log in with `hf auth login` or set HF_TOKEN",
                 marks=pytest.mark.skipif(importlib.util.find_spec("hf_xet") is None, reason="hf_xet not installed")),
], ids=["no-login", "forbidden-says-why", "forbidden-advice", "hub-failing", "no-connection", "offline", "bad-repo-id",
                                  "transfer-token"])
def test_a_failed_upload_says_in_one_line_what_to_do_and_keeps_the_folder(scratch_course, capsys, fake_hub, failure,
                                                                          repo_id, said):
    record_run()
    fake_hub.failure = failure()
    assert publish.main(["grpo_triage_bonus", "--repo-id", repo_id, "--push"]) == 3
    captured = capsys.readouterr()
    line = captured.err.strip()
    assert line.startswith("medlab.publish: not uploaded: ") and "\n" not in line
    assert said in line
    assert "published:" not in captured.out and not fake_hub.calls
    assert (runs_dir("tiny") / "publish" / "grpo_triage_bonus" / "README.md").exists()


def test_an_error_of_the_program_itself_is_not_reported_as_the_hubs(scratch_course, fake_hub):
    record_run()
    fake_hub.failure = PermissionError("runs/tiny/publish: permission denied")
    with pytest.raises(PermissionError):  # a bug to see in full, not advice about tokens
        publish.main(["grpo_triage_bonus", "--repo-id", "someone/esi-grpo", "--push"])


def test_a_model_evaluated_on_credentialed_data_is_refused(scratch_course):
    record_run()
    metrics = runs_dir("tiny") / "metrics"
    metrics.mkdir(parents=True)
    (metrics / "08_evaluation.json").write_text(json.dumps({"credentialed_data": ["MIETIC"], "metrics": {}}))
    with pytest.raises(publish.NotPublishable, match="evaluated on MIETIC"):
        publish.build_folder("grpo_triage_bonus", load_profile("tiny"))


def test_a_gguf_cards_usage_code_answers_with_the_exported_file(small_ggufs):
    code = cards.gguf_usage(str(small_ggufs["q8_0"]), context=256)
    namespace, printed = {}, io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "gguf usage", "exec"), namespace)
    assert namespace["reply"]["usage"]["completion_tokens"] > 0  # the file answered
    assert printed.getvalue() == namespace["reply"]["choices"][0]["message"]["content"] + "\n"


def test_the_gguf_card_reads_09s_recorded_parity(scratch_course, tmp_path):
    record_run(name="ppo_mcq", base="meta-llama/Llama-3.1-8B-Instruct")
    parity = {"transformers": {"file MB": 15316.5, "answers agree": 1.0, "accuracy": "0.620 [0.55, 0.69]"},
              "GGUF q4_0": {"file MB": 4653.2, "answers agree": 0.87, "accuracy": "0.600 [0.53, 0.67]"}}
    metrics = runs_dir("tiny") / "metrics"
    metrics.mkdir(parents=True)
    (metrics / "09_export_chat.json").write_text(json.dumps({"metrics": {"adapter": "ppo_mcq", "parity": parity,
                                                                          "parity_task": "medqa",
                                                                          "parity_questions": 24}}))
    export = tmp_path / "export"
    export.mkdir()
    (export / "ppo_mcq-q4_0.gguf").write_bytes(b"GGUF")
    card = cards.gguf_card(export, "ppo_mcq", load_profile("tiny"), kept="ppo_mcq-q4_0.gguf")
    assert "| GGUF q4_0 | 4653.2 | 0.87 | 0.600 [0.53, 0.67] |" in card.text
    assert card.data.base_model == "meta-llama/Llama-3.1-8B-Instruct" and card.data.license == "llama3.1"
    assert 'model_path="ppo_mcq-q4_0.gguf"' in card.text
    adapter_card = cards.adapter_card(runs_dir("tiny") / "adapters" / "ppo_mcq", load_profile("tiny"))
    assert "| GGUF q4_0 | 4653.2 | 0.87 | 0.600 [0.53, 0.67] |" in adapter_card.text  # how it was made smaller
    for text in (card.text, adapter_card.text):  # what the table compares, as 09 recorded it
        assert "answered the first 24 held-out medqa questions, as did the merged model in transformers" in text
    other = cards.adapter_card(record_run(), load_profile("tiny"))
    assert "Not exported" in other.text  # 09 exported another adapter


def test_a_learners_own_adapter_and_an_exercise_copy_get_cards_that_say_what_is_known(scratch_course):
    own = card_of(record_run(name="my_triage", logged=False)).text
    assert "not one of the course's runs" in own and "Not declared" in own and "- reward" not in own
    copy = card_of(record_run(name="grpo_triage_bonus.no_min_p")).text
    assert "the course's `grpo_triage_bonus` run" in copy and "ESI triage GRPO with rule bonuses" in copy


def test_only_the_credentialed_data_an_adapter_trained_on_refuses_it(scratch_course):
    """04 trains three warm starts in one run: with a learner's DiReCT and MIETIC named, the imaging
    warm start learned from neither, and may be published; the triage one may not."""
    record_run(name="sft_imaging", task="imaging", credentialed=["DiReCT", "MIETIC"])
    publish.build_folder("sft_imaging", load_profile("tiny"))
    record_run(name="sft_triage", credentialed=["DiReCT", "MIETIC"])
    with pytest.raises(publish.NotPublishable, match="trained on MIETIC, credentialed"):
        publish.build_folder("sft_triage", load_profile("tiny"))


def test_the_cards_name_the_courses_own_data_as_such_never_as_the_real_dataset(scratch_course):
    """On tiny every task reads the course's synthetic files: the Hub's model-index and the
    evaluation's heading must not name MIETIC, whose cases the scores never saw."""
    card = card_of(record_run())
    names = {result.dataset_name for result in card.data.eval_results}
    assert names == {"the course's synthetic triage data, in the format of MIETIC "
                     "(MIMIC-IV-Ext Triage Instruction Corpus)"}
    assert "**triage** (36 cases of the triage benchmark, none of them in training, most of them ESI 1-2; " \
           "the course's synthetic triage data" in card.text  # the benchmark, not a held-out split
    assert "36 held-out cases" not in card.text


def test_a_score_that_does_not_beat_the_majority_policy_is_a_limitation(scratch_course):
    below = {**TRIAGE, "exact": [0.1111, 0.0441, 0.2531]}
    text = card_of(record_run(metrics=below)).text
    assert "- triage: exact 0.11 is below the majority policy's 0.39 (the most common answer" in text
    within = {**TRIAGE, "exact": [0.45, 0.30, 0.61]}
    assert "does not beat the majority policy's 0.39 beyond its 95% interval [0.30, 0.61]" in \
        card_of(record_run(metrics=within)).text
    assert "majority policy's" not in card_of(record_run()).text.split("## Limitations")[1]  # 0.58 [0.42, 0.73]


def test_critical_under_triage_is_also_given_as_counts_of_cases_and_of_esi_1_2_patients(scratch_course):
    confusion = [[0, 5, 6, 1, 2, 0], [0, 0, 5, 3, 3, 0], [0, 0, 1, 1, 3, 0], [0, 0, 1, 3, 0, 0], [0, 0, 2, 0, 0, 0]]
    metrics = {**TRIAGE, "critical_under_triage": [20 / 36, 0.40, 0.70]}
    text = card_of(record_run(metrics=metrics, extras={"labels": ["1", "2", "3", "4", "5"],
                                                       "confusion": confusion})).text
    assert ("in 56% of the cases (up to 70% within the 95% interval) an ESI 1 or 2 patient was sent to wait, the "
            "triage error that harms: 20 of 36 cases, 20 of the 25 ESI 1-2 patients.") in text


def test_a_thinking_off_format_rate_of_zero_is_explained_by_the_replies_that_reasoned_anyway(scratch_course):
    folder = record_run(metrics={**TRIAGE, "format_rate": [0.0, 0.0, 0.0964], "no_parse": [0.0, 0.0, 0.0964]})
    off = runs_dir("tiny") / "eval" / "grpo_triage_bonus__triage__nothink.json"
    result = json.loads(off.read_text())
    result["metrics"]["reasoned_anyway"] = [1.0, 0.9036, 1.0]  # as evaluation records it with thinking off
    off.write_text(json.dumps(result))
    card = card_of(folder)
    limits = card.text.split("## Limitations")[1]
    assert ("- triage (thinking off): 36 of 36 replies reasoned after the empty think block that thinking off "
            "pre-fills and closed a second one, so none of those is well formed (format_rate 0.00); answers were "
            "read from 36 of all 36 replies.") in limits
    assert "- triage: 36 of 36" not in limits  # the thinking-on result has no such metric
    # no score: the Hub's model-index, which ranks by value, would read 1.0 as perfect
    assert "reasoned_anyway" not in {r.metric_type for r in card.data.eval_results}


def test_a_perfect_score_with_the_evidence_in_the_prompt_is_called_a_lookup(scratch_course):
    perfect = {"accuracy": [1.0, 0.94, 1.0], "macro_f1": [1.0, 1.0, 1.0]}
    text = card_of(record_run(name="grpo_imaging_citations", task="imaging_citations", metrics=perfect)).text
    limits = text.split("## Limitations")[1]
    assert "the prompt gives the case's evidence line, so this score measures reading it" in limits
    assert "a perfect score here is a lookup" in limits


def test_a_card_says_where_its_run_has_a_script_and_what_it_is_a_step_of(scratch_course):
    comparison = card_of(record_run(name="grpo_mcq", task="medqa")).text
    assert "(notebook `05_ppo_mcq`)" in comparison and "scripts/" not in comparison.split("##")[0]
    assert "reproducing no published system" in comparison and "the published system it reproduces" not in comparison
    ablation = card_of(record_run(name="grpo_triage_no_bonus")).text
    assert "(notebook `07_grpo_triage`, or its script in `scripts/`), one of the steps that reproduce ESI triage" \
        in ablation


def test_a_gguf_cards_usage_code_asks_for_no_more_context_than_the_model_was_trained_on(small_ggufs):
    from medlab.export import DEFAULT_CONTEXT, gguf_metadata, metadata_int

    trained = metadata_int(gguf_metadata(small_ggufs["q8_0"]), "context_length")
    assert trained < DEFAULT_CONTEXT  # the pocket model's 1,024 tokens
    assert cards.usable_context(small_ggufs["q8_0"]) == trained


def test_with_several_rewards_the_card_shows_each_beside_the_total(scratch_course):
    """07's bonus run trains on the reward with the bonuses and logs the plain one (weight 0): the
    total can rise while the plain reward falls, and the card must let a reader see both."""
    folder = record_run()
    log = {"step": [1, 2, 3, 4], "loss": [0.0] * 4, "reward": [0.79, 0.8, 0.86, 0.88],
           "rewards/triage_reward/mean": [0.79, 0.8, 0.86, 0.88],
           "rewards/triage_reward_no_bonus/mean": [0.78, 0.79, 0.77, 0.76]}
    (runs_dir("tiny") / "logs" / "grpo_triage_bonus.json").write_text(json.dumps(log))
    text = card_of(folder).text
    assert "- reward: 0.790 over the first quarter of the steps, 0.880 over the last" in text
    assert "- reward `triage_reward_no_bonus`: 0.780 over the first quarter of the steps, 0.760 over the last" in text
    assert "- reward `triage_reward`: 0.790" in text


def test_while_08_writes_the_cards_a_learners_credentialed_benchmark_is_named_as_theirs(scratch_course, tmp_path):
    """08 starts with an empty record and writes the cards before it records what it read: the
    profile it runs with says which credentialed copies it evaluated on."""
    sample = tmp_path / "mietic_sample.csv"
    sample.write_text("x")
    folder = record_run()
    card = cards.adapter_card(folder, load_profile("tiny", mietic_sample=str(sample)))
    assert {r.dataset_name for r in card.data.eval_results} == {
        "MIETIC (MIMIC-IV-Ext Triage Instruction Corpus): the learner's own copy (credentialed, not shared)"}


def test_every_setting_a_card_can_list_says_what_it_means(scratch_course):
    from dataclasses import fields

    from medlab.ppo import PPOConfig
    from medlab.training import CARD_SETTINGS

    listed = {*CARD_SETTINGS, *(field.name for field in fields(PPOConfig)), "seed"}
    assert not listed - set(cards.MEANING), sorted(listed - set(cards.MEANING))
    text = card_of(record_run()).text
    assert "| beta | 0.0 | weight of the KL penalty that keeps the policy near its reference (0: none) |" in text
    assert "| setting | value | what it means |" in text
