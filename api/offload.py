"""Blocking work off the event loop: cache-store calls on I/O threads, embeddings and FAISS
searches on a smaller compute pool (they use several cores each; more at once only contend).

An unseen query's embedding then waits in its own pool while cached answers keep flowing.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

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
