"""Choosing how Colab gets llama-cpp-python (decision logic, with fake pip runs; nothing is installed)."""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
import time

import pytest

from solar_lab import colab_gpu
from solar_lab.colab_gpu import (
    index_unreachable, install_llama, install_route, parse_cuda_version, run_command, runtime_cuda, source_env,
    wheel_index,
)

WHEELS = "https://abetlen.github.io/llama-cpp-python/whl"
NVCC = "nvcc: NVIDIA (R) Cuda compiler driver\nCuda compilation tools, release 12.8, V12.8.93\n"
SMI = "| NVIDIA-SMI 580.82.07   Driver Version: 580.82.07   CUDA Version: 13.0     |"
"""Colab, Aug 2026: toolkit 12.8, driver 580 (whose newest CUDA is 13.0)."""


def test_parse_cuda_version():
    assert parse_cuda_version(NVCC) == (12, 8)
    assert parse_cuda_version(SMI) == (13, 0)
    assert parse_cuda_version("command not found") is None


@pytest.mark.parametrize("cuda, tag", [
    ((12, 8), "cu125"), ((13, 0), "cu130"), ((13, 1), "cu130"), ((13, 2), "cu132"), ((13, 9), "cu132"),
    ((11, 8), "cu118"), ((12, 1), "cu121"), ((12, 4), "cu124"), ((12, 5), "cu125"),
    ((12, 0), None), ((11, 7), None), ((14, 0), None), (None, None),
])
def test_wheel_index_is_the_newest_published_not_newer_than_the_toolkit(cuda, tag):
    assert wheel_index(cuda) == (None if tag is None else f"{WHEELS}/{tag}")
    assert install_route(cuda).method == (f"wheel from {tag}" if tag else "source build with CMAKE_ARGS=-DGGML_CUDA=on")


def test_source_build_uses_the_current_flag():
    assert source_env("7.5")["CMAKE_ARGS"] == "-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=75"
    assert "LLAMA_CUBLAS" not in source_env(None)["CMAKE_ARGS"]


class FakeColab:
    """Records commands and answers them like a Colab runtime would.

    ``installed``: None, "cpu" or "cuda"; ``tools``: the commands on the PATH;
    ``on_build``: called when a source build starts (to look at what was printed before it).
    """

    def __init__(self, gpu: str = "Tesla T4, 7.5", wheel_ok: bool = True, installed: str | None = None,
                 tools: tuple[str, ...] = ("nvcc", "nvidia-smi"), on_build=lambda: None):
        self.gpu, self.wheel_ok, self.installed, self.tools, self.on_build = gpu, wheel_ok, installed, tools, on_build
        self.commands = []

    def __call__(self, command, capture_output=False, text=False, env=None):
        self.commands.append((command, env))
        if command[0] not in self.tools and command[0] != sys.executable:
            raise FileNotFoundError(command[0])
        if command[0] == "nvidia-smi":
            out = self.gpu if "--query-gpu=name,compute_cap" in command else SMI
        elif command[0].endswith("nvcc"):
            out = NVCC
        elif "-c" in command:
            if self.installed is None:
                return subprocess.CompletedProcess(command, 1, "", "ModuleNotFoundError: No module named 'llama_cpp'")
            out = str(self.installed == "cuda")
        elif "llama-cpp-python" not in command:
            return subprocess.CompletedProcess(command, 0, "", "")
        elif "--only-binary=llama-cpp-python" in command:
            if not self.wheel_ok:
                return subprocess.CompletedProcess(command, 1, "", "no matching wheel")
            self.installed = "cpu" if command[command.index("--index-url") + 1].endswith("/cpu") else "cuda"
            return subprocess.CompletedProcess(command, 0, "", "")
        else:
            self.on_build()
            self.installed = "cuda" if (env or {}).get("CMAKE_ARGS", "").startswith("-DGGML_CUDA") else "cpu"
            return subprocess.CompletedProcess(command, 0, "", "")
        return subprocess.CompletedProcess(command, 0, out, "")

    def pip_commands(self):
        return [command for command, _ in self.commands if command[1:3] == ["-m", "pip"]]

    def installs(self):
        """The pip commands that install llama-cpp-python (not its companions)."""
        return [command for command in self.pip_commands() if "llama-cpp-python" in command]


