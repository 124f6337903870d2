"""Estimate: each t4 notebook's hours on a free Colab T4, and the Google Drive space it needs.

    .venv/bin/python benchmarks/colab_session.py

The README's Colab table comes from this script. The hours are `medlab.session`'s arithmetic
(its figures and their sources are in that module's docstring): every reply at its cap, so an
upper bound, on the t4 recipes, the t4 profile's caps and the public datasets' sizes below.
Prompt lengths are measured with Llama 3's own tokenizer (the stand-in of the tests) on the
course's data, which has the public datasets' schemas; DiReCT's conversations are taken at the
longest a real note measured (2,194 tokens). Drive space is each notebook's adapters (float32
LoRA weights), and while a run trains, its two checkpoint slots (the adapter and the optimiser's
state; PPO's AdamW keeps two float32 moments, the paged 8-bit AdamW two bytes a weight); a
finished run's slots are deleted, and sit in Drive's trash until it is emptied.

Nothing here runs on a GPU: `benchmarks/gpu_fit.py` measures seconds per step and rollout
tokens/s where one is lent, and those replace the figures `medlab.session` states.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the Llama tokenizer stand-in

from medlab import prompts  # noqa: E402
from medlab.data import sources  # noqa: E402
from medlab.evaluation import base_model  # noqa: E402
from medlab.profiles import load_profile  # noqa: E402
from medlab.recipes import PPO_MCQ, PROBE_PROMPTS, SFT_MCQ, SFT_SMALL, grpo_recipe, ppo_steps  # noqa: E402
from medlab.session import (  # noqa: E402
    SESSION_HOURS,
    evaluation_part,
    grpo_part,
    ppo_part,
    sft_part,
)
from medlab.training import token_lengths  # noqa: E402

T4 = load_profile("t4")
EVAL = T4.max_eval_examples  # 200: every held-out set of the public data is larger
PUBLIC = {  # training rows a t4 run takes from the public data (the profile's cap, a recipe's own)
    "medqa": T4.max_train_examples,  # MedQA's 10,178 training questions, capped at 2,000
    "reasoning": 409,  # DiReCT's 511 notes, 80% of them
    "triage": 300, "imaging": 300,  # the warm starts' rows (recipes.WARM_START_EXAMPLES)
}
DIRECT_LONGEST = 2194  # tokens of the longest real DiReCT conversation through reasoning_messages
LORA_SHAPES = {  # (in, out) of each adapted projection, per layer, from the published configs
    "meta-llama/Llama-3.1-8B-Instruct": (32, {"q_proj": (4096, 4096), "k_proj": (4096, 1024), "v_proj": (4096, 1024),
                                              "o_proj": (4096, 4096), "gate_proj": (4096, 14336),
                                              "up_proj": (4096, 14336), "down_proj": (14336, 4096)}),
    "meta-llama/Llama-3.2-3B-Instruct": (28, {"q_proj": (3072, 3072), "k_proj": (3072, 1024), "v_proj": (3072, 1024),
                                              "o_proj": (3072, 3072), "gate_proj": (3072, 8192),
                                              "up_proj": (3072, 8192), "down_proj": (8192, 3072)}),
}


def lora_weights(model: str, r: int, targets) -> int:
    layers, shapes = LORA_SHAPES[model]
    return layers * sum(r * (shapes[t][0] + shapes[t][1]) for t in targets)


def probe_part(model: str, task: str):
    """06's and 07's sampling of the warm start before training: `PROBE_PROMPTS` x 4 replies at the
    RL reply cap, 16 at a time."""
    from medlab.session import Part, Work

    recipe = grpo_recipe(task, T4)
    replies = PROBE_PROMPTS["t4"] * recipe.num_generations
    return Part("warm start sampled", (Work(model, replies, 16, recipe.max_completion_length),))


def tokenizer():
    from standins import llama_standin

    from medlab.models import load_tokenizer

    return load_tokenizer(str(llama_standin("3.2")))


def mean(values) -> float:
    return sum(values) / max(len(values), 1)


def main() -> None:
    llama = tokenizer()
    data = {task: sources.splits(task, replace(T4, data_source="course", offline=True), 0)
            for task in ("medqa", "triage", "imaging")}
    mcq_prompt = mean(token_lengths(llama, [prompts.mcq_messages(q) for q in data["medqa"].train], True))
    mcq_whole = mean(token_lengths(llama, [prompts.mcq_messages(q, with_answer=True) for q in data["medqa"].train]))
    triage_prompt = mean(token_lengths(llama, [prompts.triage_messages(c) for c in data["triage"].train], True))
    imaging_prompt = mean(token_lengths(llama, [prompts.imaging_messages(p, citations=True)
                                                for p in data["imaging"].train], True))
    print(f"mean prompt tokens (Llama 3): MedQA {mcq_prompt:.0f}, triage {triage_prompt:.0f}, "
          f"imaging {imaging_prompt:.0f}; MedQA with its answer {mcq_whole:.0f}")
    large, small = base_model("medqa", T4), base_model("triage", T4)
    mcq, warm = SFT_MCQ["t4"], SFT_SMALL["t4"]
    ppo = PPO_MCQ["t4"]
    steps = ppo_steps(T4, 500)
    same_answers = replace(grpo_recipe("imaging", T4), num_generations=8, prompts_per_step=1, grad_accum=1,
                           steps=steps * ppo.batch_size // 8, max_completion_length=ppo.max_new_tokens)
    notebooks = {
        "03_sft_mcq": [sft_part("sft_mcq", large, [round(mcq_whole)] * PUBLIC["medqa"], mcq)
                       + evaluation_part("", large, "medqa", 2 * EVAL, T4)],
        "04_sft_reasoning": [
            sft_part("sft_reasoning", small, [DIRECT_LONGEST] * PUBLIC["reasoning"], warm["reasoning"])
            + evaluation_part("", small, "reasoning", 2 * EVAL, T4),
            sft_part("sft_triage", small, [round(triage_prompt) + 300] * PUBLIC["triage"], warm["triage"])
            + evaluation_part("", small, "triage", 2 * EVAL, T4),
            sft_part("sft_imaging", small, [round(imaging_prompt) + 200] * PUBLIC["imaging"], warm["imaging"])
            + evaluation_part("", small, "imaging_citations", 2 * EVAL, T4)],
        "05_ppo_mcq": [ppo_part("ppo_mcq", large, ppo, steps, mcq_prompt)
                       + evaluation_part("", large, "medqa", EVAL, T4),
                       grpo_part("grpo_mcq", large, same_answers, mcq_prompt)
                       + evaluation_part("", large, "medqa", 2 * EVAL, T4)],
        "06_grpo_appropriateness": [
            probe_part(small, "imaging"),  # the warm start sampled before the runs, in each session
            *(grpo_part(f"grpo_imaging_{v}", small, grpo_recipe("imaging", T4), imaging_prompt)
              for v in ("baseline", "citations", "llm_eval", "embedding")),
            evaluation_part("evaluation", small, "imaging", (2 + 4) * EVAL + 5 * EVAL, T4)],
        "07_grpo_triage": [
            probe_part(small, "triage"),
            *(grpo_part(f"grpo_triage_{v}", small, grpo_recipe("triage", T4), triage_prompt)
              for v in ("no_bonus", "bonus")),
            evaluation_part("evaluation", small, "triage", 3 * (EVAL + 36 + 2 * 36 + EVAL), T4)],
    }
    r32 = lora_weights(small, 32, LORA_SHAPES[small][1])
    medllm = lora_weights(large, mcq.r, mcq.targets)
    adapters = {  # float32 weights of each notebook's adapters, and the largest run's checkpoint slots
        "03_sft_mcq": (4 * medllm, 2 * 6 * medllm),
        "04_sft_reasoning": (4 * (lora_weights(small, 16, warm["reasoning"].targets) + 2 * r32), 2 * 6 * r32),
        "05_ppo_mcq": (2 * 4 * medllm, 2 * 12 * medllm),
        "06_grpo_appropriateness": (4 * 4 * r32, 2 * 6 * r32),
        "07_grpo_triage": (2 * 4 * r32, 2 * 6 * r32),
    }
    print(f"\n| notebook | T4 hours (upper bound) | sessions of {SESSION_HOURS:g} h | Drive: adapters kept | "
          "Drive while training |")
    print("|---|---|---|---|---|")
    for name, parts in notebooks.items():
        hours, sessions, used = 0.0, 1, 0.0  # as medlab.session.projected_sessions counts from a fresh session
        for part in parts:
            if used and used + part.hours() > SESSION_HOURS:
                sessions, used = sessions + 1, 0.0
            used += part.hours()
            hours += part.hours()
        kept, slots = adapters[name]
        print(f"| {name} | {hours:.1f} | {sessions} | {kept / 1e6:,.0f} MB | +{slots / 1e6:,.0f} MB |")
    q4 = 3.21e9 * 18 / 32 * 1.1
    print(f"| 09_export_chat | merge and convert on the VM's disk | 1 | q4_0 of a 3B: {q4 / 1e9:.1f} GB | "
          f"the VM's disk: {(3.21e9 * (2 + 2 + 34 / 32 * 1.1) + q4) / 1e9:.0f} GB |")


if __name__ == "__main__":
    main()
