"""llama.cpp (through `llama-cpp-python`) built once for any x86-64 machine with AVX2, and checked.

llama-cpp-python compiles llama.cpp when it is installed, and by default tunes it for the CPU
it is built on (`-march=native`). On a Sapphire Rapids Xeon that build calls AMX tile
instructions, which some virtual machines do not enable for processes: every quantized GGUF
model then kills its process in `libggml-cpu`, with a general protection fault (SIGSEGV, in
`ggml_backend_amx_mul_mat`) or an illegal instruction (SIGILL), as the VM reports it. pip
also caches the wheel under a name that does not say which CPU it was tuned for, so a native
build travels to machines it was never meant for.

So the course builds it itself, with fixed flags (`PORTABLE_FLAGS`): AVX2, FMA, F16C and BMI2,
which x86-64 CPUs of the last decade share, and no AVX-512 or AMX. The wheel is kept in a cache
folder named after the version and the flags (`wheel_dir`), so a wheel built with other flags,
or pip's own cached native wheel, is never taken for it.

    python -m medlab.llama_build          # build (about 4 minutes on 2 cores, once) and install
    python -m medlab.llama_build --check  # the installed library: its flags, no AVX-512 or AMX code

Only the standard library is imported here: `make setup` runs this before llama_cpp exists.
Introduced for notebooks/09_export_chat.ipynb.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE = "llama-cpp-python"
VERSION = "0.3.36"
"""Pinned exactly: notebook 09's converter is taken from this version's source, so the writer and
the reader of a GGUF file are one version of llama.cpp."""

PORTABLE_FLAGS = (
    "-DGGML_NATIVE=OFF",  # no -march=native: the build must not depend on the machine it ran on
    "-DGGML_AVX=ON", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON", "-DGGML_BMI2=ON",
    "-DGGML_AVX512=OFF",  # absent from many laptops and from AMD CPUs before Zen 4
    "-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF",  # needs the OS to enable tile state
)
"""CMake flags of the course's build: the level that x86-64 machines of the last decade share.
On ARM, llama.cpp ignores the x86 flags and builds for the generic architecture."""

FLAGS_FILE = "medlab_build_flags"
"""The file beside a built wheel, and in the installed distribution's `.dist-info`, that records the
flags of the build."""

AMX_MNEMONICS = ("ldtilecfg", "sttilecfg", "tileloadd", "tilestored", "tilezero", "tdpb", "tdpbf16ps",
                 "tilerelease")
"""Instructions of the AMX tile extension as objdump names them (tdpb* covers the int8 products)."""


def build_flags() -> tuple[str, ...]:
    """`PORTABLE_FLAGS`, then anything in `CMAKE_ARGS` (a later flag wins in CMake), e.g.
    `CMAKE_ARGS=-DGGML_CUDA=on` on a machine with CUDA for `--n-gpu-layers`."""
    return PORTABLE_FLAGS + tuple(shlex.split(os.environ.get("CMAKE_ARGS", "")))


def wheel_dir(flags: tuple[str, ...], cache: Path | None = None) -> Path:
    """The folder that holds the wheel built with exactly `flags`: one folder per version,
    flags and machine architecture.

    >>> wheel_dir(("-DGGML_NATIVE=OFF",), Path("/c")) == wheel_dir(("-DGGML_NATIVE=OFF",), Path("/c"))
    True
    >>> wheel_dir(("-DGGML_NATIVE=OFF",), Path("/c")) == wheel_dir(("-DGGML_NATIVE=ON",), Path("/c"))
    False
    """
    key = hashlib.sha256(" ".join((VERSION, platform.machine(), *flags)).encode()).hexdigest()[:12]
    return (cache or cache_root()) / "wheels" / f"{PACKAGE}-{VERSION}-{key}"


def cache_root() -> Path:
    """`$XDG_CACHE_HOME/medlab` (usually `~/.cache/medlab`): kept across clones and venvs."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "medlab"


def built_wheel(folder: Path) -> Path | None:
    """The wheel in `folder`, or None when there is none yet."""
    wheels = sorted(folder.glob("llama_cpp_python-*.whl"))
    return wheels[0] if wheels else None


def build_wheel(flags: tuple[str, ...], folder: Path) -> Path:
    """Compile llama-cpp-python from its source archive with `flags` into `folder`. pip's cache
    is bypassed both ways: a cached native wheel is not reused, and this one is not cached
    under a name that hides its flags."""
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    print(f"building {PACKAGE}=={VERSION} with {shlex.join(flags)} (about 4 minutes on 2 cores, once)", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-cache-dir",
                    "--no-binary", PACKAGE, "--wheel-dir", str(staging), f"{PACKAGE}=={VERSION}"],
                   env={**os.environ, "CMAKE_ARGS": shlex.join(flags), "FORCE_CMAKE": "1"}, check=True)
    (staging / FLAGS_FILE).write_text(shlex.join(flags) + "\n")  # for a person looking in the cache
    folder.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(folder, ignore_errors=True)
    staging.replace(folder)  # all or nothing: a half-built folder is never found
    return built_wheel(folder)