def reachable(index):
    return None


def unreachable(index):
    return "[Errno -2] Name or service not known"


@pytest.fixture
def colab(monkeypatch):
    monkeypatch.setattr(colab_gpu, "in_colab", lambda: True)


def test_does_nothing_off_colab(monkeypatch):
    monkeypatch.setattr(colab_gpu, "in_colab", lambda: False)
    assert install_llama(run=lambda *a, **k: pytest.fail("ran a command")).startswith("not on Colab")


def test_the_toolkit_decides_not_the_driver(colab):
    assert runtime_cuda(FakeColab()) == ((12, 8), "nvcc")
    assert runtime_cuda(FakeColab(tools=("/usr/local/cuda/bin/nvcc", "nvidia-smi"))) == ((12, 8), "nvcc")
    cuda, source = runtime_cuda(FakeColab(tools=("nvidia-smi",)))
    assert cuda == (13, 0) and source.startswith("nvidia-smi, the driver's newest CUDA")
    assert runtime_cuda(FakeColab(tools=())) == (None, "neither nvcc nor nvidia-smi")


def test_colab_t4_takes_the_cu125_wheel_from_that_index_only(colab):
    fake = FakeColab()
    message = install_llama(fake, unreachable=reachable)
    assert message == f"installed the CUDA wheel from {WHEELS}/cu125 for CUDA 12.8 (nvcc) on Tesla T4, 7.5"
    [wheel] = fake.installs()
    assert wheel[wheel.index("--index-url") + 1] == f"{WHEELS}/cu125" and "--extra-index-url" not in wheel
    assert fake.installed == "cuda"
    assert any("gguf>=0.10" in command for command in fake.pip_commands())


def test_without_nvcc_the_driver_version_is_the_last_resort(colab):
    fake = FakeColab(tools=("nvidia-smi",))
    assert f"{WHEELS}/cu130 for CUDA 13.0 (nvidia-smi" in install_llama(fake, unreachable=reachable)


def test_compiles_with_cuda_when_no_wheel_installs(colab, capsys):
    printed_before_build = []
    fake = FakeColab(wheel_ok=False, on_build=lambda: printed_before_build.append(capsys.readouterr().out))
    message = install_llama(fake, unreachable=reachable)
    [build] = [(command, env) for command, env in fake.commands if env is not None]
    assert message == "compiled llama-cpp-python with -DGGML_CUDA=on for CUDA 12.8 (nvcc) on Tesla T4, 7.5"
    assert printed_before_build == [
        f"the wheel from {WHEELS}/cu125 did not install as a cuda build; "
        "compiling llama-cpp-python with -DGGML_CUDA=on, about 10-20 minutes on a Colab T4\n"
    ]
    assert build[1]["CMAKE_ARGS"] == "-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=75"
    assert "--no-cache-dir" in build[0] and "-v" in build[0] and "--quiet" not in build[0]
    assert fake.installed == "cuda"


def test_compiles_with_cuda_when_no_index_fits_or_answers(colab, capsys):
    fake = FakeColab()
    assert install_llama(fake, unreachable=unreachable).startswith("compiled llama-cpp-python with -DGGML_CUDA=on")
    assert capsys.readouterr().out.startswith(f"the wheel index {WHEELS}/cu125 cannot be reached")
    assert not any("--only-binary=llama-cpp-python" in command for command in fake.installs())

    class OldToolkit(FakeColab):
        def __call__(self, command, capture_output=False, text=False, env=None):
            if command[0] == "nvcc":
                return subprocess.CompletedProcess(command, 0, "Cuda compilation tools, release 12.0, V12.0.76", "")
            return super().__call__(command, capture_output, text, env)

    assert install_llama(OldToolkit(), unreachable=reachable).startswith("compiled")
    assert capsys.readouterr().out.startswith("no CUDA wheel index fits CUDA 12.0 (nvcc); compiling")


def test_replaces_a_cpu_build_when_there_is_a_gpu(colab):
    fake = FakeColab(installed="cpu")
    assert "installed the CUDA wheel" in install_llama(fake, unreachable=reachable)
    assert fake.installed == "cuda"


