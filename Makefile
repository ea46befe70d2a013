# Two commands matter: `make demo` and `make test`. Both set up .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch: on this machine it lies on disk; elsewhere pip fetches the same release.
TORCH_SPEC ?= torch==2.13.0
HOME_DIR ?= .home/demo

.PHONY: setup demo test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

demo: setup
	$(BIN)/rewardflow demo --home $(HOME_DIR)

test: setup
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup
	$(BIN)/python -m pip install -q -e ".[dev,bench]"
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/bench_vs_trl.py

clean:
	rm -rf $(VENV) .home outputs
