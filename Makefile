# Quickstart: `make lab` opens the workbook, `make test` runs every test and notebook.
# Both create .venv on first use. Python 3.11 is what CI uses.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch (a ~250 MB wheel); an unpinned torch may pull a multi-GB CUDA build.
TORCH ?= torch==2.13.0

.PHONY: lab test notebooks notebooks-sync

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	@echo "Installing solar-lab and its tools (the first time compiles llama.cpp: about 6 minutes on 2 cores)..."
	$(BIN)/pip install -e ".[dev]"
	touch $@

lab: $(VENV)/.installed
	$(BIN)/jupyter lab notebooks

test: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(BIN)/pytest

# Re-run every notebook in place so the committed outputs come from the committed code.
notebooks: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(BIN)/python tools/notebooks.py run notebooks/*.ipynb

# Rewrite Colab badges and install cells from solar_lab/project.py.
notebooks-sync: $(VENV)/.installed
	$(BIN)/python tools/notebooks.py sync notebooks/*.ipynb
