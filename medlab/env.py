"""The machine a notebook runs on: seeding, the precision decision, an environment report.

Introduced in notebooks/00_setup.ipynb.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import random
import re
from pathlib import Path

import numpy as np
import psutil
import torch

from medlab.profiles import Profile

LIBRARIES = ("torch", "transformers", "trl", "peft", "datasets", "accelerate", "bitsandbytes")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch once, so two runs with one seed give the same metrics.

    Introduced in notebooks/00_setup.ipynb.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    os.environ["PYTHONHASHSEED"] = str(seed)  # reaches subprocesses (dataloader workers)


def gpu_capability() -> tuple[int, int] | None:
    """Compute capability of GPU 0, or None without a CUDA device."""
    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_capability(0)


def choose_precision(requested: str, capability: tuple[int, int] | None) -> tuple[str, str]:
    """The precision to train in, and why, from the profile's request and the GPU's capability.

    Decided from compute capability, not `torch.cuda.is_bf16_supported()`, which can say True
    on a T4 (capability 7.5) where bf16 is only emulated.

    >>> choose_precision("auto", (7, 5))[0]
    'fp16'
    >>> choose_precision("auto", (8, 0))[0]
    'bf16'
    >>> choose_precision("auto", None)[0]
    'fp32'
    """
    if capability is None:
        if requested in ("fp16", "bf16"):
            return "fp32", f"{requested} asked for, but there is no GPU: fp32 on the CPU"
        return "fp32", "no GPU: fp32 on the CPU"
    cc = f"{capability[0]}.{capability[1]}"
    if requested != "auto":
        if requested == "bf16" and capability < (8, 0):
            raise ValueError(f"bf16 needs compute capability >= 8.0; this GPU has {cc}: use fp16")
        return requested, f"{requested} as the profile asks (compute capability {cc})"
    if capability >= (8, 0):
        return "bf16", f"compute capability {cc} >= 8.0 has native bf16: no loss scaling needed"
    return "fp16", f"compute capability {cc} < 8.0 has no native bf16: fp16 with loss scaling"


def precision_for(profile: Profile) -> str:
    """The precision `profile` trains and loads in on this machine (see `choose_precision`)."""
    return choose_precision(profile.precision, gpu_capability())[0]


def torch_dtype(precision: str) -> torch.dtype:
    return {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def environment_report(profile: Profile) -> dict:
    """What a teacher checks first when a notebook misbehaves: versions, device, memory, precision."""
    capability = gpu_capability()
    precision, why = choose_precision(profile.precision, capability)
    report = {
        "profile": profile.name,
        **library_versions(),
        "cpu_cores": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "device": "cpu",
        "precision": precision,
        "precision_reason": why,
    }
    if capability is not None:
        props = torch.cuda.get_device_properties(0)
        report.update(
            device=f"cuda: {props.name}",
            compute_capability=f"{capability[0]}.{capability[1]}",
            gpu_memory_gb=round(props.total_memory / 2**30, 1),
        )
    return report


def check_device(profile: Profile) -> None:
    """Fail early, with what to do, when a GPU profile runs on a machine without a GPU."""
    if profile.device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"profile {profile.name!r} needs a CUDA GPU and none is visible: on Colab choose "
            "Runtime > Change runtime type > T4 GPU, or set PROFILE = 'tiny' for the CPU recipe"
        )


def machine() -> str:
    """The CPU's name and its cores, e.g. "Intel(R) Xeon(R) Processor, 2 cores"."""
    info = Path("/proc/cpuinfo")
    names = re.findall(r"^model name\s*:\s*(.+)$", info.read_text(), re.M) if info.exists() else []
    return f"{names[0] if names else platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def hardware(profile: Profile) -> str:
    """What `profile` trains on here, as a model card names it: the GPU ("Tesla T4"; "2 x Tesla T4"
    under a launcher's two processes), else the CPU and its cores (`tiny` trains on the CPU even
    where there is a GPU)."""
    if profile.device == "cpu" or not torch.cuda.is_available():
        return machine()
    processes = int(os.environ.get("WORLD_SIZE", "1"))  # set by accelerate launch and torchrun
    name = torch.cuda.get_device_name(0)
    return name if processes == 1 else f"{processes} x {name}"


def peak_memory_mb() -> dict[str, float]:
    """Peak resident memory of this process and, on a GPU, peak allocated GPU memory.

    `training_peak_mb` reduces this to the one figure that limits a training run."""
    import resource

    peaks = {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if torch.cuda.is_available():
        peaks["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return peaks


def training_peak_mb() -> float:
    """The memory that limits training: peak GPU memory on a GPU, else peak resident memory."""
    peaks = peak_memory_mb()
    return peaks.get("peak_gpu_mb", peaks["peak_rss_mb"])
