"""A pytest plugin for `make test`: nbval notices a notebook kernel that died, within seconds.

nbval waits for a cell's reply for the whole cell timeout (900 s here) without asking whether
the kernel is still there. A kernel killed by a crash in native code (llama.cpp on a CPU it was
not built for, say) then holds the run for the timeout of every cell still to come. This plugin
makes nbval wait in one-second slices and look at the kernel's process between them: a dead
kernel fails its cell at once, with the signal that killed it.

Registered in pyproject.toml (`-p medlab.nbval_kernel`).
"""

from __future__ import annotations

import time
from queue import Empty

from nbval.kernel import RunningKernel

from medlab.runner import how_it_ended, kernel_exit_status

POLL_SECONDS = 1.0


class KernelDied(RuntimeError):
    """The notebook's kernel process ended while a cell was running."""


def await_reply_or_death(kernel: RunningKernel, msg_id: str, timeout: float | None = None) -> None:
    """nbval's `await_reply`, which also stops when the kernel is gone."""
    # nbval's own meaning: no timeout, or one of zero or less, waits as long as the kernel lives
    deadline = time.monotonic() + float(timeout) if timeout and float(timeout) > 0 else None
    while True:
        try:
            message = kernel.get_message(stream="shell", timeout=POLL_SECONDS)
        except Empty:
            if not kernel.is_alive():
                raise KernelDied(how_it_ended(kernel_exit_status(kernel.km)) + " while this cell ran "
                                 "(native code crashed, or memory ran out)") from None
            if deadline is not None and time.monotonic() >= deadline:
                raise
            continue
        if message["parent_header"].get("msg_id") == msg_id:
            if message["content"]["status"] == "aborted":
                raise RuntimeError("Kernel aborted execution request")
            return


def pytest_configure(config) -> None:
    RunningKernel.await_reply = await_reply_or_death
