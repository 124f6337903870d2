"""medlab: helpers for a course on fine-tuning language models for clinical reasoning.

Research and teaching code. Not for clinical use.

Each task has one name, from its data to its adapters (`medlab.course.RUNS` declares the runs;
`evaluation.TASKS` how each is asked, read and scored):

    task       data (medlab.data.load)          prompt (medlab.prompts)  reader (medlab.parsers)
    medqa      MedQA; MedMCQA to test (mcq)     mcq_messages             parse_mcq
    reasoning  DiReCT notes (direct)            reasoning_messages       parse_diagnosis
    imaging    appropriateness table            imaging_messages         parse_appropriateness
    triage     MIETIC cases, ESI levels         triage_messages          parse_esi

    task       rewards (medlab.rewards.REWARDS)     adapters (medlab.course.RUNS)
    medqa      mcq                                  sft_mcq, ppo_mcq, grpo_mcq
    reasoning  (SFT only)                           sft_reasoning
    imaging    format, answer, judge, embedding     sft_imaging, grpo_imaging_{baseline,citations,llm_eval,embedding}
    triage     triage, triage_no_bonus              sft_triage, grpo_triage_{no_bonus,bonus}
"""

import logging

__version__ = "0.1.0"

# On a CPU with AVX512-BF16, importing bitsandbytes warns that an optional inference kernel could
# not be fetched from the hub. The course never uses that kernel (medlab.models keeps 4-bit layers
# in their training layout on a CPU), and the warning would open every notebook's output there.
# Only that message is dropped: the module's other warnings still show.
logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(
    lambda record: "kernels-community" not in record.getMessage())
