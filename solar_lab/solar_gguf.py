"""SOLAR-10.7B-Instruct's GGUF files: which one to fetch, whether it fits, and how fast it can possibly go.

Generating one token reads every weight once, so decoding speed is capped by memory
bandwidth / file size: a Colab T4 (320 GB/s) can not pass about 50 tokens/s on the
6.46 GB Q4_K_M file. ``plan_run`` takes the file the reader asked for (Q4_K_M unless told
otherwise) when it fits the GPU, checks that llama-cpp-python can offload to that GPU,
says what the download costs, downloads and checks it; without a GPU, without offload or
offline it falls back to a local (toy) file. Neither ``llama_cpp`` nor ``gguf`` is needed
to import this module.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from solar_lab.runtime import online

SOLAR_GGUF_REPO = "TheBloke/SOLAR-10.7B-Instruct-v1.0-GGUF"
LICENCE = "CC-BY-NC-4.0"
"""SOLAR-10.7B-Instruct-v1.0's licence (its model card): non-commercial use, with attribution."""
DEFAULT_QUANT = "Q4_K_M"
"""The file to fetch unless the reader picks another: TheBloke's recommended balance of size and quality."""
ASSUMED_DOWNLOAD_MB_S = 50.0
"""Download speed for the time estimate printed before a download: an assumption, not a measurement."""
GB = 1e9


@dataclass(frozen=True)
class QuantFile:
    """One file of the repository: size and the memory it needs without GPU offload (GB)."""

    quant: str
    size_gb: float
    max_ram_gb: float

    @property
    def filename(self) -> str:
        return f"solar-10.7b-instruct-v1.0.{self.quant}.gguf"


SOLAR_GGUF_FILES = tuple(
    QuantFile(quant, size, ram)
    for quant, size, ram in (
        ("Q2_K", 4.55, 7.05), ("Q3_K_S", 4.66, 7.16), ("Q3_K_M", 5.19, 7.69), ("Q3_K_L", 5.65, 8.15),
        ("Q4_0", 6.07, 8.57), ("Q4_K_S", 6.10, 8.60), ("Q4_K_M", 6.46, 8.96), ("Q5_0", 7.40, 9.90),
        ("Q5_K_S", 7.40, 9.90), ("Q5_K_M", 7.60, 10.10), ("Q6_K", 8.81, 11.31), ("Q8_0", 11.40, 13.90),
    )
)
"""TheBloke's table for SOLAR-10.7B-Instruct v1.0 (sizes in GB)."""

GPU_BANDWIDTH_GB_S = {"Tesla T4": 320.0, "NVIDIA L4": 300.0, "NVIDIA A100-SXM4-40GB": 1555.0}
"""Memory bandwidth of GPUs Colab hands out (vendor data sheets)."""


def bandwidth_bound(size_bytes: float, bandwidth_gb_s: float) -> float:
    """Most tokens/s a memory-bound decoder can reach: it reads the whole file once per token."""
    return bandwidth_gb_s * GB / size_bytes


def quant_file(quant: str) -> QuantFile:
    """The repository's file for ``quant`` (e.g. "Q4_K_M"); a ValueError naming the choices otherwise."""
    for file in SOLAR_GGUF_FILES:
        if file.quant == quant:
            return file
    raise ValueError(f"no SOLAR file {quant!r}; choose one of {', '.join(f.quant for f in SOLAR_GGUF_FILES)}")


def fits(file: QuantFile, memory_gb: float) -> bool:
    """Whether ``file``'s working memory (weights + context, ``max_ram_gb``) fits ``memory_gb``."""
    return file.max_ram_gb <= memory_gb


def pick_quant(memory_gb: float, quant: str = DEFAULT_QUANT) -> QuantFile | None:
    """``quant`` when it fits ``memory_gb``, else the largest smaller file that does; None when none fits."""
    wanted = quant_file(quant)
    if fits(wanted, memory_gb):
        return wanted
    smaller = [f for f in SOLAR_GGUF_FILES if f.size_gb < wanted.size_gb and fits(f, memory_gb)]
    return max(smaller, key=lambda f: f.size_gb) if smaller else None


def licence_note(repo: str = SOLAR_GGUF_REPO) -> str:
    """What the reader agrees to by downloading SOLAR-10.7B-Instruct."""
    return (f"SOLAR-10.7B-Instruct-v1.0 (these files: {repo}) is licensed {LICENCE}: "
            "non-commercial use only, with attribution")


def download_note(file: QuantFile, mb_per_second: float = ASSUMED_DOWNLOAD_MB_S) -> str:
    """The file's size and how long its download takes at ``mb_per_second`` (assumed, said so)."""
    minutes = file.size_gb * 1000 / mb_per_second / 60
    return (f"{file.filename}: {file.size_gb:.2f} GB, about {max(1, round(minutes))} min to download "
            f"at an assumed {mb_per_second:.0f} MB/s (the progress bar shows the real speed)")


def supports_gpu_offload() -> bool:
    """Whether the installed llama-cpp-python was built to put layers on a GPU (imported here, on demand)."""
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


@dataclass(frozen=True)
class Machine:
    """Memory to run in (GB) and, with a GPU, its name and memory."""

    ram_gb: float
    gpu: str | None = None
    vram_gb: float = 0.0


def this_machine() -> Machine:
    """RAM from the OS; GPU name and memory from torch when CUDA is visible."""
    import torch

    ram_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GB
    if not torch.cuda.is_available():
        return Machine(ram_gb)
    return Machine(ram_gb, torch.cuda.get_device_name(0), torch.cuda.mem_get_info()[1] / GB)


