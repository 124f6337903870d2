"""benchmarks/cpu_speed.py: every repeat trains; none is skipped as a run already done."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "cpu_speed.py"


def test_every_repeat_trains_its_steps():
    """Since runs of the same settings are skipped as done (`training.finished_run`), repeats in one
    folder after the first took 0.2 s and the median reported that."""
    done = subprocess.run([sys.executable, str(SCRIPT), "--steps", "2", "--repeats", "2"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "trained already" not in done.stdout + done.stderr
    assert done.stdout.count("repeat ") == 2 and "seconds per 2 steps:" in done.stdout