def install(flags: tuple[str, ...] | None = None) -> Path:
    """The wheel for `flags` (built when the cache has none), installed in place of whatever
    llama-cpp-python this environment had."""
    flags = build_flags() if flags is None else flags
    folder = wheel_dir(flags)
    wheel = built_wheel(folder) or build_wheel(flags, folder)
    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--no-deps", "--force-reinstall", str(wheel)], check=True)  # replaces a native build
    subprocess.run([*pip, str(wheel)], check=True)  # then its dependencies, leaving the others alone
    record_flags(flags)
    print(f"{PACKAGE} {VERSION} installed from {wheel}")
    return wheel


def installed_record() -> Path:
    """Where the installed distribution keeps the course's record of its build flags: inside its
    `.dist-info` folder, so the record goes when the package is uninstalled or replaced."""
    from importlib import metadata

    files = metadata.distribution(PACKAGE).files or []
    dist_info = next(f for f in files if f.name == "METADATA").locate().parent
    return Path(dist_info) / FLAGS_FILE


def record_flags(flags: tuple[str, ...]) -> None:
    """Note `flags` beside the installed distribution, where `installed_flags` reads them."""
    installed_record().write_text(shlex.join(flags) + "\n")


def ensure_installed() -> None:
    """Build and install the course's llama.cpp unless this environment has it already, with these
    flags: a no-op after `make setup`; on a fresh Colab machine, notebook 09's first use builds it
    (about 4 minutes on 2 cores)."""
    if installed_flags() != build_flags():
        install()


# ---- checks ------------------------------------------------------------------------------------

def cpu_libraries() -> list[Path]:
    """The installed llama.cpp libraries that hold CPU kernels (`libggml-cpu*`, or `libggml*` and
    `libllama*` in builds that link them together)."""
    import importlib.util

    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"{PACKAGE} is not installed: run `python -m medlab.llama_build`")
    lib = Path(spec.origin).parent / "lib"
    found = sorted(lib.glob("libggml-cpu*")) or sorted(lib.glob("libggml*")) + sorted(lib.glob("libllama*"))
    by_content = {hashlib.sha256(path.read_bytes()).digest(): path for path in reversed(found) if path.is_file()}
    return sorted(by_content.values())  # a wheel stores libx.so, libx.so.0 and libx.so.0.1 as three copies


def non_portable_instructions(library: Path) -> list[str]:
    """What in `library`'s machine code needs more than `PORTABLE_FLAGS` promise: AMX tile
    instructions by name, and AVX-512 as "zmm registers". Empty for the course's build; read
    with objdump.

    >>> non_portable_instructions(Path(sys.executable))
    []
    """
    objdump = shutil.which("objdump")
    if objdump is None:
        raise FileNotFoundError("objdump (binutils) is needed to read the library's instructions: "
                                "apt-get install binutils")
    listing = subprocess.run([objdump, "-d", "--no-show-raw-insn", str(library)], capture_output=True, text=True,
                             check=True).stdout
    found = {match.group(1) for match in re.finditer(r"\s(" + "|".join(AMX_MNEMONICS) + r")\w*\s", listing)}
    if "%zmm" in listing:
        found.add("zmm registers (AVX-512)")
    return sorted(found)


def installed_flags() -> tuple[str, ...] | None:
    """The flags the installed llama-cpp-python was built with, when `install` put it there; None
    for any other build (pip's own, native) or when it is not installed."""
    from importlib import metadata

    try:
        record = installed_record()
    except (metadata.PackageNotFoundError, StopIteration):
        return None
    return tuple(shlex.split(record.read_text())) if record.is_file() else None


def build_description() -> str:
    """The installed build's flags, or that they are unknown (a build this module did not make)."""
    flags = installed_flags()
    return shlex.join(flags) if flags else "flags unknown (not built by medlab.llama_build: native or pip's default)"


def system_info() -> str:
    """llama.cpp's own line of the CPU features it uses (`AVX2 = 1 | ...`): put it in a crash
    report."""
    import llama_cpp

    return llama_cpp.llama_print_system_info().decode().strip()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="check the installed build instead of installing")
    args = parser.parse_args(argv)
    if not args.check:
        install()
        return
    print(f"built with: {build_description()}")
    for library in cpu_libraries():
        found = non_portable_instructions(library)
        print(f"{library.name}: {'NOT PORTABLE: ' + ', '.join(found) if found else 'portable (no AVX-512, no AMX)'}")
    print(system_info())


if __name__ == "__main__":
    main()
