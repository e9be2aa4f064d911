"""Where a notebook is running: Colab or local, GPU or CPU, online or offline."""

from __future__ import annotations

import os
import platform
import random
import socket
import sys
from dataclasses import dataclass
from importlib import metadata

KEY_PACKAGES = ("torch", "transformers", "safetensors", "plotly", "solar-lab")
HUB_HOST = "huggingface.co"


def in_colab() -> bool:
    """True inside a Google Colab runtime."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def device() -> str:
    """The torch device to compute on: ``"cuda"`` when a GPU is visible, else ``"cpu"``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def online(host: str = HUB_HOST, timeout: float = 2.0) -> bool:
    """True when ``host`` answers on port 443; always False when ``HF_HUB_OFFLINE`` is set."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def package_version(name: str) -> str:
    """The installed version of ``name``, or ``"not installed"``."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


@dataclass(frozen=True)
class Runtime:
    """A snapshot of where the code runs."""

    colab: bool
    device: str
    online: bool
    python: str
    versions: dict[str, str]

    def __str__(self) -> str:
        place = "Colab" if self.colab else "local"
        network = "online" if self.online else "offline"
        packages = ", ".join(f"{name} {version}" for name, version in self.versions.items())
        return (
            f"{place}, {self.device}, {network}, Python {self.python}\n{packages}"
        )


def describe(packages: tuple[str, ...] = KEY_PACKAGES) -> Runtime:
    """Look at the runtime once: place, device, network and package versions."""
    return Runtime(
        colab=in_colab(),
        device=device(),
        online=online(),
        python=platform.python_version(),
        versions={name: package_version(name) for name in packages},
    )


def seed_everything(seed: int) -> None:
    """Fix the seeds of Python, NumPy and torch so a run's numbers reproduce."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup(packages: tuple[str, ...] = KEY_PACKAGES, seed: int = 0) -> Runtime:
    """First call of every notebook: fix seeds, choose plotly's renderer, print the runtime.

    transformers' weight-loading bars are switched off: they say nothing a student needs and
    would make outputs differ from run to run.
    """
    import plotly.io as pio
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    seed_everything(seed)
    pio.renderers.default = "colab" if in_colab() else "plotly_mimetype+notebook_connected"
    runtime = describe(packages)
    print(runtime)
    return runtime
