"""Colab: the notebooks' setup cell, the run folder on Google Drive, and the hub login.

Each Colab notebook runs on a fresh machine, so without Drive the adapter that 03 trained is
gone when 08 starts, and a disconnect loses the checkpoints. Every notebook's setup cell is
`setup_cell(notebook)`, the same text in each (tests/test_notebooks.py compares them): on Colab
it installs the course, then `start_notebook` calls `setup_colab()`; elsewhere it only starts
the notebook.

Introduced in notebooks/00_setup.ipynb.
"""

from __future__ import annotations

import os
from pathlib import Path

from medlab.training import KEEP_EVERY_MINUTES

DRIVE = Path("/content/drive")
HOME_ON_DRIVE = DRIVE / "MyDrive" / "medlab"
LOCAL_DISK = Path("/content/medlab-work")  # the VM's own disk: gone after a disconnect, no trash
GATED_LICENCES = "https://huggingface.co/meta-llama/Llama-3.2-3B-Instruct and https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct"


SETUP_CELL = """\
import sys

if "google.colab" in sys.modules:  # Colab only: install the course beside Colab's torch and Jupyter
    import subprocess

    clone = "git clone -q --depth 1 --branch main https://github.com/medlab-course/medlab /content/medlab"
    subprocess.run(f"[ -d /content/medlab ] || {clone}; pip install -q -e '/content/medlab[gpu]'", shell=True,
                   check=True)
    sys.path.insert(0, "/content/medlab")

from medlab.runlog import start_notebook

run = start_notebook("NOTEBOOK", PROFILE, seed=SEED, exercise=EXERCISE, **DATA)
profile = run.profile"""
"""Every notebook's second cell, NOTEBOOK its name. Only what must run before the course is
installed lives here; the rest is `start_notebook`'s."""


def setup_cell(notebook: str) -> str:
    """The setup cell of `notebook`, cloning the course from `repository.REPOSITORY` at `REF`.

    >>> setup_cell("03_sft_mcq").splitlines()[-2]
    'run = start_notebook("03_sft_mcq", PROFILE, seed=SEED, exercise=EXERCISE, **DATA)'
    """
    from medlab.repository import readdress

    return readdress(SETUP_CELL.replace("NOTEBOOK", notebook))


def setup_colab(keep_runs_on_drive: bool = True) -> None:
    """Mount Google Drive as the course's home for runs, then say whether the hub login is set."""
    if keep_runs_on_drive:
        from google.colab import drive

        drive.mount(str(DRIVE))
        HOME_ON_DRIVE.mkdir(parents=True, exist_ok=True)
        os.environ["MEDLAB_HOME"] = str(HOME_ON_DRIVE)
        os.environ["MEDLAB_SCRATCH"] = str(LOCAL_DISK)  # trainers checkpoint here; the newest goes to Drive
        print(f"runs, adapters and checkpoints are kept on Google Drive: {HOME_ON_DRIVE} (the newest checkpoint "
              f"of a run every {KEEP_EVERY_MINUTES:.0f} minutes)")
    from huggingface_hub import get_token  # reads HF_TOKEN, a saved login, or the Colab secret

    print(login_hint(get_token()))


def login_hint(token: str | None) -> str:
    """One line: the login is in place, or what to do before a notebook loads Llama.

    >>> login_hint("hf_abc")
    'Hugging Face token found (Llama is gated: its licence must also be accepted on the hub)'
    """
    if token:
        return "Hugging Face token found (Llama is gated: its licence must also be accepted on the hub)"
    return ("no Hugging Face token: Llama is gated. Accept the licence at " + GATED_LICENCES + ", then add "
            "a Colab secret named HF_TOKEN (key icon, left bar) with notebook access, or run "
            "`from huggingface_hub import notebook_login; notebook_login()`")
