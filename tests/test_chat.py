"""`python -m medlab.chat`, used the way a person uses it: in a real terminal (a pty)."""

import json
import subprocess
import sys

import pexpect
import pytest

from medlab.chat import NOTICE

NOTICE_START = NOTICE.split(":")[0]  # "For learning only"


@pytest.fixture(scope="module")
def gguf_file(small_ggufs):
    return small_ggufs["q8_0"]


def start(gguf_file, cwd):
    child = pexpect.spawn(sys.executable, ["-m", "medlab.chat", "--model", str(gguf_file), "--max-tokens", "12",
                                           "--logs", str(cwd)],
                          cwd=str(cwd), encoding="utf-8", timeout=60, dimensions=(40, 120))
    child.expect("welcome")
    child.expect(NOTICE_START)
    child.expect("you> ")
    return child


def test_a_session_asks_saves_clears_and_quits(gguf_file, tmp_path):
    (tmp_path / "sft_demo.json").write_text(json.dumps({"step": [1, 2, 3], "loss": [2.5, 1.5, 0.75]}))
    (tmp_path / "other.json").write_text(json.dumps(["not", "a", "log"]))
    child = start(gguf_file, tmp_path)
    child.sendline("training")
    child.expect(r"sft_demo\s.*3\s.*loss\s.*2\.500\s.*0\.750")
    child.expect("you> ")
    child.sendline("info")
    child.expect('"name": "small pocket"')
    child.expect('"llama.cpp": "CPU : ')  # the CPU features llama.cpp uses, for a crash report
    child.expect("you> ")
    child.sendline("help me with this ECG")  # a question, though it starts with a command's word
    child.expect(NOTICE_START)
    child.expect(r"\(\d+\.\d s\)")
    child.expect("you> ")
    child.sendline("Chest pain for two hours: what first?")
    child.expect(NOTICE_START)  # every medical prompt carries the notice
    child.expect(r"\(\d+\.\d s\)")  # the reply ended
    child.expect("you> ")
    child.sendline("save first.json")
    child.expect("saved 2 exchanges")
    child.expect("you> ")
    session = json.loads((tmp_path / "first.json").read_text())
    assert session["model"]["name"] == "small pocket" and session["started"] and session["saved"]
    assert [e["query"] for e in session["exchanges"]] == ["help me with this ECG",
                                                           "Chest pain for two hours: what first?"]
    assert isinstance(session["exchanges"][0]["response"], str)
    child.sendline("clear")
    child.expect("conversation cleared")
    child.sendline("save after.json")
    child.expect("saved 0 exchanges")
    child.sendline("help")
    child.expect("the training logs")
    child.sendline("quit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert json.loads((tmp_path / "after.json").read_text())["exchanges"] == []


def test_ctrl_c_ends_the_session_cleanly(gguf_file, tmp_path):
    child = start(gguf_file, tmp_path)
    child.sendintr()
    child.expect("bye")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0 and "Traceback" not in child.before


@pytest.mark.parametrize("content, message", [(None, "no model file at"),
                                              (b"not a model", "is not a GGUF model llama.cpp can read")])
def test_a_bad_model_file_is_one_line_of_error(tmp_path, content, message):
    path = tmp_path / "model.gguf"
    if content is not None:
        path.write_bytes(content)
    result = subprocess.run([sys.executable, "-m", "medlab.chat", "--model", str(path)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert message in result.stdout and "Traceback" not in result.stdout + result.stderr
