"""Install llama-cpp-python on Colab from a prebuilt wheel, with CUDA when there is a GPU.

The package on PyPI is source only: a plain ``pip install llama-cpp-python`` compiles
llama.cpp, about 5-6 minutes for the CPU on Colab's 2 cores and 10-20 minutes with CUDA on
a T4. llama-cpp-python also publishes wheels, one index per build
(``https://abetlen.github.io/llama-cpp-python/whl/cpu``, ``.../cu118``, ``.../cu121`` to
``.../cu125``, ``.../cu130``, ``.../cu132``). On Colab this module installs from exactly one
of them with ``--index-url`` (so PyPI's source package cannot be taken instead): with a GPU
the CUDA index that matches the runtime's CUDA toolkit, without one the CPU index. It
compiles only when no wheel fits, can be fetched or installs, and says so (with the time
it will take) before it starts: ``CMAKE_ARGS="-DGGML_CUDA=on"`` on a GPU (the article's
``-DLLAMA_CUBLAS=on`` is an old name that current llama.cpp rejects). Off Colab it does
nothing: there the ``gguf`` extra of solar-lab installs llama-cpp-python.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from typing import Callable

from solar_lab.runtime import in_colab

WHEEL_INDEX = "https://abetlen.github.io/llama-cpp-python/whl/{tag}"
PUBLISHED_CUDA = ((11, 8), (12, 1), (12, 2), (12, 3), (12, 4), (12, 5), (13, 0), (13, 2))
"""CUDA versions that have a wheel index (cu118, cu121-cu125, cu130, cu132)."""
PACKAGE = "llama-cpp-python"
COMPANIONS = ("gguf>=0.10", "diskcache>=5.6.1", "jinja2>=2.11.3")
"""Installed beside the wheel: the GGUF writer, and llama-cpp-python's own pure-Python needs."""
CHECK_GPU = "import llama_cpp; print(llama_cpp.llama_supports_gpu_offload())"
NVCC = ("nvcc", "/usr/local/cuda/bin/nvcc")
"""Where the CUDA compiler is looked for: on the PATH, then CUDA's default install place."""
PIP_NETWORK = ("--timeout", "15", "--retries", "1")
"""A wheel index that stops answering halfway fails in seconds, not after pip's five retries."""
CPU_BUILD = "about 5-6 minutes on 2 cores (seconds if pip built it on this machine before)"
CUDA_BUILD = "about 10-20 minutes on a Colab T4"

Runner = Callable[..., subprocess.CompletedProcess]


