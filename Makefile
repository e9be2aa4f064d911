# Quickstart: `make lab` opens the workbook, `make test` runs every test and notebook.
# Both create .venv on first use. Python 3.11 is what CI uses.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# PyTorch comes from tools/install_torch.sh: without an NVIDIA GPU, the CPU build from PyTorch's
# own index (the package index's Linux torch is the CUDA build with GBs of nvidia packages).
# Another build: `make lab TORCH="torch==2.x.y" TORCH_INDEX=https://download.pytorch.org/whl/cu128`.
# llama-cpp-python compiles llama.cpp; its multimodal library (LLAVA_BUILD) is never used here,
# and leaving it out saves about a quarter of the compile.
export TORCH ?= torch==2.13.0

.PHONY: lab test test-slow colab-sim browser notebooks notebooks-sync site student student-test wheelhouse

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	sh tools/install_torch.sh $(BIN)/pip
	@echo "Installing solar-lab and its tools (the first time compiles llama.cpp: about 4 minutes on 2 cores)..."
	CMAKE_ARGS="$$CMAKE_ARGS -DLLAVA_BUILD=OFF" $(BIN)/pip install -e ".[dev]"
	touch $@

lab: $(VENV)/.installed
	$(BIN)/jupyter lab notebooks

test: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(BIN)/pytest

# The checks marked slow (whole tool runs, rebuilds of shipped files): CI runs them after `make test`.
test-slow: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(BIN)/pytest -m slow tests

# Run every notebook the way its Colab badge does: Colab's packages plus only what its first cell installs.
colab-sim: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(BIN)/python tools/colab_sim.py notebooks/*.ipynb

# Chromium and chromedriver from the system's packages (apt-get, as root or with sudo), unless present.
browser:
	sh tools/install_browser.sh

# Re-run every notebook in place so the committed outputs come from the committed code,
# then write the student edition from them.
# Each plotly figure also gets a PNG drawn by kaleido with Chromium, hence the browser.
notebooks: browser $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(BIN)/python tools/notebooks.py run notebooks/*.ipynb
	$(BIN)/python tools/student.py notebooks/*.ipynb

# Rewrite Colab badges and install cells from solar_lab/project.py, in both editions.
notebooks-sync: $(VENV)/.installed
	$(BIN)/python tools/notebooks.py sync notebooks/*.ipynb
	$(BIN)/python tools/student.py notebooks/*.ipynb

# The student edition in notebooks/student: solution cells replaced by stubs, badges pointing there.
student: $(VENV)/.installed
	$(BIN)/python tools/student.py notebooks/*.ipynb

# Run the student edition with its exercises unsolved: every check says "not yet", none raises.
student-test: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(BIN)/pytest -o addopts="--nbval-lax --nbval-current-env --nbval-cell-timeout=300 -p no:cacheprovider" notebooks/student

# Wheels of everything `make lab` installs, in wheelhouse/, for an offline classroom; prints the install command.
wheelhouse:
	sh tools/wheelhouse.sh

# The course site in build/site (publish that folder): a landing page and one page per notebook,
# from the outputs the notebooks store; nothing runs, and the pages need no network.
site: $(VENV)/.installed
	$(BIN)/python tools/site.py
