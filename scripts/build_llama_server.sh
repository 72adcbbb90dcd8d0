#!/usr/bin/env bash
# Build llama.cpp's own OpenAI-compatible server, `llama-server`, for the concurrency benchmark
# of the `openai` generation backend (benchmarks/bench_generation.py --suite concurrency
# --llama-server-bin ...). Unlike llama-cpp-python's server (one request at a time), llama-server
# decodes up to --parallel N requests in one batch: continuous batching, as `vllm serve` does.
#
# The source is llama.cpp as vendored in the llama-cpp-python sdist from PyPI (the same release
# scripts/install_llama_cpp.sh installs); CPU only, no web UI (nothing is fetched but the sdist).
# Takes ~10 minutes on 2 cores.
#
#   scripts/build_llama_server.sh            # -> ~/.cache/cosmo-kg/llama-server/build/bin/llama-server
set -euo pipefail

VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
PYTHON="${PYTHON:-.venv/bin/python}"
WORK="${COSMO_LLAMA_SERVER_DIR:-$HOME/.cache/cosmo-kg/llama-server}"
mkdir -p "$WORK"
cd "$WORK"
if [ ! -d "llama_cpp_python-${VERSION}" ]; then
    "$PYTHON" -m pip download --no-deps --no-binary :all: "llama-cpp-python==${VERSION}" -d .
    tar xzf "llama_cpp_python-${VERSION}.tar.gz"
fi
cmake -S "llama_cpp_python-${VERSION}/vendor/llama.cpp" -B build -DCMAKE_BUILD_TYPE=Release \
    -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_OPENMP=ON -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_UI=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_APP=OFF
cmake --build build --target llama-server -j "${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
echo "built ${WORK}/build/bin/llama-server"