def run_command(
    command: list[str], capture_output: bool = False, text: bool = False, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``subprocess.run``, except that output not captured is printed line by line as it comes.

    A notebook kernel does not always show what a child process writes (Colab's does not);
    going through ``print`` puts pip's progress on the page while it works.
    """
    if capture_output:
        return subprocess.run(command, capture_output=True, text=text, env=env)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as process:
        for line in process.stdout:
            print(line, end="", flush=True)
    return subprocess.CompletedProcess(command, process.returncode)


def index_unreachable(index: str, timeout: float = 5.0) -> str | None:
    """Why ``index``'s page for llama-cpp-python cannot be fetched, or None when it answers."""
    try:
        with urllib.request.urlopen(f"{index}/{PACKAGE}/", timeout=timeout):
            return None
    except OSError as error:
        return str(getattr(error, "reason", None) or error)


def parse_cuda_version(text: str) -> tuple[int, int] | None:
    """The CUDA version in ``nvcc --version`` ("release 12.8") or ``nvidia-smi`` ("CUDA Version: 13.0") output."""
    match = re.search(r"(?:release|CUDA Version:)\s*(\d+)\.(\d+)", text)
    return (int(match[1]), int(match[2])) if match else None


def version_text(cuda: tuple[int, int] | None) -> str:
    """``(12, 8)`` as ``"12.8"``; ``"unknown"`` for None."""
    return f"{cuda[0]}.{cuda[1]}" if cuda else "unknown"


def wheel_index(cuda: tuple[int, int] | None) -> str | None:
    """The CUDA wheel index for a CUDA toolkit version, or None when a source build is needed.

    A CUDA build runs on a newer toolkit of the same major version (minor-version
    compatibility), never on an older one: the newest published index not newer than
    ``cuda`` within its major version wins (12.8 -> cu125, 13.1 -> cu130, 12.0 -> None).
    """
    usable = [published for published in PUBLISHED_CUDA if cuda and published[0] == cuda[0] and published <= cuda]
    return WHEEL_INDEX.format(tag=f"cu{usable[-1][0]}{usable[-1][1]}") if usable else None


def companions_command() -> list[str]:
    """pip, installing the packages that come with llama-cpp-python (all pure Python)."""
    return [sys.executable, "-m", "pip", "install", "--quiet", *COMPANIONS]


def wheel_command(index: str) -> list[str]:
    """pip, taking llama-cpp-python as a wheel from ``index`` and nowhere else (never compiling it)."""
    return [sys.executable, "-m", "pip", "install", "--force-reinstall", "--no-deps", f"--only-binary={PACKAGE}",
            "--index-url", index, *PIP_NETWORK, PACKAGE]


def source_command(cuda: bool) -> list[str]:
    """pip, compiling llama-cpp-python from PyPI's source, verbose so the compile shows its progress.

    A CUDA build bypasses pip's cache, where a CPU build may wait; a CPU build reuses a
    wheel pip already built on this machine.
    """
    cache = ["--no-cache-dir"] if cuda else []
    return [sys.executable, "-m", "pip", "install", "-v", "--force-reinstall", "--no-deps", *cache,
            f"--no-binary={PACKAGE}", PACKAGE]


def source_env(compute_capability: str | None) -> dict[str, str]:
    """Build settings for a CUDA compile: ``-DGGML_CUDA=on``, only for this GPU's architecture when known."""
    arguments = "-DGGML_CUDA=on"
    if compute_capability:
        arguments += f" -DCMAKE_CUDA_ARCHITECTURES={compute_capability.replace('.', '')}"
    return {**os.environ, "CMAKE_ARGS": arguments}


def query(command: list[str], run: Runner) -> str:
    """A command's output, or "" when it is missing or fails."""
    try:
        result = run(command, capture_output=True, text=True)
    except OSError:
        return ""
    return result.stdout if result.returncode == 0 else ""


def runtime_cuda(run: Runner) -> tuple[tuple[int, int] | None, str]:
    """The CUDA version to install for, and where it was read.

    The toolkit's version (``nvcc --version``) is what a wheel's CUDA libraries must match.
    ``nvidia-smi``'s "CUDA Version" is the newest CUDA the driver could run (13.0 on Colab
    beside its 12.8 toolkit), so it is read only when there is no nvcc.
    """
    for nvcc in NVCC:
        cuda = parse_cuda_version(query([nvcc, "--version"], run))
        if cuda:
            return cuda, "nvcc"
    cuda = parse_cuda_version(query(["nvidia-smi"], run))
    return cuda, "nvidia-smi, the driver's newest CUDA, as no nvcc was found" if cuda else "neither nvcc nor nvidia-smi"


def installed_build(run: Runner) -> str | None:
    """``"cuda"`` or ``"cpu"`` for the llama-cpp-python a fresh interpreter imports, None when there is none."""
    result = run([sys.executable, "-c", CHECK_GPU], capture_output=True, text=True)
    if result.returncode != 0:
        return None
    return "cuda" if result.stdout.strip() == "True" else "cpu"


def from_wheel(index: str, build: str, run: Runner, unreachable: Callable[[str], str | None]) -> str | None:
    """Install the ``build`` ("cpu" or "cuda") wheel from ``index``: None when done, else why not."""
    why = unreachable(index)
    if why is not None:
        return f"the wheel index {index} cannot be reached ({why})"
    if run(wheel_command(index)).returncode == 0 and installed_build(run) == build:
        return None
    return f"the wheel from {index} did not install as a {build} build"


def install_cpu_llama(run: Runner, unreachable: Callable[[str], str | None]) -> str:
    """Install the CPU wheel, or compile for the CPU from PyPI's source when it cannot be had."""
    index = WHEEL_INDEX.format(tag="cpu")
    why = from_wheel(index, "cpu", run, unreachable)
    if why is None:
        return f"no GPU in this runtime: installed the CPU wheel from {index}"
    print(f"{why}; building llama-cpp-python from PyPI's source, {CPU_BUILD}", flush=True)
    if run(source_command(cuda=False)).returncode == 0 and installed_build(run) == "cpu":
        return "no GPU in this runtime: installed llama-cpp-python for the CPU from PyPI's source"
    return "could not install llama-cpp-python: see the pip messages above"


def install_cuda_llama(gpu: str, run: Runner, unreachable: Callable[[str], str | None]) -> str:
    """Install the CUDA wheel that matches the runtime's CUDA toolkit, else compile with ``-DGGML_CUDA=on``."""
    cuda, source = runtime_cuda(run)
    found = f"CUDA {version_text(cuda)} ({source})"
    index = wheel_index(cuda)
    why = f"no CUDA wheel index fits {found}" if index is None else from_wheel(index, "cuda", run, unreachable)
    if why is None:
        return f"installed the CUDA wheel from {index} for {found} on {gpu}"
    print(f"{why}; compiling llama-cpp-python with -DGGML_CUDA=on, {CUDA_BUILD}", flush=True)
    compute_capability = gpu.split(",")[-1].strip() if "," in gpu else None
    result = run(source_command(cuda=True), env=source_env(compute_capability))
    if result.returncode != 0 or installed_build(run) != "cuda":
        return "the CUDA build failed: see the pip messages above; the notebook will run on the CPU if llama_cpp imports"
    return f"compiled llama-cpp-python with -DGGML_CUDA=on for {found} on {gpu}"


def install_llama(run: Runner = run_command, unreachable: Callable[[str], str | None] = index_unreachable) -> str:
    """On Colab, install llama-cpp-python (CUDA when there is a GPU) and gguf; return one line saying what was done.

    Run it before anything imports ``llama_cpp``; restart the runtime afterwards if it had been imported.
    """
    if not in_colab():
        return "not on Colab: using the installed llama-cpp-python"
    gpu = query(["nvidia-smi", "--query-gpu=name,compute_cap", "--format=csv,noheader"], run).strip()
    build = installed_build(run)
    if build == "cuda" or (build == "cpu" and not gpu):
        return f"llama-cpp-python is already installed ({build} build)"
    run(companions_command())
    return install_cuda_llama(gpu, run, unreachable) if gpu else install_cpu_llama(run, unreachable)


@dataclass(frozen=True)
class InstallRoute:
    """What ``install_llama`` tries first on a GPU runtime whose CUDA toolkit has a given version."""

    cuda: tuple[int, int] | None
    index: str | None

    @property
    def method(self) -> str:
        if self.index is None:
            return "source build with CMAKE_ARGS=-DGGML_CUDA=on"
        return f"wheel from {self.index.rsplit('/', 1)[-1]}"


def install_route(cuda: tuple[int, int] | None) -> InstallRoute:
    """The install route for a CUDA toolkit version."""
    return InstallRoute(cuda, wheel_index(cuda))
