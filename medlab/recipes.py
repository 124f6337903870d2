"""Every training recipe of the course, one table per run, keyed by profile name.

The notebooks show and use these tables; the command-line programs in `scripts/` (several
GPUs) and `benchmarks/gpu_fit.py` (will it fit in 15 GB?) read the same ones, so a run scaled
up, or measured, uses the notebook's recipe. Under N processes each step sees N times the batch
(see the README's section on several GPUs). To try another recipe in a notebook, replace a
field there: `recipe = replace(recipe, r=4)`.

The tiny recipes are tuned for the pocket model on a CPU (high learning rates, few steps);
the t4 and full recipes follow the published systems (see the README's table of systems).
"""

from __future__ import annotations

from dataclasses import replace

from medlab.grpo import GrpoRecipe, balanced_pool, balanced_triage_pool
from medlab.ppo import PPOConfig
from medlab.profiles import Profile
from medlab.training import LoraRecipe

ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")

# ---- SFT -------------------------------------------------------------------------------------

# MedLLM's published recipe: rank 16 on the query and key projections, a small learning rate.
MEDLLM = LoraRecipe(r=16, alpha=8, dropout=0.05, targets=("q_proj", "k_proj"), learning_rate=3e-6, epochs=5,
                    batch_size=1, grad_accum=8)

SFT_MCQ = {  # notebooks/03_sft_mcq.ipynb: MedQA answers on the large model
    "tiny": LoraRecipe(r=16, alpha=8, dropout=0.0, targets=ALL_LINEAR, learning_rate=1e-2, epochs=5,
                       batch_size=8, grad_accum=1),
    "t4": replace(MEDLLM, max_steps=150),  # fits a free Colab session
    "full": MEDLLM,
}

# Real DiReCT notes and their chains come to 1,221-2,194 Llama 3 tokens, past t4's 1,024: the
# reasoning recipe trains on 2,560 (room for longer notes; benchmarks/gpu_fit.py fills every row to it)
REASONING_SEQ_LEN = 2560
_WARM_STARTS_T4 = {
    "reasoning": LoraRecipe(r=16, alpha=32, dropout=0.05, targets=ATTENTION, learning_rate=3e-5, epochs=3,
                            max_seq_len=REASONING_SEQ_LEN),
    "triage": LoraRecipe(r=32, alpha=64, dropout=0.05, targets=ALL_LINEAR, learning_rate=2e-4, epochs=1),
    "imaging": LoraRecipe(r=32, alpha=64, dropout=0.05, targets=ALL_LINEAR, learning_rate=2e-4, epochs=1),
}
SFT_SMALL = {  # notebooks/04_sft_reasoning.ipynb: reasoning chains, and the GRPO warm starts
    "tiny": {
        "reasoning": LoraRecipe(r=16, alpha=32, dropout=0.05, targets=ALL_LINEAR, learning_rate=5e-3, epochs=2,
                                batch_size=2, grad_accum=1),
        # 300 steps at 5e-3: at 1e-2 for 120 steps (240 cases x 2) the warm start answered one
        # level to every held-out case; this one predicts all five (04's last cell checks it)
        "triage": LoraRecipe(r=32, alpha=32, dropout=0.0, targets=ALL_LINEAR, learning_rate=5e-3, epochs=3,
                             batch_size=4, grad_accum=1),
        # 120 steps at 5e-3 read the evidence line on three seeds; one epoch at 1e-2 did on one of three
        "imaging": LoraRecipe(r=32, alpha=32, dropout=0.0, targets=ALL_LINEAR, learning_rate=5e-3, epochs=2,
                              batch_size=4, grad_accum=1),
    },
    "t4": _WARM_STARTS_T4,
    "full": _WARM_STARTS_T4,
}



def sft_recipe(task: str, profile: Profile) -> LoraRecipe:
    """The SFT recipe that trains on `task`'s data: 03's for "medqa", 04's for the others; a
    smoke test's steps (`profile.smoke_steps`) replace its own.

    >>> from medlab.profiles import load_profile
    >>> sft_recipe("medqa", load_profile("tiny")).learning_rate, sft_recipe("triage", load_profile("t4")).r
    (0.01, 32)
    """
    recipe = SFT_MCQ[profile.name] if task == "medqa" else SFT_SMALL[profile.name][task]
    return replace(recipe, max_steps=profile.steps(recipe.max_steps))


