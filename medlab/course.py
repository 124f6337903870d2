"""The course's runs, declared once: every adapter a notebook trains, what it trains on, what it
starts from and what it is rewarded for.

Everything else that lists the course's runs reads this table: the adapters notebook 08
expects (`adapters.COURSE_ADAPTERS`), the scripts that train them as programs and the commands
that launch those (`scale.SCRIPT_FOR`), the recipes `benchmarks/gpu_fit.py` measures, the
notebooks' own run lists, and the description saved beside each adapter (`adapter_info`).
Adding a run is one row here, its rewards in `medlab.rewards`, and its cell in a notebook.

Each task has one name throughout the course (glossary in the package's docstring): the data's
task (`medqa`, `reasoning`, `imaging`, `triage`) names what a run trains on, and
`evaluation.TASKS` names what 08 scores it on (`medmcqa` and `imaging_citations` are the
same data asked another way).

Introduced in notebooks/03_sft_mcq.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Method = Literal["sft", "ppo", "grpo"]


@dataclass(frozen=True)
class CourseRun:
    """One adapter the course trains."""

    name: str  # the adapter's folder under runs/<profile>/adapters/
    notebook: str  # the notebook that trains it
    method: Method
    task: str  # the data it trains on: medqa, reasoning, imaging or triage
    evaluated_on: tuple[str, ...]  # the evaluation tasks (`evaluation.TASKS`) 08 scores it on
    start: str = ""  # the adapter it starts from; "": a fresh adapter on the base model
    rewards: tuple[str, ...] = ()  # reward functions by name (`rewards.reward_functions`)
    weights: tuple[float, ...] | None = None  # TRL's reward_weights; None: all 1
    evidence: bool = False  # the imaging prompt carries each answer's evidence (the "citations" variants)
    scripted: bool = True  # a script in scripts/ trains it as a program
    reproduces: tuple[str, ...] = ()  # the published systems whose recipe it follows

    @property
    def variant(self) -> str:
        """The run's name within its notebook: "bonus" for grpo_triage_bonus, "triage" for sft_triage."""
        return self.name.split("_", 2)[-1] if self.method == "grpo" else self.task

    @property
    def choice(self) -> str:
        """What names the run on its script's command line (`SCRIPT_OPTION`): its task for SFT,
        its variant for GRPO ("triage_bonus"), nothing for PPO, which trains one run."""
        return {"sft": self.task, "grpo": self.name.removeprefix("grpo_"), "ppo": ""}[self.method]

    @property
    def script(self) -> str:
        """The script and option that train it: `scripts/grpo.py --variant triage_bonus`."""
        if not self.scripted:
            raise KeyError(f"no script trains {self.name!r}: it is part of {self.notebook}'s lesson")
        option = SCRIPT_OPTION[self.method]
        return f"scripts/{self.method}.py" + (f" {option} {self.choice}" if option else "")


SCRIPT_OPTION = {"sft": "--task", "grpo": "--variant", "ppo": ""}
"""The option of each method's script that says which run to train."""


MEDLLM, HUATUO = "MedLLM (SFT then PPO on MedQA/MedMCQA)", "HuatuoGPT-o1 (PPO's reward for a right answer)"
DIRECT = "DiReCT diagnostic reasoning chains (SFT)"
IMAGING = "GRPO imaging appropriateness, four reward designs"
ESI = "ESI triage GRPO with rule bonuses"