def measure_bandwidth_gb_s(megabytes: int = 256, repeats: int = 3) -> float:
    """This CPU's memory bandwidth from timing array copies (bytes read + written per second)."""
    source = np.ones(megabytes * 2**20, dtype=np.uint8)
    target = np.empty_like(source)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.copyto(target, source)
        best = min(best, time.perf_counter() - start)
    return 2 * source.nbytes / best / GB


class DownloadError(ConnectionError):
    """A download that failed or came back wrong; the message says what to do."""


def check_download(path: Path, expected: QuantFile) -> Path:
    """A downloaded file must have the table's size (2% slack for rounding) and a sound GGUF header."""
    size_gb = path.stat().st_size / GB
    if abs(size_gb - expected.size_gb) > 0.02 * expected.size_gb:
        raise DownloadError(
            f"{path} has {size_gb:.2f} GB, but {expected.filename} should have {expected.size_gb:.2f} GB; "
            "delete it and download again"
        )
    from solar_lab.gguf_file import check_gguf

    try:
        check_gguf(path)
    except ValueError as error:
        raise DownloadError(str(error)) from None
    return path


def download(
    file: QuantFile, repo: str = SOLAR_GGUF_REPO, endpoint: str | None = None, cache_dir: str | Path | None = None
) -> Path:
    """Fetch ``file`` from the hub (or ``endpoint``) with ``hf_hub_download`` and check it."""
    from huggingface_hub import hf_hub_download

    target = Path(cache_dir) if cache_dir else Path.home()
    target.mkdir(parents=True, exist_ok=True)
    if shutil.disk_usage(target).free < file.size_gb * GB:
        raise DownloadError(f"not enough disk space for {file.filename} ({file.size_gb} GB); free some and retry")
    try:
        path = hf_hub_download(repo, filename=file.filename, endpoint=endpoint, cache_dir=cache_dir)
    except Exception as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DownloadError(
            f"could not download {file.filename} from {repo} ({type(error).__name__}: {reason}); "
            "check the network and that HF_HUB_OFFLINE is not set, then run the cell again"
        ) from None
    return check_download(Path(path), file)


@dataclass(frozen=True)
class RunPlan:
    """What to load, with how many GPU layers, and the fastest decoding it allows."""

    path: Path
    label: str
    n_gpu_layers: int
    bandwidth_gb_s: float
    bound_tokens_per_second: float
    reason: str


def plan_run(
    fallback: str | Path,
    quant: str = DEFAULT_QUANT,
    machine: Machine | None = None,
    is_online: Callable[[], bool] = online,
    can_offload: Callable[[], bool] = supports_gpu_offload,
    fetch: Callable[[QuantFile], Path] = download,
    say: Callable[[str], None] = print,
) -> RunPlan:
    """Fetch and check SOLAR's ``quant`` file (a smaller one if it does not fit the GPU), offloading every layer.

    Before downloading it checks that llama-cpp-python can offload to the GPU and ``say``s
    the licence, the file's size and the expected download time. Without a GPU, without
    offload, offline, or when nothing fits, the plan runs ``fallback`` (a local GGUF) on
    the CPU, with the bound from this CPU's measured bandwidth.
    """
    from solar_lab.gguf_file import check_gguf

    wanted = quant_file(quant)
    machine = machine or this_machine()
    choice = pick_quant(machine.vram_gb, quant) if machine.gpu else None
    if not machine.gpu:
        why = "no GPU"
    elif choice is None:
        why = f"no SOLAR file fits the {machine.vram_gb:.1f} GB of the {machine.gpu}"
    elif not can_offload():
        why = ("this llama-cpp-python was built without GPU offload (run colab_gpu.install_llama(), "
               "then restart the runtime)")
    elif not is_online():
        why = "offline"
    else:
        if choice != wanted:
            say(f"{wanted.quant} needs {wanted.max_ram_gb} GB, more than the {machine.vram_gb:.1f} GB "
                f"of the {machine.gpu}: taking {choice.quant} instead")
        say(licence_note())
        say(download_note(choice))
        start = time.perf_counter()
        path = fetch(choice)
        seconds = time.perf_counter() - start
        rate = f" ({choice.size_gb * 1000 / seconds:.0f} MB/s measured)" if seconds >= 1 else " (already in the cache)"
        say(f"{path.name} ready after {seconds:.0f} s{rate}")
        bandwidth = GPU_BANDWIDTH_GB_S.get(machine.gpu, 0.0)
        return RunPlan(
            path=path,
            label=f"SOLAR-10.7B-Instruct {choice.quant}",
            n_gpu_layers=-1,
            bandwidth_gb_s=bandwidth,
            bound_tokens_per_second=bandwidth_bound(path.stat().st_size, bandwidth) if bandwidth else float("nan"),
            reason=f"the {machine.gpu} has {machine.vram_gb:.1f} GB; {choice.quant} needs {choice.max_ram_gb} GB",
        )
    fallback = Path(fallback)
    check_gguf(fallback)
    bandwidth = measure_bandwidth_gb_s()
    return RunPlan(
        path=fallback,
        label=f"local file {fallback.name}",
        n_gpu_layers=0,
        bandwidth_gb_s=bandwidth,
        bound_tokens_per_second=bandwidth_bound(fallback.stat().st_size, bandwidth),
        reason=f"{why}: running {fallback.name} on the CPU",
    )