# ---- PPO -------------------------------------------------------------------------------------

# MedLLM's gradient steps of 2 replies and lr 5e-7, with rollouts of 8 (whitening needs them:
# `ppo.MIN_WHITENED`) and one pass over each: 2 passes over 500 questions are still 500 steps of 2
_PPO_T4 = PPOConfig(learning_rate=5e-7, batch_size=8, minibatch_size=2, ppo_epochs=1, kl_coef=0.03, clip=0.2,
                    max_new_tokens=64)
PPO_MCQ = {  # notebooks/05_ppo_mcq.ipynb: PPO on MedQA from the SFT adapter
    "tiny": PPOConfig(learning_rate=3e-4, value_learning_rate=1e-2, batch_size=32, minibatch_size=16, ppo_epochs=2,
                      kl_coef=0.03, clip=0.2, max_new_tokens=24, temperature=1.0, min_p=0.1),
    "t4": _PPO_T4,
    "full": _PPO_T4,
}
PPO_PASSES = 2  # MedLLM's passes over its questions
PPO_QUESTIONS = 500  # MedLLM's number of PPO questions
TINY_PPO_STEPS = 24  # the pocket model's run: enough rollouts to see the reward rise, in about 45 s


def ppo_recipe(profile: Profile) -> PPOConfig:
    """05's PPO recipe for the profile, its replies no longer than the profile's `max_new_tokens`
    (the longest reply any run generates; a smoke test shortens it).

    >>> from medlab.profiles import load_profile
    >>> ppo_recipe(load_profile("t4")).max_new_tokens, ppo_recipe(load_profile("t4", max_new_tokens=32)).max_new_tokens
    (64, 32)
    """
    config = PPO_MCQ[profile.name]
    return replace(config, max_new_tokens=min(config.max_new_tokens, profile.max_new_tokens))


GRPO_BESIDE_PPO = {"tiny": 8, "t4": 1, "full": 4}
"""05's GRPO comparison: questions per step, 8 answers to each. On a T4, one question's 8 answers
are as many replies as one PPO rollout of 8."""


def grpo_beside_ppo(config: PPOConfig, ppo_rollouts: int, profile: Profile) -> GrpoRecipe:
    """05's GRPO run beside PPO: PPO's learning rate (constant, as PPO's), sampling and reply
    length, and as many sampled answers in all as PPO's rollouts.

    >>> from medlab.profiles import load_profile
    >>> recipe = grpo_beside_ppo(ppo_recipe(load_profile("tiny")), 24, load_profile("tiny"))
    >>> recipe.steps * recipe.num_generations * recipe.prompts_per_step == 24 * 32
    True
    """
    generations, prompts = 8, GRPO_BESIDE_PPO[profile.name]
    same_answers = ppo_rollouts * config.batch_size // (generations * prompts)
    return GrpoRecipe(learning_rate=config.learning_rate, num_generations=generations, prompts_per_step=prompts,
                      steps=profile.steps(same_answers), max_completion_length=config.max_new_tokens,
                      temperature=config.temperature, min_p=config.min_p, scheduler="constant")


def ppo_questions(train: list, profile: Profile) -> tuple[list, bool]:
    """The questions 05 (and scripts/ppo.py) run PPO on: up to `PPO_QUESTIONS` of the training
    rows after SFT's, and True; or, where SFT took every row (`full`), the first ones again, and False.

    >>> from medlab.profiles import load_profile
    >>> questions, unseen = ppo_questions(list(range(1000)), load_profile("tiny", max_train_examples=100))
    >>> questions[0], len(questions), unseen
    (100, 500, True)
    """
    unseen = train[len(profile.cap_train(train)):]
    return (unseen or train)[:PPO_QUESTIONS], bool(unseen)


