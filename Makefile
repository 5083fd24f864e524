# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.citewire-installed
SAMPLE := data/sample
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False
export HF_HUB_OFFLINE := 1

.PHONY: run test unit lint install reader

install: $(STAMP)

# torch first, pinned: that takes the CPU wheel on disk; unpinned it would pull the CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/citewire ingest $(SAMPLE)
	$(BIN)/citewire list
	$(BIN)/citewire serve

test: $(STAMP)
	@command -v chromium >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q chromium; }
	$(BIN)/ruff check rag ingest ui eval tests bench
	$(BIN)/python -m pytest

# The fast layer alone: no model, no Chroma, no browser (seconds).
unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit -q

# Train the reader from the packaged MiniLM on ../shared/train (about 90 minutes on 2 cores) and
# install it in rag/reader/model/. The shipped model is already there: this is for retraining.
reader: $(STAMP)
	$(BIN)/python -m rag.reader.train --install

lint: $(STAMP)
	$(BIN)/ruff check rag ingest ui eval tests bench
