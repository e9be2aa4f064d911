"""Install llama-cpp-python on Colab from a prebuilt wheel, with CUDA when there is a GPU.

The package on PyPI is source only: a plain ``pip install llama-cpp-python`` compiles
llama.cpp for the CPU, which takes minutes. llama-cpp-python also publishes wheels, one
index per build (``https://abetlen.github.io/llama-cpp-python/whl/cpu``, ``.../cu121`` ...
``.../cu124``). On Colab this module takes the CUDA wheel that matches the runtime's CUDA
when there is a GPU, the CPU wheel otherwise, and compiles only when no wheel installs:
with ``CMAKE_ARGS="-DGGML_CUDA=on"`` on a GPU (the article's ``-DLLAMA_CUBLAS=on`` is an
old name that current llama.cpp rejects). Off Colab it does nothing: there the ``gguf``
extra of solar-lab installs llama-cpp-python.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable

from solar_lab.runtime import in_colab

WHEEL_INDEX = "https://abetlen.github.io/llama-cpp-python/whl/{tag}"
PUBLISHED_CUDA = ((12, 1), (12, 2), (12, 3), (12, 4))
"""CUDA versions with a wheel index that answers (the README also names cu125, whose index is missing)."""
PACKAGE = "llama-cpp-python"
COMPANIONS = ("gguf>=0.10", "diskcache>=5.6.1", "jinja2>=2.11.3")
"""Installed beside the wheel: the GGUF writer, and llama-cpp-python's own pure-Python needs."""
CHECK_GPU = "import llama_cpp; print(llama_cpp.llama_supports_gpu_offload())"

Runner = Callable[..., subprocess.CompletedProcess]


def parse_cuda_version(text: str) -> tuple[int, int] | None:
    """The CUDA version in ``nvcc --version`` ("release 12.4") or ``nvidia-smi`` ("CUDA Version: 12.4") output."""
    match = re.search(r"(?:release|CUDA Version:)\s*(\d+)\.(\d+)", text)
    return (int(match[1]), int(match[2])) if match else None


def wheel_index(cuda: tuple[int, int] | None) -> str | None:
    """The CUDA wheel index for a CUDA version, or None when a source build is needed.

    CUDA 12 keeps minor-version compatibility, so a wheel built for 12.4 serves a newer 12.x.
    """
    if cuda is None or cuda[0] != 12 or cuda < PUBLISHED_CUDA[0]:
        return None
    tag = min(cuda, PUBLISHED_CUDA[-1])
    return WHEEL_INDEX.format(tag=f"cu{tag[0]}{tag[1]}")


def companions_command() -> list[str]:
    """pip, installing the packages that come with llama-cpp-python (all pure Python)."""
    return [sys.executable, "-m", "pip", "install", "--quiet", *COMPANIONS]


def wheel_command(index: str) -> list[str]:
    """pip, taking llama-cpp-python only as a wheel from ``index`` (never compiling it)."""
    return [sys.executable, "-m", "pip", "install", "--quiet", "--force-reinstall", "--no-deps",
            f"--only-binary={PACKAGE}", "--extra-index-url", index, PACKAGE]


def source_command() -> list[str]:
    """pip, compiling llama-cpp-python (run with ``source_env``)."""
    return [sys.executable, "-m", "pip", "install", "--quiet", "--force-reinstall", "--no-deps",
            "--no-cache-dir", f"--no-binary={PACKAGE}", PACKAGE]


def source_env(compute_capability: str | None) -> dict[str, str]:
    """Build settings for a CUDA compile: ``-DGGML_CUDA=on``, only for this GPU's architecture when known."""
    arguments = "-DGGML_CUDA=on"
    if compute_capability:
        arguments += f" -DCMAKE_CUDA_ARCHITECTURES={compute_capability.replace('.', '')}"
    return {**os.environ, "CMAKE_ARGS": arguments}


def query(command: list[str], run: Runner) -> str:
    """A command's output, or "" when it is missing or fails."""
    if shutil.which(command[0]) is None:
        return ""
    result = run(command, capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else ""


def installed_build(run: Runner) -> str | None:
    """``"cuda"`` or ``"cpu"`` for the llama-cpp-python a fresh interpreter imports, None when there is none."""
    result = run([sys.executable, "-c", CHECK_GPU], capture_output=True, text=True)
    if result.returncode != 0:
        return None
    return "cuda" if result.stdout.strip() == "True" else "cpu"


def install_cpu_llama(run: Runner) -> str:
    """Install the CPU wheel (or compile for the CPU when it will not install)."""
    index = WHEEL_INDEX.format(tag="cpu")
    if run(wheel_command(index)).returncode == 0 and installed_build(run) == "cpu":
        return f"no GPU in this runtime: installed the CPU wheel from {index}"
    if run(source_command()).returncode == 0 and installed_build(run) == "cpu":
        return "no GPU in this runtime: compiled llama-cpp-python for the CPU"
    return "could not install llama-cpp-python: see the pip messages above"


def install_cuda_llama(gpu: str, run: Runner) -> str:
    """Install the CUDA wheel that matches the runtime's CUDA, else compile with ``-DGGML_CUDA=on``."""
    cuda = parse_cuda_version(query(["nvcc", "--version"], run) or query(["nvidia-smi"], run))
    index = wheel_index(cuda)
    if index is not None and run(wheel_command(index)).returncode == 0 and installed_build(run) == "cuda":
        return f"installed a prebuilt CUDA wheel from {index} ({gpu})"
    compute_capability = gpu.split(",")[-1].strip() if "," in gpu else None
    result = run(source_command(), env=source_env(compute_capability))
    if result.returncode != 0 or installed_build(run) != "cuda":
        return "the CUDA build failed: see the pip messages above; the notebook will run on the CPU if llama_cpp imports"
    return f"compiled llama-cpp-python with -DGGML_CUDA=on for CUDA {cuda} ({gpu})"


def install_llama(run: Runner = subprocess.run) -> str:
    """On Colab, install llama-cpp-python (CUDA when there is a GPU) and gguf; return one line saying what was done.

    Run it before anything imports ``llama_cpp``; restart the kernel afterwards if it had been imported.
    """
    if not in_colab():
        return "not on Colab: using the installed llama-cpp-python"
    gpu = query(["nvidia-smi", "--query-gpu=name,compute_cap", "--format=csv,noheader"], run).strip()
    build = installed_build(run)
    if build == "cuda" or (build == "cpu" and not gpu):
        return f"llama-cpp-python is already installed ({build} build)"
    run(companions_command())
    return install_cuda_llama(gpu, run) if gpu else install_cpu_llama(run)


@dataclass(frozen=True)
class InstallPlan:
    """What ``install_llama`` would try first on a GPU runtime with a given CUDA version (shown in the notebook)."""

    cuda: tuple[int, int] | None
    index: str | None

    @property
    def method(self) -> str:
        return "prebuilt wheel" if self.index else "source build with CMAKE_ARGS=-DGGML_CUDA=on"


def plan_for(cuda: tuple[int, int] | None) -> InstallPlan:
    """The install route for a CUDA version."""
    return InstallPlan(cuda, wheel_index(cuda))
