"""A bounded loopback load generator: a fixed number of requests at a fixed concurrency."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

# (method, path, json body or None, query params or None)
Request = tuple[str, str, dict[str, Any] | None, dict[str, str] | None]


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    requests_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    concurrency: int
    # CPU time the serving processes spent per request: unlike req/s, not set by the machine's load.
    cpu_ms_per_request: dict[str, float] = field(default_factory=dict)

    @property
    def cpu_bound_capacity(self) -> float:
        """Requests/s two dedicated cores could serve at this CPU cost (client excluded)."""
        return round(2000 / max(sum(self.cpu_ms_per_request.values()), 1e-9), 1)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _failed(response: httpx.Response) -> bool:
    if response.status_code != 200:
        return True
    return (
        "application/json" in response.headers.get("content-type", "") and '"errors"' in response.text[:200]
    )


async def _worker(
    client: httpx.AsyncClient,
    requests: list[Request],
    latencies: list[float],
    errors: list[int],
    deadline: float,
) -> None:
    while requests and time.perf_counter() < deadline:
        method, path, body, params = requests.pop()
        started = time.perf_counter()
        try:
            failed = _failed(await client.request(method, path, json=body, params=params))
        except httpx.HTTPError:
            failed = True
        latencies.append(time.perf_counter() - started)
        errors[0] += failed


async def _drive(base_url: str, requests: list[Request], concurrency: int, max_seconds: float) -> LoadResult:
    latencies: list[float] = []
    errors = [0]
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30.0) as client:
        started = time.perf_counter()
        deadline = started + max_seconds
        await asyncio.gather(
            *(_worker(client, requests, latencies, errors, deadline) for _ in range(concurrency))
        )
        seconds = time.perf_counter() - started
    p50, p95, p99 = (float(v) * 1000 for v in np.percentile(latencies, [50, 95, 99]))
    return LoadResult(
        len(latencies),
        errors[0],
        round(seconds, 2),
        round(len(latencies) / seconds, 1),
        round(p50, 2),
        round(p95, 2),
        round(p99, 2),
        concurrency,
    )


def run_load(
    base_url: str,
    make: Callable[[Any], Request],
    pool: Sequence[Any],
    count: int,
    concurrency: int,
    max_seconds: float,
    seed: int = 11,
    processes: dict[str, int] | None = None,
) -> LoadResult:
    """Send ``count`` requests built by ``make`` from items drawn from ``pool`` (stop at ``max_seconds``);
    count the CPU time of the named server ``processes`` (name → pid) per request."""
    rng = random.Random(seed)
    requests = [make(rng.choice(pool)) for _ in range(count)]
    watched = processes or {}
    before = {name: cpu_seconds(pid) for name, pid in watched.items()}
    result = asyncio.run(_drive(base_url, requests, concurrency, max_seconds))
    result.cpu_ms_per_request = {
        name: round((cpu_seconds(pid) - before[name]) * 1000 / max(result.requests, 1), 2)
        for name, pid in watched.items()
    }
    return result
