"""The installed llama.cpp runs on any x86-64 machine: built with the course's flags, no AVX-512 or
AMX code, and GGUF files answer in a child process whose death by a signal is named."""

import re
import subprocess
import sys

import pytest

from medlab.llama_build import PORTABLE_FLAGS, cpu_libraries, installed_flags, non_portable_instructions
from medlab.runner import how_it_ended

ANSWER = """
import sys
from medlab.export import load_gguf
llm = load_gguf(sys.argv[1], n_ctx=256)
out = llm.create_completion("A 70-year-old man has crushing chest pain.", max_tokens=8, temperature=0.0)
print("read", out["usage"]["prompt_tokens"], "tokens")  # the prompt's pass ran the quantized products
llm.close()
"""


def test_the_installed_llama_cpp_came_from_the_course_s_portable_build():
    flags = installed_flags()
    assert flags is not None, "llama-cpp-python was not installed by `python -m medlab.llama_build`"
    assert flags[:len(PORTABLE_FLAGS)] == PORTABLE_FLAGS


def test_the_cpu_kernels_hold_no_avx512_or_amx_instruction():
    libraries = cpu_libraries()
    assert libraries, "no libggml-cpu in the installed llama_cpp"
    for library in libraries:
        assert non_portable_instructions(library) == [], f"{library} needs a CPU that not every machine has"


@pytest.mark.parametrize("kind", ["q8_0", "q4_0"])
def test_a_quantized_gguf_file_answers_in_a_child_process(small_ggufs, kind):
    """Quantized matrix products are where a native build on a Xeon reached AMX and died."""
    result = subprocess.run([sys.executable, "-c", ANSWER, str(small_ggufs[kind])], capture_output=True, text=True,
                            timeout=120)
    ended = how_it_ended(result.returncode, "python with a GGUF file")
    assert result.returncode == 0, f"{ended}\n{result.stderr[-2000:]}"
    assert re.search(r"read [1-9]\d* tokens", result.stdout)


def test_a_death_by_signal_is_named(tmp_path):
    result = subprocess.run([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"],
                            cwd=tmp_path, timeout=60)  # where a core file may land
    assert how_it_ended(result.returncode, "python") == "python died of SIGSEGV (signal 11)"