def test_takes_the_cpu_wheel_without_a_gpu(colab):
    fake = FakeColab(gpu="", tools=())
    message = install_llama(fake, unreachable=reachable)
    assert message == f"no GPU in this runtime: installed the CPU wheel from {WHEELS}/cpu"
    [wheel] = fake.installs()
    assert wheel[wheel.index("--index-url") + 1] == f"{WHEELS}/cpu"
    assert not any(env for _, env in fake.commands)
    assert fake.installed == "cpu"


def test_unreachable_cpu_index_builds_from_pypi_source_at_once(colab, capsys, monkeypatch):
    """The CI's Colab simulation: no GPU, the wheel index unreachable (a closed port on loopback here)."""
    monkeypatch.setattr(colab_gpu, "WHEEL_INDEX", "http://127.0.0.1:9/whl/{tag}")
    printed_before_build = []
    fake = FakeColab(gpu="", tools=(), on_build=lambda: printed_before_build.append(capsys.readouterr().out))
    start = time.perf_counter()
    message = install_llama(fake)
    assert time.perf_counter() - start < 5
    assert message == "no GPU in this runtime: installed llama-cpp-python for the CPU from PyPI's source"
    [said] = printed_before_build
    assert said.startswith("the wheel index http://127.0.0.1:9/whl/cpu cannot be reached (")
    assert said.endswith("); building llama-cpp-python from PyPI's source, about 5-6 minutes on 2 cores "
                         "(seconds if pip built it on this machine before)\n")
    assert said.count("\n") == 1
    [build] = fake.installs()
    assert "--no-binary=llama-cpp-python" in build and "--index-url" not in build
    assert "--no-cache-dir" not in build and "-v" in build
    assert fake.installed == "cpu"


def test_compiles_for_the_cpu_when_the_wheel_does_not_install(colab, capsys):
    fake = FakeColab(gpu="", tools=(), wheel_ok=False)
    assert install_llama(fake, unreachable=reachable).endswith("installed llama-cpp-python for the CPU from PyPI's source")
    assert capsys.readouterr().out.startswith(f"the wheel from {WHEELS}/cpu did not install as a cpu build; building")


def test_keeps_what_is_already_right(colab):
    for installed, gpu in (("cuda", "Tesla T4, 7.5"), ("cpu", "")):
        fake = FakeColab(gpu=gpu, installed=installed)
        assert install_llama(fake, unreachable=reachable) == f"llama-cpp-python is already installed ({installed} build)"
        assert fake.pip_commands() == []


def test_a_failed_cuda_build_says_so(colab):
    class BrokenCompiler(FakeColab):
        def __call__(self, command, capture_output=False, text=False, env=None):
            if env is not None:
                return subprocess.CompletedProcess(command, 1, "", "nvcc fatal")
            return super().__call__(command, capture_output, text, env)

    assert install_llama(BrokenCompiler(wheel_ok=False), unreachable=reachable).startswith("the CUDA build failed")


class Index(http.server.BaseHTTPRequestHandler):
    """A wheel index that lists llama-cpp-python and nothing else."""

    def do_GET(self):
        found = self.path == "/whl/cpu/llama-cpp-python/"
        self.send_response(200 if found else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_index_reachability_on_loopback():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/whl"
    try:
        assert index_unreachable(f"{base}/cpu") is None
        assert index_unreachable(f"{base}/cu999") == "Not Found"
        assert "refused" in index_unreachable("http://127.0.0.1:9/whl/cpu")
    finally:
        server.shutdown()
        server.server_close()


def test_run_command_passes_output_through_print(capsys):
    result = run_command([sys.executable, "-c", "import sys; print('compiling'); print('warning', file=sys.stderr)"])
    assert result.returncode == 0
    assert capsys.readouterr().out.splitlines() == ["compiling", "warning"]
    assert run_command([sys.executable, "-c", "raise SystemExit(3)"]).returncode == 3
    captured = run_command([sys.executable, "-c", "print('quiet')"], capture_output=True, text=True)
    assert captured.stdout == "quiet\n" and capsys.readouterr().out == ""
