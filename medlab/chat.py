"""Chat with an exported model in the terminal: `python -m medlab.chat --model PATH.gguf`.

The MedLLM report's last step: the fine-tuned model as a local program. The GGUF file is
loaded with llama-cpp-python, prompts go through the model's own chat template (the one the
converter embedded in the file), and replies stream as they are written.

Commands: help, info, training, save [FILE], clear, quit / exit (or Ctrl+C, Ctrl+D).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from medlab.export import DEFAULT_CONTEXT
from medlab.llama_build import system_info

NOTICE = ("For learning only: this model was fine-tuned in a course and is not a medical device. "
          "Do not use its answers for the care of a patient.")
SYSTEM = ("You are a medical assistant in a teaching course. Answer briefly, say what the answer rests on, "
          "and say when a question needs a clinician.")
COMMANDS = {
    "help": "show these commands",
    "info": "the model file and its settings",
    "training": "the training logs of the course's adapters",
    "save [FILE]": "write this session (model, time, questions and replies) as JSON to FILE, or to a dated file "
                   "in the runs folder's chats/ (git ignores runs/)",
    "clear": "forget the conversation so far",
    "quit / exit": "leave (Ctrl+C and Ctrl+D work too)",
}


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Session:
    """One conversation: the model's description and every exchange, for `save`."""

    model: dict
    started: str = field(default_factory=now)
    exchanges: list[dict] = field(default_factory=list)

    def messages(self) -> list[dict]:
        turns = [{"role": "system", "content": SYSTEM}]
        for exchange in self.exchanges:
            turns += [{"role": "user", "content": exchange["query"]},
                      {"role": "assistant", "content": exchange["response"]}]
        return turns

    def to_json(self) -> dict:
        return {"model": self.model, "started": self.started,
                "saved": now(), "notice": NOTICE,
                "exchanges": self.exchanges}


def model_info(llm, path: Path, args) -> dict:
    """What `info` shows: the file, its settings, and the CPU features llama.cpp uses (a crash
    report needs them)."""
    metadata = getattr(llm, "metadata", {}) or {}
    return {"path": str(path), "size_mb": round(path.stat().st_size / 2**20, 1),
            "name": metadata.get("general.name", path.stem), "architecture": metadata.get("general.architecture"),
            "file_type": metadata.get("general.file_type"), "n_ctx": llm.n_ctx(), "n_gpu_layers": args.n_gpu_layers,
            "threads": args.threads, "llama.cpp": system_info()}


def reply(llm, session: Session, question: str, console: Console, max_tokens: int) -> str:
    """Stream the model's answer to `question`, given the conversation so far."""
    messages = session.messages() + [{"role": "user", "content": question}]
    parts = []
    started = time.time()
    for chunk in llm.create_chat_completion(messages, max_tokens=max_tokens, temperature=0.0, stream=True):
        text = chunk["choices"][0]["delta"].get("content", "")
        if text:
            parts.append(text)
            console.print(text, end="", markup=False, highlight=False)
    answer = "".join(parts).strip()
    console.print(f"\n[dim]({time.time() - started:.1f} s)[/dim]")
    session.exchanges.append({"query": question, "response": answer, "time": now()})
    return answer


def show_help(console: Console) -> None:
    table = Table(show_header=False, box=None)
    for command, what in COMMANDS.items():
        table.add_row(f"[bold]{command}[/bold]", what)
    console.print(table)


def show_training(console: Console, logs: Path) -> None:
    """One line per training log: steps, first and last loss or reward."""
    found = sorted(logs.glob("*.json")) if logs.is_dir() else []
    if not found:
        console.print(f"no training logs in {logs} (the training notebooks write them)")
        return
    table = Table("adapter", "steps", "measure", "first", "last", title=f"training logs in {logs}")
    for path in found:
        try:
            log = json.loads(path.read_text())
        except (OSError, ValueError) as error:  # unreadable, or cut off: one row says so
            table.add_row(path.stem, "", "unreadable", escape(str(error))[:40], "")
            continue
        key = next((k for k in ("loss", "reward") if isinstance(log, dict) and log.get(k)), None)
        if key is None:
            continue  # not a training log
        values = log[key]
        table.add_row(path.stem, str(len(values)), key, f"{values[0]:.3f}", f"{values[-1]:.3f}")
    console.print(table)


def save(session: Session, console: Console, name: str | None, folder: Path) -> Path | None:
    """Write the session to `name`, or to a dated file in `folder` (under runs/, which git
    ignores: a conversation can quote a credentialed note). A path that cannot be written is
    reported, and the session is kept to save elsewhere."""
    from medlab.runlog import write_json

    path = Path(name).expanduser() if name else folder / f"medlab-chat-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    try:
        write_json(path, session.to_json())
    except OSError as error:
        console.print(f"[red]could not save to {escape(str(path))}:[/red] {escape(error.strerror or str(error))}; "
                      "the conversation is kept: save it to another path")
        return None
    console.print(f"saved {len(session.exchanges)} exchanges to {path}")
    return path


