"""A local OpenAI-compatible server for the ``openai`` backend: llama-cpp-python's
``llama_cpp.server`` serving a GGUF model (default: the bundled SmolLM2) on loopback, or, given
its path, llama.cpp's own ``llama-server`` binary.

Used by the tests and the benchmark of the ``openai`` backend; install llama-cpp-python with
``scripts/install_llama_cpp.sh`` (it compiles llama.cpp once per machine). The two differ in
what concurrency buys: llama-cpp-python's server runs one request at a time (a lock around its
one model context), while ``llama-server --parallel N`` decodes up to N requests together in
one batch (continuous batching, like ``vllm serve``).
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from cosmo_kg.errors import BackendError, ConfigError
from cosmo_kg.generation.local_model import smollm2_gguf_path


@dataclass
class LlamaServer:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(server: LlamaServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BackendError(
                f"llama_cpp.server exited with {server.process.returncode}", hint=f"see {server.log}"
            )
        try:
            if httpx.get(f"{server.base_url}/models", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.5)
    server.stop()
    raise BackendError(f"llama_cpp.server did not answer within {timeout:.0f}s", hint=f"see {server.log}")


def start_llama_server(
    log: Path,
    *,
    model_alias: str = "smollm2",
    gguf: Path | None = None,
    threads: int = 1,
    context: int = 2048,
    timeout: float = 180.0,
    binary: Path | None = None,
    parallel: int = 1,
) -> LlamaServer:
    """Start ``python -m llama_cpp.server`` (or, with ``binary``, llama.cpp's ``llama-server``
    with ``parallel`` slots of ``context`` tokens each) on a free loopback port and wait until
    it answers.

    Returns:
        The running server; its ``base_url`` ends in ``/v1``. Call ``stop()`` when done.

    Raises:
        ConfigError: llama-cpp-python is not installed, or ``binary`` is not a file.
        BackendError: the server did not start.
    """
    port, model = free_port(), str(gguf or smollm2_gguf_path())
    if binary is not None:
        if not binary.is_file():
            raise ConfigError(f"{binary}: no such llama-server binary", hint="build llama.cpp's llama-server")
        command = [str(binary), "--model", model, "--alias", model_alias, "--parallel", str(parallel)]
        command += ["--ctx-size", str(context * parallel), "--threads", str(threads), "--seed", "0"]
    elif importlib.util.find_spec("llama_cpp") is None:
        raise ConfigError("llama-cpp-python is not installed", hint="run scripts/install_llama_cpp.sh")
    else:
        command = [sys.executable, "-m", "llama_cpp.server", "--model", model, "--model_alias", model_alias]
        command += ["--n_ctx", str(context), "--n_threads", str(threads), "--seed", "0"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    server = LlamaServer(process, f"http://127.0.0.1:{port}/v1", log)
    _wait_until_up(server, timeout)
    return server
