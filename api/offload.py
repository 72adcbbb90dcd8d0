"""Blocking work off the event loop: cache-store calls on I/O threads, embeddings and FAISS
searches on a smaller compute pool (they use several cores each; more at once only contend).

An unseen query's embedding then waits in its own pool while cached answers keep flowing. When
serving, the embedding model itself runs in a child process (``ChildEmbedder``) at a lower CPU
priority: in a thread of this process it shared the GIL with the event loop, and on a busy
machine it took the core the cached requests were waiting for (their p99 varied 16-298 ms).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Any, TypeVar

import numpy as np

from cosmo_kg.embeddings import EmbeddingSettings
from cosmo_kg.errors import BackendError

T = TypeVar("T")


class Offload:
    """Two thread pools: ``io`` (``threads``) for the cache store and files, ``compute`` (one per
    four cores) for models and FAISS."""

    def __init__(self, threads: int = 8) -> None:
        self._io = ThreadPoolExecutor(threads, thread_name_prefix="cosmo-io")
        # Each embedding already runs on several cores (the model's own threads): one at a time per
        # four cores keeps a core for the event loop.
        compute = max(1, (os.cpu_count() or 1) // 4)
        self._compute = ThreadPoolExecutor(compute, thread_name_prefix="cosmo-compute")

    async def io(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._io, partial(call, *args))

    async def compute(self, call: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._compute, partial(call, *args))

    def close(self) -> None:
        self._io.shutdown(wait=False, cancel_futures=True)
        self._compute.shutdown(wait=False, cancel_futures=True)


class ChildEmbedder:
    """``cosmo_kg.embeddings.Embedder`` in one child process, niced by ``nice``; ``embed`` blocks
    the calling (compute) thread, not the GIL, until the child answers. A child that dies (killed,
    out of memory) is replaced once per call; ``BackendError`` if its replacement dies too."""

    def __init__(self, settings: EmbeddingSettings, nice: int = 10) -> None:
        self.settings = settings
        self.nice = nice
        self._lock = threading.Lock()
        self._pool = self._start()
        self.model_name, self.dimension = self._call(_describe)  # loads the model now, not on a request

    def _start(self) -> ProcessPoolExecutor:
        # spawn: a fork would copy this process's threads' locks (driver, event loop) mid-use
        return ProcessPoolExecutor(
            1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_exit_with_parent,
            initargs=(os.getpid(),),
        )

    def _call(self, work: Callable[..., T], *args: Any) -> T:
        pool = self._pool
        try:
            return pool.submit(work, self.settings, self.nice, *args).result()
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:  # the first caller to see it dead starts the next one
                    self._pool = self._start()
                pool = self._pool
        try:
            return pool.submit(work, self.settings, self.nice, *args).result()
        except BrokenProcessPool as exc:
            raise BackendError(
                "the embedding process died twice in a row",
                hint="check the memory left for it, or set COSMO_API_EMBED_PROCESS=false",
            ) from exc

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._call(_embed, list(texts))

    def pid(self) -> int:
        return self._call(_pid)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def on_parent_exit(parent: int, action: Callable[[], object]) -> None:
    """Run ``action`` (on a daemon thread) once ``parent`` is no longer this process's parent,
    i.e. once it has died: a killed process never gets to stop its children itself."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        action()

    threading.Thread(target=watch, name="on-parent-exit", daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """In the embedding child: end with the API process. A killed API worker (which
    ``serve --workers`` replaces) never closes its pool, and its child would keep the model's
    memory forever: the pool's queue holds both pipe ends, so the child never reads an end."""
    on_parent_exit(parent, lambda: os._exit(0))


# The child's embedder, made by its first call: a process pool's worker keeps state in its module.
_CHILD: dict[str, Any] = {}


def _child_embedder(settings: EmbeddingSettings, nice: int) -> Any:
    if "embedder" not in _CHILD:
        if nice:
            os.nice(nice)  # before the model's threads start: they inherit it
        from cosmo_kg.embeddings import Embedder

        _CHILD["embedder"] = Embedder(settings)
    return _CHILD["embedder"]


def _describe(settings: EmbeddingSettings, nice: int) -> tuple[str, int]:
    embedder = _child_embedder(settings, nice)
    return embedder.model_name, embedder.dimension


def _embed(settings: EmbeddingSettings, nice: int, texts: list[str]) -> np.ndarray:
    return _child_embedder(settings, nice).embed(texts)


def _pid(settings: EmbeddingSettings, nice: int) -> int:
    _child_embedder(settings, nice)
    return os.getpid()
