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


def scripted(lines):
    """A `read` for `chat.run` that returns `lines` in turn; an exception in them is raised."""
    lines = iter(lines)

    def read(prompt):
        line = next(lines)
        if isinstance(line, BaseException):
            raise line
        return line
    return read


def console_text():
    import io

    from rich.console import Console

    out = io.StringIO()
    return Console(file=out, width=200, highlight=False), out


@pytest.mark.parametrize("end", [EOFError(), ValueError("I/O operation on closed file"), OSError(5, "EIO")])
def test_a_failed_save_keeps_the_session_and_bad_input_ends_it_cleanly(tmp_path, end):
    from medlab.chat import run

    (tmp_path / "a-file").write_text("not a folder")
    console, out = console_text()
    logs = tmp_path / "runs" / "tiny" / "logs"
    undecodable = UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
    lines = [f"save {tmp_path / 'a-file' / 'chat.json'}", undecodable, f"save {tmp_path / 'notes.txt'}", "save", end]
    status = run(None, {"name": "m", "size_mb": 1}, console, logs, 12, read=scripted(lines))
    text = out.getvalue()
    assert status == 0 and "could not save to" in text and "the conversation is kept" in text
    assert "not UTF-8 text: type it again" in text and text.rstrip().endswith("bye")
    assert json.loads((tmp_path / "notes.txt").read_text())["exchanges"] == []  # `save FILE` is a command
    assert len(list((tmp_path / "runs" / "tiny" / "chats").glob("medlab-chat-*.json"))) == 1  # under runs/


def test_an_unreadable_training_log_is_a_row_not_a_crash(tmp_path):
    from medlab.chat import show_training

    (tmp_path / "cut.json").write_text('{"step": [1, 2], "loss": [1.0')
    (tmp_path / "sft.json").write_text(json.dumps({"step": [1], "loss": [2.0]}))
    console, out = console_text()
    show_training(console, tmp_path)
    assert "unreadable" in out.getvalue() and "sft" in out.getvalue()


def test_options_are_checked_before_the_model_file_is_opened(tmp_path):
    result = subprocess.run([sys.executable, "-m", "medlab.chat", "--model", str(tmp_path / "absent.gguf"),
                             "--n-ctx", "-5"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "-5: give 1 or more" in result.stderr and "absent.gguf" not in result.stderr
