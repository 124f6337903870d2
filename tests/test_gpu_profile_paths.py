"""The code paths only `t4` and `full` take, checked on a CPU: what a learner's first real run
would hit. (The 4-bit path itself, on a CPU, is in test_quantized_on_cpu.py.)"""

import json
import os
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from medlab import generation
from medlab.adapters import COURSE_ADAPTERS, AdapterInfo, find_adapters, require_adapters, save_adapter
from medlab.colab import login_hint
from medlab.data import sources
from medlab.evaluation import TASKS, evaluate, token_budget
from medlab.generation import Sampling, generate, render_prompts
from medlab.models import login_problem, resolve_model
from medlab.pocket.chat import EMPTY_THINK_BLOCK
from medlab.profiles import PROFILES, capped, load_profile
from medlab.runlog import project_root, runs_dir, start_notebook

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
LLAMA3_TEMPLATE = (Path(__file__).parent / "fixtures" / "llama3_2_chat_template.jinja").read_text()  # the official 3.2
CONVERSATION = [{"role": "system", "content": "You are a triage nurse."},
                {"role": "user", "content": "A 70-year-old man with chest pain."}]


# ---- caps: 0 means all ---------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_cap_keeps_rows(name):
    profile, rows = PROFILES[name], list(range(5000))
    for limit, kept in ((profile.max_train_examples, profile.cap_train(rows)),
                        (profile.max_eval_examples, profile.cap_eval(rows))):
        assert kept == (rows[:limit] if limit else rows)
        assert kept, f"{name}: a cap of {limit} emptied the data"


def test_a_zero_cap_means_all_and_a_negative_one_is_refused():
    assert capped("abc", 0) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="0 for all"):
        capped([1], -1)


def code_of(notebook: str) -> str:
    cells = json.loads((NOTEBOOKS / notebook).read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem)
def test_no_notebook_slices_by_a_cap_by_hand(path):
    code = code_of(path.name)
    assert "[: profile.max_" not in code and "[:profile.max_" not in code and "[:WARM_START" not in code


# ---- Colab: runs kept apart from the checkout; 08 refuses to pass without the adapters ------

