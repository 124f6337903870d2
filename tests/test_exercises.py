"""The exercises that end every notebook: listed where they run, and still making their point.

At least one runnable exercise of each training notebook is checked: the exercise's own change
(the `medlab.exercises` entry its notebook applies) goes through the course's own training
and sampling code here, and the effect SOLUTIONS.md predicts is checked, on runs cut short
where the effect shows early. An exercise that stops
making its point fails here. These tests run last (see conftest.py): by then the notebooks have
built the pocket model they train.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from medlab import prompts
from medlab.data import sources
from medlab.exercises import EXERCISES, choose_exercise, exercises_of, shuffled_words
from medlab.profiles import load_profile
from medlab.recipes import GRPO_TRIAGE, PPO_MCQ, SFT_MCQ, SFT_SMALL

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOLUTIONS = Path(__file__).parent.parent / "notebooks" / "SOLUTIONS.md"


def exercises_section(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    last = "".join(cells[-1]["source"])
    assert cells[-1]["cell_type"] == "markdown" and last.startswith("## Exercises"), f"{path.name}: no Exercises"
    return last


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_ends_with_three_to_five_exercises(path):
    section = exercises_section(path)
    levels = re.findall(r"^\d+\. \*\*\((easy|medium|hard)", section, re.M)
    assert 3 <= len(levels) <= 5, f"{path.name}: {len(levels)} exercises"
    runnable = set(re.findall(r'runnable: `EXERCISE = "(\w+)"`', section))
    assert runnable == set(exercises_of(path.stem)), "the text and medlab.exercises should list the same ones"
    params = "".join(next(c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")["source"])
    assert re.search(r"^EXERCISE = None", params, re.M)


def test_solutions_give_every_runnable_exercise_its_figures():
    sections = {part.split("\n", 1)[0]: part for part in SOLUTIONS.read_text().split("\n## ")[1:]}
    for exercise in EXERCISES:
        entries = re.split(r"\n\d+\. ", sections[exercise.notebook])
        entry = next((e for e in entries if e.startswith(f"**`{exercise.name}`**")), None)
        assert entry, f"SOLUTIONS.md has no entry for {exercise.notebook}'s {exercise.name}"
        assert re.search(r"\d\.\d\d", entry), f"{exercise.name}: no measured figure"


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: f"{e.notebook}-{e.name}")
def test_every_exercise_edits_something_its_notebook_hands_it(exercise):
    """An edit whose name no notebook cell asks for would leave the run unchanged, silently."""
    code = "".join("".join(c["source"]) for c in json.loads((NOTEBOOKS[0].parent / f"{exercise.notebook}.ipynb")
                                                           .read_text())["cells"] if c["cell_type"] == "code")
    for kind in exercise.edits:
        assert f'run.exercised("{kind}"' in code or f'run.exercise_value("{kind}"' in code, kind


def test_an_exercise_that_changes_nothing_on_a_profile_refuses_to_run():
    with pytest.raises(ValueError, match="changes nothing here"):
        choose_exercise("07_grpo_triage", "no_min_p").apply("recipe", GRPO_TRIAGE["t4"])  # t4 samples uncut


def test_a_wrong_name_lists_the_runnable_ones():
    with pytest.raises(ValueError, match="'low_lr', 'rank_1'"):
        choose_exercise("03_sft_mcq", "low_rl")
    with pytest.raises(ValueError, match="edits to make by hand"):
        choose_exercise("00_setup", "anything")


def test_an_exercise_keeps_its_results_apart_from_the_course(scratch_course):
    from medlab.runlog import start_notebook

    run = start_notebook("03_sft_mcq", "tiny", exercise="low_lr")
    assert run.metrics_path.name == "03_sft_mcq.low_lr.json" and run.adapter_name("sft_mcq") == "sft_mcq.low_lr"
    assert run.exercised("recipe", SFT_MCQ["tiny"]).learning_rate == pytest.approx(SFT_MCQ["tiny"].learning_rate / 100)
    plain = start_notebook("03_sft_mcq", "tiny")
    assert plain.adapter_name("sft_mcq") == "sft_mcq" and plain.exercised("recipe", SFT_MCQ["tiny"]) == SFT_MCQ["tiny"]


# ---- each runnable exercise's effect -------------------------------------------------------------

def sft_loss_drop(model_path, conversations, recipe) -> float:
    from medlab.adapters import AdapterInfo
    from medlab.models import load_model_and_tokenizer
    from medlab.training import quarter_means, run_sft

    profile = load_profile("tiny", small_model=str(model_path), large_model=str(model_path))
    torch.manual_seed(0)
    model, tokenizer = load_model_and_tokenizer(str(model_path), profile)
    _, log = run_sft(model, tokenizer, conversations, profile, recipe,
                     AdapterInfo("exercise", str(model_path), ("medqa",), "test", "sft"))
    start, end = quarter_means(log["loss"])
    return start - end


def test_03_low_lr_barely_moves_the_loss(small_model, scratch_course):
    profile = load_profile("tiny")
    items = sources.splits("medqa", profile, 0).train[:64]
    conversations = [prompts.mcq_messages(item, with_answer=True) for item in items]
    course = replace(SFT_MCQ["tiny"], max_steps=8)  # the first 8 steps: where the two runs part
    exercise = choose_exercise("03_sft_mcq", "low_lr").apply("recipe", course)
    assert sft_loss_drop(small_model, conversations, exercise) < 0.25 * sft_loss_drop(small_model, conversations,
                                                                                       course)


def test_03_rank_1_trains_sixteen_times_fewer_weights(small_model):
    from transformers import AutoModelForCausalLM

    from medlab.training import add_lora

    def trainable(recipe) -> int:
        model = add_lora(AutoModelForCausalLM.from_pretrained(small_model), recipe, load_profile("tiny"))
        return sum(p.numel() for p in model.parameters() if p.requires_grad)

    exercise = choose_exercise("03_sft_mcq", "rank_1").apply("recipe", SFT_MCQ["tiny"])
    assert trainable(SFT_MCQ["tiny"]) == 16 * trainable(exercise)
    assert exercise.alpha / exercise.r == SFT_MCQ["tiny"].alpha / SFT_MCQ["tiny"].r


@pytest.fixture(scope="module")
def pocket_home(tmp_path_factory):
    """A scratch home for the pocket-model runs below (the pocket model itself is the course's)."""
    with pytest.MonkeyPatch.context() as patch:
        home = tmp_path_factory.mktemp("exercise-home")
        patch.setenv("MEDLAB_HOME", str(home))
        yield home


def train_on_pocket(name: str, conversations: list[list[dict]], recipe):
    """A LoRA adapter `name` trained on the pocket model with the course's run_sft; the saved adapter."""
    from medlab.adapters import AdapterInfo, saved_adapter
    from medlab.models import load_model_and_tokenizer
    from medlab.training import run_sft

    profile = load_profile("tiny")
    torch.manual_seed(0)
    model, tokenizer = load_model_and_tokenizer(profile.small_model, profile)
    run_sft(model, tokenizer, conversations, profile, recipe, AdapterInfo(name, profile.small_model, (), "test", "sft"))
    return saved_adapter(profile, name)


def triage_warm_start_rows() -> list:
    from medlab.recipes import warm_start_rows

    profile = load_profile("tiny")
    return warm_start_rows("triage", sources.splits("triage", profile, 0).train, profile)


def triage_conversations(rows) -> list[list[dict]]:
    return [prompts.triage_messages(r, with_answer=True) for r in rows]


def test_04_few_examples_leave_the_triage_format_unlearned(pocket_home):
    from medlab.adapters import load_with_adapter
    from medlab.evaluation import evaluate

    profile = load_profile("tiny")
    rows = choose_exercise("04_sft_reasoning", "few_examples").apply("triage_rows", triage_warm_start_rows())
    adapter = train_on_pocket("sft_triage.few_examples", triage_conversations(rows), SFT_SMALL["tiny"]["triage"])
    model, tokenizer = load_with_adapter(adapter, profile)
    cases = sources.eval_sets(profile, 0, tasks=("triage",))["triage"]
    result = evaluate(model, tokenizer, "triage", cases, profile, adapter.name, batch_size=48)
    assert result.metrics["format_rate"][0] < 0.5  # all 240 (04's assert): a format rise beyond the interval


def well_formed_share(adapter, conversations, reward, columns, sampler, samples: int, well_formed) -> float:
    """The share of replies sampled from `adapter` that `well_formed(reward)` accepts."""
    from medlab.adapters import load_with_adapter
    from medlab.evaluation import sampled_rewards

    model, tokenizer = load_with_adapter(adapter, load_profile("tiny"))
    scores = sampled_rewards(model, tokenizer, conversations, reward, columns, sampler, samples=samples, seed=0,
                             batch_size=64)
    return sum(well_formed(s) for s in scores) / len(scores)


def test_05_without_min_p_fewer_sampled_answers_name_an_option(pocket_home):
    from medlab.generation import Sampling
    from medlab.rewards import mcq_reward

    profile = load_profile("tiny")
    items = profile.cap_train(sources.splits("medqa", profile, 0).train)
    adapter = train_on_pocket("sft_mcq", [prompts.mcq_messages(q, with_answer=True) for q in items],
                              SFT_MCQ["tiny"])  # 03's adapter, trained as 03 trains it
    questions = items[:32]
    columns = {"answer": [q.answer for q in questions], "options": [q.options for q in questions]}

    def names_an_option(config) -> float:
        sampler = Sampling(max_new_tokens=config.max_new_tokens, do_sample=True, temperature=config.temperature,
                           min_p=config.min_p)
        return well_formed_share(adapter, [prompts.mcq_messages(q) for q in questions], mcq_reward, columns,
                                 sampler, samples=4, well_formed=lambda reward: reward > 0)

    exercise = choose_exercise("05_ppo_mcq", "no_min_p").apply("ppo", PPO_MCQ["tiny"])
    assert names_an_option(exercise) < names_an_option(PPO_MCQ["tiny"]) - 0.2


def test_06_the_embedding_reward_pays_shuffled_words_almost_as_much_as_the_gold():
    from medlab.metrics import embedding_cosine

    held_out = sources.splits("imaging", load_profile("tiny"), 0).test[:32]
    references = [p.rationale for p in held_out]
    shuffled = embedding_cosine(references, shuffled_words(references, seed=0))
    others = embedding_cosine(references, references[1:] + references[:1])  # another case's rationale
    # two-sentence rationales: shuffled 0.79, another pair's 0.63 on 32 pairs (measured)
    assert sum(shuffled) / len(shuffled) >= 0.75 > sum(others) / len(others)


def test_07_without_min_p_the_warm_start_gives_groups_that_teach_nothing(pocket_home):
    from medlab.generation import Sampling
    from medlab.recipes import rows_after_warm_start
    from medlab.rewards import triage_reward

    profile = load_profile("tiny")
    adapter = train_on_pocket("sft_triage", triage_conversations(triage_warm_start_rows()), SFT_SMALL["tiny"]["triage"])
    pool = rows_after_warm_start("triage", sources.splits("triage", profile, 0).train, profile)[0][:16]
    columns = {"level": [c.level for c in pool], "narrative": [c.narrative for c in pool]}

    def well_formed(recipe) -> float:
        sampler = Sampling(max_new_tokens=recipe.max_completion_length, do_sample=True,
                           temperature=recipe.temperature, min_p=recipe.min_p)
        return well_formed_share(adapter, [prompts.triage_messages(c) for c in pool], triage_reward, columns,
                                 sampler, samples=recipe.num_generations, well_formed=lambda reward: reward > -2.0)

    exercise = choose_exercise("07_grpo_triage", "no_min_p").apply("recipe", GRPO_TRIAGE["tiny"])
    assert well_formed(GRPO_TRIAGE["tiny"]) >= 0.8 and well_formed(exercise) <= 0.3
