"""Run notebooks the way their Colab badge does, on this machine.

Each notebook gets a fresh environment that holds Colab's preinstalled packages
(``tools/colab_runtime.txt``, installed once into a shared base) and a stand-in
``google.colab`` module, and nothing of solar-lab: the notebook's own first cell installs
what it asks for, with its ``git+https://github.com/...`` address pointed at this checkout
(``git+file://``, so only committed files are installed, as from GitHub). The kernel
starts with ``google.colab`` imported and ``COLAB_RELEASE_TAG`` set, as on Colab. There is
no GPU here, so the notebooks take their CPU paths. A last check installs solar-lab alone
(no extras) and runs the ``solar-lab`` command the way a core install must work.

    python tools/colab_sim.py notebooks/*.ipynb

What still differs from Colab: this machine's Python (3.11, not 3.13), the CPU build of
torch, and no hub (HF_HUB_OFFLINE=1, as in every CI run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from solar_lab.project import BRANCH, repository_url

ROOT = Path(__file__).resolve().parents[1]

WORK = ROOT / "runs" / "colab-sim"
RUNTIME_PACKAGES = ROOT / "tools" / "colab_runtime.txt"
LOCAL_SOURCE = f"git+file://{ROOT}"
KERNEL_START = "import google.colab; from ipykernel import kernelapp; kernelapp.launch_new_instance()"
STAND_IN = '"""A stand-in for Colab\'s own module: notebooks test ``"google.colab" in sys.modules``."""\n'


def site_packages(env: Path) -> Path:
    """The site-packages folder of the virtual environment ``env``."""
    return env / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def run(command: list[str], **options: object) -> None:
    """Run a command; stop the simulation with its output when it fails."""
    result = subprocess.run(command, capture_output=True, text=True, **options)
    if result.returncode != 0:
        sys.exit(f"colab-sim: {' '.join(map(str, command))} failed:\n{result.stdout}{result.stderr}")


def make_base(base: Path) -> None:
    """The shared layer: Colab's packages, torch (CPU build) and the ``google.colab`` stand-in."""
    shutil.rmtree(base, ignore_errors=True)
    run([sys.executable, "-m", "venv", str(base)])
    pip = str(base / "bin" / "pip")
    run([pip, "install", "--quiet", "--upgrade", "pip"])
    run(["sh", str(ROOT / "tools" / "install_torch.sh"), pip], env={**os.environ, "TORCH": f"torch=={torch_release()}"})
    run([pip, "install", "--quiet", "-r", str(RUNTIME_PACKAGES)])
    stand_in = base / "stand-in" / "google" / "colab"
    stand_in.mkdir(parents=True)
    (stand_in / "__init__.py").write_text(STAND_IN)
    (site_packages(base) / "colab_stand_in.pth").write_text(f"{base / 'stand-in'}\n")


def torch_release() -> str:
    """The torch release this checkout's own environment runs (without a local tag like +cpu)."""
    from importlib.metadata import version

    return version("torch").split("+")[0]


def make_env(base: Path, env: Path) -> Path:
    """A fresh environment on top of ``base``: it sees base's packages, and installs into itself."""
    shutil.rmtree(env, ignore_errors=True)
    run([sys.executable, "-m", "venv", "--without-pip", str(env)])
    (site_packages(env) / "colab_base.pth").write_text(f"import site; site.addsitedir({str(site_packages(base))!r})\n")
    return env / "bin" / "python"


def kernel_spec(folder: Path, name: str, python: Path) -> None:
    """A Jupyter kernel that starts as Colab's does: ``google.colab`` imported, COLAB_RELEASE_TAG set."""
    spec = folder / "kernels" / name
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-c", KERNEL_START, "-f", "{connection_file}"],
        "display_name": f"Colab simulation ({name})",
        "language": "python",
        "env": {"COLAB_RELEASE_TAG": "colab-sim", "PYDEVD_DISABLE_FILE_VALIDATION": "1"},
    }))