def welcome(console: Console, info: dict) -> None:
    console.print(Panel.fit(
        f"[bold]medlab chat[/bold]: {info['name']} ({info['size_mb']} MB)\n"
        "Ask a clinical question, or type [bold]help[/bold] for the commands.\n\n"
        f"[yellow]{NOTICE}[/yellow]", title="welcome"))


def as_command(line: str) -> tuple[str | None, str | None]:
    """`(command, argument)` when the whole line is a command, else `(None, None)`: a question
    that starts with a command's word ("help me read this ECG", "quit smoking?") is a question.

    >>> as_command("save notes.txt"), as_command("help"), as_command("help me read this ECG")
    (('save', 'notes.txt'), ('help', None), (None, None))
    >>> as_command("save me"), as_command("save ~/chats/today")
    ((None, None), ('save', '~/chats/today'))
    """
    words = line.split()
    if len(words) == 1 and words[0] in ("help", "info", "training", "save", "clear", "quit", "exit"):
        return words[0], None
    if len(words) == 2 and words[0] == "save" and (Path(words[1]).suffix or "/" in words[1]):  # a file's name
        return "save", words[1]
    return None, None


def run(llm, info: dict, console: Console, logs: Path, max_tokens: int, read=input) -> int:
    """The read-answer loop; returns the exit status. `logs`: the runs folder's training logs;
    sessions are saved beside them, in its `chats/`."""
    session = Session(model=info)
    welcome(console, info)
    while True:
        try:
            line = read("you> ").strip()
        except UnicodeDecodeError:  # bytes that are not UTF-8 on a terminal that reads strictly
            console.print("that line was not UTF-8 text: type it again")
            continue
        except (EOFError, KeyboardInterrupt, OSError, ValueError):  # Ctrl+D, Ctrl+C, a closed input
            console.print("\nbye")
            return 0
        if not line:
            continue
        command, argument = as_command(line)
        if command in ("quit", "exit"):
            console.print("bye")
            return 0
        if command == "help":
            show_help(console)
        elif command == "info":
            console.print_json(data=info, highlight=False)
        elif command == "training":
            show_training(console, logs)
        elif command == "save":
            save(session, console, argument, logs.parent / "chats")
        elif command == "clear":
            session.exchanges.clear()
            console.print("conversation cleared")
        else:
            console.print(f"[dim]{NOTICE}[/dim]")
            try:
                reply(llm, session, line, console, max_tokens)
            except KeyboardInterrupt:
                console.print("\n[dim](reply stopped)[/dim]")
            except ValueError as error:  # llama_cpp: the conversation no longer fits the context
                console.print(f"\n{escape(str(error))}: type clear to start a new conversation")


def positive(text: str) -> int:
    """An option that counts something: 1 or more."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: give 1 or more")
    return value


def parse_args(argv: list[str] | None):
    """The options, each checked here, before the model file is opened."""
    parser = argparse.ArgumentParser(prog="medlab-chat", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, type=Path, help="a .gguf file (notebook 09 writes them)")
    parser.add_argument("--n-ctx", type=positive, default=None,
                        help=f"context length in tokens (default {DEFAULT_CONTEXT}, or the model's trained context if "
                             "shorter); the conversation must fit in it")
    parser.add_argument("--n-gpu-layers", type=int, default=0, help="layers to put on the GPU; -1 for all")
    parser.add_argument("--threads", type=positive, default=None, help="CPU threads (default: llama.cpp's choice)")
    parser.add_argument("--max-tokens", type=positive, default=256, help="longest reply in tokens")
    parser.add_argument("--logs", type=Path, default=None, help="training logs to show (default: the course's)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from medlab.export import load_gguf

    args = parse_args(argv)
    # Ctrl+C must end the chat even when it was started from a job that ignores SIGINT (a
    # background job of a shell does, and the ignoring is inherited): Python then installs no
    # KeyboardInterrupt handler of its own.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    console = Console(highlight=False)  # no colouring of numbers inside replies
    try:
        llm = load_gguf(args.model, n_ctx=args.n_ctx, n_gpu_layers=args.n_gpu_layers, threads=args.threads)
    except (FileNotFoundError, ValueError, MemoryError) as error:
        console.print(f"[red]error:[/red] {escape(str(error))}")
        return 2
    logs = args.logs
    if logs is None:
        from medlab.profiles import default_profile_name
        from medlab.runlog import runs_dir

        logs = runs_dir(default_profile_name()) / "logs"
    return run(llm, model_info(llm, args.model, args), console, logs, args.max_tokens)


if __name__ == "__main__":
    sys.exit(main())