def test_runs_follow_medlab_home_while_the_data_stays_in_the_checkout(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDLAB_HOME", str(tmp_path))
    assert runs_dir("t4") == tmp_path / "runs" / "t4" and project_root() == tmp_path
    assert (sources.data_dir() / "triage" / "train.jsonl").is_file()
    assert sources.eval_sets(load_profile("tiny"), tasks=("triage",))["triage"]


def test_evaluation_fails_loudly_when_a_training_notebooks_adapter_is_missing(scratch_course):
    profile = load_profile("tiny")
    with pytest.raises(FileNotFoundError, match="run 03_sft_mcq, 04_sft_reasoning") as missing:
        require_adapters(profile)
    assert all(notebook in str(missing.value) for notebook in COURSE_ADAPTERS.values())  # every one to run
    for name in COURSE_ADAPTERS:
        folder = save_adapter(_TinyPeft(), profile, AdapterInfo(name, "pocket", ("medqa",), "nb", "sft"))
        assert (folder / "medlab_adapter.json").exists()
    require_adapters(profile)  # all there: no error
    require_adapters(load_profile("t4"), expected=[])  # asked for none


def test_a_real_run_refuses_the_adapters_of_a_smoke_test(scratch_course):
    smoke = load_profile("tiny", smoke_steps=2)
    for name in COURSE_ADAPTERS:
        save_adapter(_TinyPeft(), smoke, AdapterInfo(name, "pocket", ("medqa",), "nb", "sft"))
    require_adapters(smoke)  # a smoke test evaluates its own adapters
    with pytest.raises(ValueError, match="came from a smoke test") as refused:
        require_adapters(load_profile("tiny"))
    assert "run 03_sft_mcq" in str(refused.value)


def test_an_adapter_trained_on_credentialed_data_is_marked_so(scratch_course, tmp_path):
    (tmp_path / "MIETIC.csv").write_text("instruction,input,output\n")
    mine = load_profile("tiny", direct_dir=str(tmp_path), mietic_corpus=str(tmp_path / "MIETIC.csv"))
    folder = save_adapter(_TinyPeft(), mine, AdapterInfo("sft_reasoning", "pocket", ("reasoning",), "nb", "sft"))
    assert json.loads((folder / "medlab_adapter.json").read_text())["credentialed_data"] == ["DiReCT", "MIETIC"]
    assert [a.name for a in find_adapters(mine)] == ["sft_reasoning"]  # the mark does not break reading it back
    course = save_adapter(_TinyPeft(), load_profile("tiny"), AdapterInfo("sft_triage", "pocket", ("triage",), "nb",
                                                                         "sft"))
    assert json.loads((course / "medlab_adapter.json").read_text())["credentialed_data"] == []


class _TinyPeft:
    """Stands in for a PEFT model: only `save_pretrained` is needed to register an adapter."""

    def save_pretrained(self, folder, selected_adapters=None, state_dict=None):
        Path(folder).mkdir(parents=True, exist_ok=True)


def test_the_colab_login_hint_says_what_to_do():
    hint = login_hint(None)
    assert "HF_TOKEN" in hint and "licence" in hint and "notebook_login" in hint and "\n" not in hint
    assert "found" in login_hint("hf_x")


def test_on_colab_runs_go_to_drive_and_work_files_to_the_vms_own_disk(tmp_path, monkeypatch):
    import sys
    import types

    from medlab import colab
    from medlab.runlog import project_root, work_dir

    mounted = []
    google = types.ModuleType("google.colab")
    google.drive = types.SimpleNamespace(mount=mounted.append)
    monkeypatch.setitem(sys.modules, "google.colab", google)
    monkeypatch.setattr(colab, "HOME_ON_DRIVE", tmp_path / "drive" / "MyDrive" / "medlab")
    monkeypatch.setattr(colab, "LOCAL_DISK", tmp_path / "content" / "medlab-work")
    for variable in ("MEDLAB_HOME", "MEDLAB_SCRATCH"):  # set now so that they are put back after the test
        monkeypatch.setenv(variable, "before")
    colab.setup_colab()
    assert mounted and project_root() == tmp_path / "drive" / "MyDrive" / "medlab"
    checkpoints = project_root() / "runs" / "t4" / "checkpoints" / "grpo_triage_bonus-abc"
    assert work_dir(checkpoints) == tmp_path / "content" / "medlab-work" / "runs" / "t4" / "checkpoints" / (
        "grpo_triage_bonus-abc")


def test_on_colab_start_notebook_moves_the_runs_to_drive_before_it_reads_the_profile(tmp_path, monkeypatch):
    """The setup cell only installs the course; `start_notebook` sets Colab up, for every notebook."""
    import sys
    import types

    from medlab import colab
    from medlab.runlog import project_root, start_notebook

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    for variable in ("MEDLAB_HOME", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):  # put back after the test
        monkeypatch.setenv(variable, str(tmp_path / "before") if variable == "MEDLAB_HOME" else "1")
    monkeypatch.setattr(colab, "setup_colab", lambda: os.environ.update(MEDLAB_HOME=str(tmp_path / "drive")))
    run = start_notebook("03_sft_mcq", "tiny")
    assert project_root() == tmp_path / "drive" and run.metrics_path.is_relative_to(tmp_path / "drive")


# ---- the thinking switch on templates that ignore it -------------------------------------

@pytest.fixture
def llama3_tokenizer(small_model):
    tokenizer = AutoTokenizer.from_pretrained(small_model)
    tokenizer.chat_template = LLAMA3_TEMPLATE
    return tokenizer


def test_thinking_off_differs_on_a_template_that_ignores_the_switch(llama3_tokenizer):
    raw_on, raw_off = (llama3_tokenizer.apply_chat_template(CONVERSATION, tokenize=False, add_generation_prompt=True,
                                                            enable_thinking=flag) for flag in (True, False))
    assert raw_on == raw_off  # the trap: Llama 3's template drops the keyword
    on, off = (render_prompts(llama3_tokenizer, [CONVERSATION], flag)[0] for flag in (True, False))
    assert on == raw_on and on.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")
    assert off == on + EMPTY_THINK_BLOCK


def test_a_template_with_the_switch_is_not_given_a_second_think_block(small_model):
    tokenizer = AutoTokenizer.from_pretrained(small_model)
    off = render_prompts(tokenizer, [CONVERSATION], enable_thinking=False)[0]
    assert off.count("<think>") == 1 and off.endswith(EMPTY_THINK_BLOCK)


# ---- gated models --------------------------------------------------------------------------

def test_a_gated_model_without_a_login_fails_in_one_line_saying_what_to_do(monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    with pytest.raises(PermissionError) as error:
        resolve_model("meta-llama/Llama-3.1-8B-Instruct-not-downloaded")
    message = str(error.value)
    assert "\n" not in message and "hf auth login" in message and "licence" in message
    assert "huggingface-cli" not in message  # the old command: not in the installed hub library
    assert login_problem("meta-llama/Llama-3.2-3B-Instruct", "hf_token") is None
    assert login_problem("Qwen/Qwen2.5-1.5B-Instruct", None) is None  # not gated


def test_a_login_the_hub_refuses_for_a_gated_model_fails_in_one_line_naming_the_licence(monkeypatch):
    """A token whose account has not accepted Llama's licence: the hub answers 403 and
    transformers raises an OSError over huggingface_hub's GatedRepoError."""
    import httpx
    import huggingface_hub
    import transformers
    from huggingface_hub.errors import GatedRepoError

    from medlab.models import load_tokenizer

    def refused(model_id, **kwargs):
        response = httpx.Response(403, request=httpx.Request("GET", f"https://huggingface.co/{model_id}"))
        try:
            raise GatedRepoError("Access to model is restricted", response=response)
        except GatedRepoError as gated:
            raise OSError(f"You are trying to access a gated repo.\n{gated}") from gated

    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_token_without_the_licence")
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", refused)
    with pytest.raises(PermissionError) as error:
        load_tokenizer("meta-llama/Llama-3.2-3B-Instruct")
    message = str(error.value)
    assert "\n" not in message and "https://huggingface.co/meta-llama/Llama-3.2-3B-Instruct" in message
    assert error.value.__cause__ is None and error.value.__suppress_context__  # no traceback below it


def test_the_readme_names_the_login_command_that_exists():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert "hf auth login" in readme and "huggingface-cli login" not in readme


# ---- generation budgets --------------------------------------------------------------------

@pytest.mark.parametrize("task_name", ["triage", "reasoning", "imaging"])
def test_llama_profiles_give_replies_room_to_think(task_name):
    task = TASKS[task_name]
    assert token_budget(task, load_profile("t4")) >= 512
    assert token_budget(task, load_profile("full")) >= token_budget(task, load_profile("t4"))
    assert token_budget(task, load_profile("tiny")) <= 320  # the pocket model's budgets stay small
    assert token_budget(task, load_profile("t4", max_new_tokens=64)) == 64  # the profile's ceiling holds


def test_evaluate_generates_with_the_profiles_budget(monkeypatch):
    seen = {}

    def fake_generate(model, tokenizer, conversations, sampling, batch_size, desc):
        seen["max_new_tokens"] = sampling.max_new_tokens
        return ["<think>x</think>\n<answer>ESI 2</answer>"] * len(conversations)

    monkeypatch.setattr("medlab.evaluation.generate", fake_generate)
    monkeypatch.setattr("medlab.evaluation.count_new_tokens", lambda tokenizer, replies: 1)
    items = sources.eval_sets(load_profile("tiny"), tasks=("triage",))["triage"][:4]
    evaluate(None, None, "triage", items, load_profile("t4"), "base", keep=False)
    assert seen["max_new_tokens"] == token_budget(TASKS["triage"], load_profile("t4")) > 160


# ---- "after" is measured on the adapter as it will be used ---------------------------------

@pytest.mark.parametrize("notebook", ["03_sft_mcq.ipynb", "04_sft_reasoning.ipynb"])
def test_after_training_the_saved_adapter_is_reloaded_before_evaluation(notebook):
    code = code_of(notebook)
    reload_at = code.index("with adapter_loaded(profile, info.name)")
    after_at = code.index("after = evaluate(")
    assert reload_at < after_at


# ---- a kernel left offline ----------------------------------------------------------------

def test_an_online_profile_in_a_kernel_left_offline_says_restart(scratch_course, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="restart the kernel"):
        start_notebook("99_test", "tiny", offline=False)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert not start_notebook("99_test", "tiny", offline=False).profile.offline


# ---- out-of-memory back-off ----------------------------------------------------------------

def test_a_batch_halved_after_an_oom_stays_halved_and_memory_is_freed_outside_the_handler(small_model,
                                                                                         monkeypatch):
    model = AutoModelForCausalLM.from_pretrained(small_model).eval()
    tokenizer = AutoTokenizer.from_pretrained(small_model)
    sizes, freed_inside_handler = [], []

    def fake_generate_ids(model, tokenizer, rows, sampling):
        sizes.append(len(rows))
        if len(rows) > 2:  # this "GPU" holds two rows at a time
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return [[7] * sampling.max_new_tokens for _ in rows]  # never ends: every round runs

    monkeypatch.setattr(generation, "generate_ids", fake_generate_ids)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: freed_inside_handler.append(sys.exc_info()[0] is not None))
    replies = generate(model, tokenizer, [CONVERSATION] * 6, Sampling(max_new_tokens=24), batch_size=8,
                       first_round=8)
    assert len(replies) == 6
    assert sizes[:2] == [6, 4]  # two out-of-memory errors in the first round...
    assert all(size <= 2 for size in sizes[2:])  # ...and never again: later rounds keep the smaller batch
    assert freed_inside_handler == [False, False]


# ---- only the evaluation sets asked for are loaded ----------------------------------------

def test_eval_sets_build_only_the_tasks_asked_for(monkeypatch):
    def no_mcq(*args, **kwargs):
        raise AssertionError("MCQ data loaded for a notebook that asked for none")

    monkeypatch.setattr(sources, "_mcq", no_mcq)
    sets = sources.eval_sets(load_profile("tiny"), tasks=("triage", "imaging_citations"))
    assert list(sets) == ["triage", "imaging_citations"] and all(sets.values())
    with pytest.raises(ValueError, match="unknown evaluation task"):
        sources.eval_sets(load_profile("tiny"), tasks=("medqa_typo",))
