#!/usr/bin/env bash
# Install llama-cpp-python (with its OpenAI-compatible server) into the project venv.
#
# It has no prebuilt CPU wheel on PyPI and compiles llama.cpp from source (~5+ minutes on
# 2 cores), so the wheel is built once per machine into a cache and reused afterwards.
# The tests of the `openai` generation backend start `python -m llama_cpp.server` from it.
#
#   scripts/install_llama_cpp.sh            # uses .venv/bin/python
#   PYTHON=/path/to/python scripts/install_llama_cpp.sh
set -euo pipefail

VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
PYTHON="${PYTHON:-.venv/bin/python}"
CACHE="${COSMO_WHEEL_CACHE:-$HOME/.cache/cosmo-kg/wheels}"
SPEC="llama-cpp-python[server]==${VERSION}"
mkdir -p "$CACHE"

install_from_cache() {
    "$PYTHON" -m pip install --quiet --find-links "$CACHE" --only-binary llama-cpp-python "$SPEC"
}

if install_from_cache 2>/dev/null; then
    echo "llama-cpp-python ${VERSION} installed from the cached wheel in ${CACHE}"
    exit 0
fi

echo "building llama-cpp-python ${VERSION} (CPU only, generic x86-64/arm64; takes several minutes)"
# Generic CPU build: no CUDA/Metal/BLAS, no -march=native, so the cached wheel runs on any
# machine of the same architecture; tests and examples of llama.cpp are skipped.
CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_BLAS=OFF -DGGML_OPENMP=ON \
-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF" \
CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" \
    "$PYTHON" -m pip wheel --no-deps --no-binary llama-cpp-python -w "$CACHE" "llama-cpp-python==${VERSION}"
install_from_cache
echo "llama-cpp-python ${VERSION} built and installed; wheel cached in ${CACHE}"