def pointed_at_checkout(notebook: nbformat.NotebookNode, path: Path) -> nbformat.NotebookNode:
    """The notebook with its Colab install address replaced by this checkout's."""
    github = f"git+{repository_url()}@{BRANCH}"
    setup = next(cell for cell in notebook.cells if cell.cell_type == "code")
    if github not in setup.source:
        sys.exit(f"colab-sim: {path.name}'s first code cell does not install {github}; run `make notebooks-sync`")
    setup.source = setup.source.replace(github, LOCAL_SOURCE)
    return notebook


def run_notebook(path: Path, base: Path, timeout: int) -> float:
    """Execute one notebook in its own fresh environment; returns seconds taken."""
    name = path.stem
    python = make_env(base, WORK / name)
    kernel_spec(WORK, name, python)
    notebook = pointed_at_checkout(nbformat.read(path, as_version=4), path)
    start = time.perf_counter()
    client = NotebookClient(notebook, timeout=timeout, kernel_name=name, resources={"metadata": {"path": str(WORK)}})
    try:
        client.execute()
    finally:
        nbformat.write(notebook, WORK / path.name)
    return time.perf_counter() - start


def check_core_command(base: Path) -> None:
    """With solar-lab alone (no extras): ``--help`` and ``upscale`` work, the GGUF commands say what to install."""
    python = make_env(base, WORK / "core")
    run([str(python), "-m", "pip", "install", "--quiet", f"solar-lab @ {LOCAL_SOURCE}"])
    command = str(WORK / "core" / "bin" / "solar-lab")
    run([command, "--help"])
    checkpoint, out = WORK / "core-checkpoint", WORK / "core-upscaled"
    shutil.rmtree(out, ignore_errors=True)
    run([str(python), "-c", (
        "import sys, torch; from transformers import LlamaConfig, LlamaForCausalLM; torch.manual_seed(1); "
        "LlamaForCausalLM(LlamaConfig(vocab_size=96, hidden_size=48, intermediate_size=96, num_hidden_layers=6, "
        "num_attention_heads=6, num_key_value_heads=3)).save_pretrained(sys.argv[1])"), str(checkpoint)])
    run([command, "upscale", str(checkpoint), str(out), "--drop", "1", "--quiet"])
    layers = json.loads((out / "config.json").read_text())["num_hidden_layers"]
    if layers != 10:
        sys.exit(f"colab-sim: upscale of 6 layers with --drop 1 gave {layers} layers, not 10")
    result = subprocess.run([command, "export-gguf", str(checkpoint), str(WORK / "core.gguf")], capture_output=True, text=True)
    lines = result.stderr.strip().splitlines()
    if result.returncode != 2 or len(lines) != 1 or 'pip install "solar-lab[gguf]"' not in lines[0]:
        sys.exit(f"colab-sim: export-gguf without the gguf extra should exit 2 with one line naming "
                 f'pip install "solar-lab[gguf]"; it exited {result.returncode} with:\n{result.stderr}')
    print("core install: solar-lab --help and upscale work; export-gguf says to install solar-lab[gguf]", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", type=Path, help="notebooks to run")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args()
    if subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"], capture_output=True, text=True).stdout.strip():
        print("colab-sim: note: uncommitted changes are not installed; the notebooks install the last commit", flush=True)
    WORK.mkdir(parents=True, exist_ok=True)
    os.environ["JUPYTER_PATH"] = str(WORK)
    start = time.perf_counter()
    base = WORK / "base"
    make_base(base)
    print(f"Colab's packages installed in {time.perf_counter() - start:.0f} s", flush=True)
    failed = []
    for path in args.paths:
        try:
            print(f"{path.name}: ran in {run_notebook(path, base, args.timeout):.1f} s", flush=True)
        except CellExecutionError as error:
            failed.append(path.name)
            print(f"{path.name}: FAILED (executed copy in {WORK / path.name})\n{error}", flush=True)
    check_core_command(base)
    print(f"Colab simulation finished in {time.perf_counter() - start:.0f} s", flush=True)
    if failed:
        print(f"{len(failed)} failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