def ppo_steps(profile: Profile, questions: int) -> int:
    """How many rollouts the PPO run of 05 makes: MedLLM's two passes over its questions, the
    tiny run's fixed count, or a smoke test's steps."""
    if profile.name == "tiny":
        own = TINY_PPO_STEPS
    else:
        own = max(1, PPO_PASSES * questions // PPO_MCQ[profile.name].batch_size)
    return profile.steps(own)


# ---- Warm starts (04) and the rows RL trains on ------------------------------------------

WARM_START_EXAMPLES = {"triage": {"tiny": 400, "t4": 300, "full": 300},
                       "imaging": {"tiny": 240, "t4": 300, "full": 300}}
"""Training rows a warm-start adapter of 04 learns from, shared equally among the labels; RL
trains on the rows the warm start did not take. On `tiny`, imaging stops at 240 so that the
RL pool keeps pairs of every category (the table has 85 May Be Appropriate training pairs)."""

ANSWER_OF = {"triage": lambda case: case.level, "imaging": lambda pair: pair.appropriateness}
"""The label of a warm-start task's row: what the balanced warm start and RL pools count."""


def warm_start_rows(task: str, items: list, profile: Profile) -> list:
    """The rows notebook 04 trains `task`'s warm start on: `WARM_START_EXAMPLES` shared equally
    among the labels, no more than the profile's `max_train_examples`.

    Balanced, because a warm start taught mostly one answer gives that answer to everything,
    and then GRPO has no group whose rewards differ to learn from."""
    wanted = profile.cap_train(range(WARM_START_EXAMPLES[task][profile.name]))
    labels = {ANSWER_OF[task](item) for item in items}
    return balanced_pool(items, ANSWER_OF[task], len(wanted) // max(1, len(labels)))


def rows_after_warm_start(task: str, items: list, profile: Profile) -> tuple[list, bool]:
    """The rows RL trains on: those the warm start did not take, and False; or, where the warm
    start took every row, all of them again and True (say so: RL then revisits what SFT taught).

    >>> from medlab.profiles import load_profile
    >>> rows, reused = rows_after_warm_start("imaging", [], load_profile("tiny"))
    >>> rows, reused
    ([], True)
    """
    taken = {id(item) for item in warm_start_rows(task, items, profile)}
    rest = [item for item in items if id(item) not in taken]
    return (rest, False) if rest else (list(items), True)


# ---- GRPO ------------------------------------------------------------------------------------

PROBE_PROMPTS = {"tiny": 0, "t4": 16, "full": 64}
"""RL prompts 06 and 07 sample the warm start on before training (0: the whole pool). On a T4,
16 prompts x 4 replies of up to 1,024 tokens take about 5 minutes, and the notebook does it in
every session: the whole pool (450 pairs, 300 cases) would take 3-4 hours (`medlab.session`)."""


def probe_prompts(pool: list, profile: Profile) -> list:
    """The RL prompts the warm start is sampled on before training: the pool, or its first
    `PROBE_PROMPTS` (the pool is balanced, in label order: they are taken across it)."""
    count = PROBE_PROMPTS.get(profile.name, 16)
    if not count or count >= len(pool):
        return pool
    return pool[:: max(1, len(pool) // count)][:count]


IMAGING_PER_LABEL = {"tiny": 6, "t4": 150, "full": 0}  # RL pairs of each category; 0: all of them
TRIAGE_PER_LEVEL = {"tiny": 4, "t4": 60, "full": 0}  # RL cases of each ESI level; 0: all of them


def share_within_cap(per_label: int, labels: set, profile: Profile) -> int:
    """`per_label`, or less where all `labels` would then exceed the profile's
    `max_train_examples`: an equal share of the cap for each label (at least one).

    >>> from medlab.profiles import load_profile
    >>> share_within_cap(6, {"a", "b", "c"}, load_profile("tiny", max_train_examples=10))
    3
    """
    cap, count = profile.max_train_examples, len(labels) or 1
    return max(1, cap // count) if cap and per_label * count > cap else per_label


def imaging_pool(pairs: list, profile: Profile) -> list:
    """06's RL pairs: up to `IMAGING_PER_LABEL` of each category from `pairs` (those after the
    warm start's), and no more than the profile's `max_train_examples`. Balanced, because in
    the table most pairs are Usually Not Appropriate: a pool that keeps that mix pays the
    policy that says so to every pair. A cap below the pool's size takes fewer of each
    category, not the first categories whole."""
    per_label = share_within_cap(IMAGING_PER_LABEL[profile.name] or len(pairs),
                                 {pair.appropriateness for pair in pairs}, profile)
    return profile.cap_train(balanced_pool(pairs, lambda pair: pair.appropriateness, per_label))


def triage_pool(cases: list, profile: Profile) -> tuple[list, dict[str, int]]:
    """07's RL cases: up to `TRIAGE_PER_LEVEL` of each ESI level, rule cases first in turn
    (`balanced_triage_pool`), and no more than the profile's `max_train_examples`. Returns the
    pool and how many cases of each rule there were to pick from.

    A cap below the pool's size takes fewer of each level, not the first levels whole: a smoke
    test's ten cases still hold every level."""
    per_level = share_within_cap(TRIAGE_PER_LEVEL[profile.name] or len(cases), {case.level for case in cases}, profile)
    pool, found = balanced_triage_pool(cases, per_level)
    return profile.cap_train(pool), found


# 50 steps: two variants fit a 3-hour Colab session (medlab.session: up to 1.4 h each, as TRL
# samples 4 x 1 x 4 = 16 replies of up to 768 tokens per step); 100 steps took one session each
_GRPO_IMAGING_T4 = GrpoRecipe(learning_rate=1e-5, num_generations=4, prompts_per_step=1, grad_accum=4, steps=50,
                              max_completion_length=768, temperature=1.0)
_GRPO_IMAGING_FULL = replace(_GRPO_IMAGING_T4, steps=100)  # no session to fit on a large GPU
GRPO_IMAGING = {  # notebooks/06_grpo_appropriateness.ipynb: one recipe, four reward designs
    # 3e-4: the warm start reads the evidence already, and at 1e-3 eight steps cost the evidence
    # variants held-out macro-F1 (1.00 -> 0.42-0.85, measured): from a strong start, RL's risk is damage
    "tiny": GrpoRecipe(learning_rate=3e-4, num_generations=4, prompts_per_step=8, steps=4, max_completion_length=96,
                       temperature=1.0, min_p=0.1),
    "t4": _GRPO_IMAGING_T4,
    "full": _GRPO_IMAGING_FULL,
}

# lr 1e-5, 06's for the same model and adapter: the card's 2e-7 refined an adapter GRPO had
# already trained, and from an SFT warm start its 300 steps sum to ~1% of the SFT run's. 75
# steps, not the card's 300: a run fits a 3-hour Colab session (medlab.session: up to 2.7 h at
# 512-token prompts, 16 replies of up to 1,024 tokens per step); 300 would take 10-11 hours.
# Fewer would move the warm start less than a tenth of what its SFT did (test_recipes)
_GRPO_TRIAGE_T4 = GrpoRecipe(learning_rate=1e-5, num_generations=4, prompts_per_step=1, grad_accum=4, steps=75,
                             max_completion_length=1024, temperature=1.0)
_GRPO_TRIAGE_FULL = replace(_GRPO_TRIAGE_T4, steps=300)  # the card's 300: no session to fit
GRPO_TRIAGE = {  # notebooks/07_grpo_triage.ipynb: ESI levels, with and without the rule bonuses
    # 3e-4: from a warm start that already discriminates, 1e-3 cost the greedy answer format
    # (a quarter of held-out replies unparsed after 16 steps, measured)
    "tiny": GrpoRecipe(learning_rate=3e-4, num_generations=4, prompts_per_step=8, steps=8, max_completion_length=128,
                       temperature=1.0, min_p=0.1),
    "t4": _GRPO_TRIAGE_T4,
    "full": _GRPO_TRIAGE_FULL,
}


def grpo_recipe(task: str, profile: Profile) -> GrpoRecipe:
    """The GRPO recipe of `task`: 06's for "imaging", 07's for "triage"; a smoke test's steps
    (`profile.smoke_steps`) replace its own.

    >>> from medlab.profiles import load_profile
    >>> grpo_recipe("triage", load_profile("t4")).steps, grpo_recipe("triage", load_profile("t4", smoke_steps=2)).steps
    (75, 2)
    """
    recipe = {"imaging": GRPO_IMAGING, "triage": GRPO_TRIAGE}[task][profile.name]
    return replace(recipe, steps=profile.steps(recipe.steps),
                   max_completion_length=min(recipe.max_completion_length, profile.max_new_tokens))