RUNS: tuple[CourseRun, ...] = (
    CourseRun("sft_mcq", "03_sft_mcq", "sft", "medqa", ("medqa", "medmcqa"), reproduces=(MEDLLM,)),
    CourseRun("sft_reasoning", "04_sft_reasoning", "sft", "reasoning", ("reasoning",), reproduces=(DIRECT,)),
    CourseRun("sft_triage", "04_sft_reasoning", "sft", "triage", ("triage",), reproduces=(ESI,)),  # 07's warm start
    CourseRun("sft_imaging", "04_sft_reasoning", "sft", "imaging", ("imaging", "imaging_citations"),
              reproduces=(IMAGING,)),  # 06's warm start
    CourseRun("ppo_mcq", "05_ppo_mcq", "ppo", "medqa", ("medqa", "medmcqa"), start="sft_mcq", rewards=("mcq",),
              reproduces=(MEDLLM, HUATUO)),
    CourseRun("grpo_mcq", "05_ppo_mcq", "grpo", "medqa", ("medqa", "medmcqa"), start="sft_mcq", rewards=("mcq",),
              scripted=False),  # the side-by-side comparison inside 05, not a recipe of its own
    CourseRun("grpo_imaging_baseline", "06_grpo_appropriateness", "grpo", "imaging", ("imaging",),
              start="sft_imaging", rewards=("format", "answer"), reproduces=(IMAGING,)),
    CourseRun("grpo_imaging_citations", "06_grpo_appropriateness", "grpo", "imaging", ("imaging_citations",),
              start="sft_imaging", rewards=("format", "answer"), evidence=True, reproduces=(IMAGING,)),
    CourseRun("grpo_imaging_llm_eval", "06_grpo_appropriateness", "grpo", "imaging", ("imaging_citations",),
              start="sft_imaging", rewards=("format", "answer", "judge"), evidence=True, reproduces=(IMAGING,)),
    CourseRun("grpo_imaging_embedding", "06_grpo_appropriateness", "grpo", "imaging", ("imaging_citations",),
              start="sft_imaging", rewards=("format", "embedding"), evidence=True, reproduces=(IMAGING,)),
    CourseRun("grpo_triage_no_bonus", "07_grpo_triage", "grpo", "triage", ("triage",), start="sft_triage",
              rewards=("triage_no_bonus",), reproduces=(ESI,)),
    # the bonus run logs the plain reward at weight 0, for a curve comparable with the ablation's
    CourseRun("grpo_triage_bonus", "07_grpo_triage", "grpo", "triage", ("triage",), start="sft_triage",
              rewards=("triage", "triage_no_bonus"), weights=(1.0, 0.0), reproduces=(ESI,)),
)
"""Every adapter the course's notebooks train, in the order they train them."""

BY_NAME = {run.name: run for run in RUNS}


def course_run(name: str) -> CourseRun:
    """The run that trains adapter `name`; an unknown name says which there are.

    >>> course_run("grpo_triage_bonus").start
    'sft_triage'
    >>> course_run("sft_medqa")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    KeyError: "no course run is named 'sft_medqa'; there are: sft_mcq, sft_reasoning, ..."
    """
    if name not in BY_NAME:
        raise KeyError(f"no course run is named {name!r}; there are: {', '.join(BY_NAME)}")
    return BY_NAME[name]


def runs_of(notebook: str) -> dict[str, CourseRun]:
    """The runs `notebook` trains, by their name within it (`CourseRun.variant`).

    >>> list(runs_of("06_grpo_appropriateness"))
    ['baseline', 'citations', 'llm_eval', 'embedding']
    >>> list(runs_of("04_sft_reasoning"))
    ['reasoning', 'triage', 'imaging']
    """
    return {run.variant: run for run in RUNS if run.notebook == notebook}


def scripted(method: str) -> dict[str, CourseRun]:
    """The runs `scripts/<method>.py` trains, by the choice that names each on its command line.

    >>> list(scripted("sft"))
    ['medqa', 'reasoning', 'triage', 'imaging']
    >>> list(scripted("grpo"))[-1], scripted("ppo")[""].name
    ('triage_bonus', 'ppo_mcq')
    """
    return {run.choice: run for run in RUNS if run.method == method and run.scripted}


def adapter_info(name: str, profile, saved_as: str | None = None, **fields):
    """The description saved beside adapter `name` (`adapters.AdapterInfo`), from its row here and
    the profile's base model; `saved_as` is the folder when it differs (an exercise's copy), and
    `fields` add what only the run knows (steps, smoke_steps)."""
    from medlab.adapters import AdapterInfo
    from medlab.evaluation import base_model

    run = course_run(name)
    return AdapterInfo(name=saved_as or name, base_model=base_model(run.task, profile), tasks=run.evaluated_on,
                       notebook=run.notebook, method=run.method, **fields)
