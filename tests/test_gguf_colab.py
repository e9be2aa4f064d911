"""Choosing how Colab gets llama-cpp-python (decision logic only; nothing is installed)."""

from __future__ import annotations

import subprocess

import pytest

from solar_lab import colab_gpu
from solar_lab.colab_gpu import install_llama, parse_cuda_version, plan_for, source_env, wheel_index

NVCC = "nvcc: NVIDIA (R) Cuda compiler driver\nCuda compilation tools, release 12.5, V12.5.82\n"
SMI = "| NVIDIA-SMI 550.54.15   Driver Version: 550.54.15   CUDA Version: 12.4     |"


def test_parse_cuda_version():
    assert parse_cuda_version(NVCC) == (12, 5)
    assert parse_cuda_version(SMI) == (12, 4)
    assert parse_cuda_version("command not found") is None


@pytest.mark.parametrize("cuda, tag", [
    ((12, 1), "cu121"), ((12, 4), "cu124"), ((12, 5), "cu124"), ((12, 8), "cu124"),
    ((12, 0), None), ((11, 8), None), ((13, 0), None), (None, None),
])
def test_wheel_index_per_cuda_version(cuda, tag):
    expected = None if tag is None else f"https://abetlen.github.io/llama-cpp-python/whl/{tag}"
    assert wheel_index(cuda) == expected
    assert plan_for(cuda).method == ("prebuilt wheel" if tag else "source build with CMAKE_ARGS=-DGGML_CUDA=on")


def test_source_build_uses_the_current_flag():
    assert source_env("7.5")["CMAKE_ARGS"] == "-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=75"
    assert "LLAMA_CUBLAS" not in source_env(None)["CMAKE_ARGS"]


class FakeColab:
    """Records commands and answers them like a Colab runtime would (``installed``: None, "cpu" or "cuda")."""

    def __init__(self, gpu: str = "Tesla T4, 7.5", wheel_ok: bool = True, installed: str | None = None):
        self.gpu, self.wheel_ok, self.installed, self.commands = gpu, wheel_ok, installed, []

    def __call__(self, command, capture_output=False, text=False, env=None):
        self.commands.append((command, env))
        if command[0] == "nvidia-smi":
            out = self.gpu if "--query-gpu=name,compute_cap" in command else SMI
        elif command[0] == "nvcc":
            out = NVCC
        elif "-c" in command:
            if self.installed is None:
                return subprocess.CompletedProcess(command, 1, "", "ModuleNotFoundError: No module named 'llama_cpp'")
            out = str(self.installed == "cuda")
        elif "llama-cpp-python" not in command:
            return subprocess.CompletedProcess(command, 0, "", "")
        else:
            if "--only-binary=llama-cpp-python" in command and not self.wheel_ok:
                return subprocess.CompletedProcess(command, 1, "", "no matching wheel")
            cuda_wanted = "/cu" in " ".join(command) or (env or {}).get("CMAKE_ARGS", "").startswith("-DGGML_CUDA")
            self.installed = "cuda" if cuda_wanted else "cpu"
            return subprocess.CompletedProcess(command, 0, "", "")
        return subprocess.CompletedProcess(command, 0, out, "")

    def pip_commands(self):
        return [command for command, _ in self.commands if command[1:3] == ["-m", "pip"]]


@pytest.fixture
def colab(monkeypatch):
    monkeypatch.setattr(colab_gpu, "in_colab", lambda: True)
    monkeypatch.setattr(colab_gpu.shutil, "which", lambda name: f"/usr/bin/{name}")


def test_does_nothing_off_colab(monkeypatch):
    monkeypatch.setattr(colab_gpu, "in_colab", lambda: False)
    assert install_llama(run=lambda *a, **k: pytest.fail("ran a command")).startswith("not on Colab")


def test_prefers_the_prebuilt_cuda_wheel(colab):
    fake = FakeColab()
    assert "prebuilt CUDA wheel from https://abetlen.github.io/llama-cpp-python/whl/cu124" in install_llama(fake)
    assert fake.installed == "cuda"
    assert any("gguf>=0.10" in command for command in fake.pip_commands())


def test_compiles_with_cuda_when_no_wheel_installs(colab):
    fake = FakeColab(wheel_ok=False)
    message = install_llama(fake)
    builds = [env for command, env in fake.commands if env is not None]
    assert message.startswith("compiled llama-cpp-python with -DGGML_CUDA=on")
    assert builds[0]["CMAKE_ARGS"] == "-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=75"
    assert fake.installed == "cuda"


def test_replaces_a_cpu_build_when_there_is_a_gpu(colab):
    fake = FakeColab(installed="cpu")
    assert "prebuilt CUDA wheel" in install_llama(fake)
    assert fake.installed == "cuda"


def test_takes_the_cpu_wheel_without_a_gpu(colab):
    fake = FakeColab(gpu="")
    message = install_llama(fake)
    assert message == "no GPU in this runtime: installed the CPU wheel from https://abetlen.github.io/llama-cpp-python/whl/cpu"
    assert not any(env for _, env in fake.commands)
    assert fake.installed == "cpu"


def test_compiles_for_the_cpu_only_when_no_wheel_installs(colab):
    fake = FakeColab(gpu="", wheel_ok=False)
    assert install_llama(fake) == "no GPU in this runtime: compiled llama-cpp-python for the CPU"


def test_keeps_what_is_already_right(colab):
    for installed, gpu in (("cuda", "Tesla T4, 7.5"), ("cpu", "")):
        fake = FakeColab(gpu=gpu, installed=installed)
        assert install_llama(fake) == f"llama-cpp-python is already installed ({installed} build)"
        assert fake.pip_commands() == []


def test_a_failed_cuda_build_says_so(colab):
    class BrokenCompiler(FakeColab):
        def __call__(self, command, capture_output=False, text=False, env=None):
            if env is not None:
                return subprocess.CompletedProcess(command, 1, "", "nvcc fatal")
            return super().__call__(command, capture_output, text, env)

    assert install_llama(BrokenCompiler(wheel_ok=False)).startswith("the CUDA build failed")
