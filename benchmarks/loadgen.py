"""A bounded loopback load generator over raw keep-alive HTTP/1.1 connections, in two modes.

- closed loop: ``connections`` workers each send their next request when the previous one
  answered — the maximum throughput, but at saturation its latencies are mostly queueing, and
  a slow answer holds back the requests behind it, so they are never counted as late;
- open loop (wrk2-style): requests are scheduled at a constant ``rate`` whatever the server
  does, and each latency is measured from its *scheduled* send time, so time a request spends
  waiting for a free connection or a slow server counts (no coordinated omission).

The client is a few lines of asyncio over uvloop rather than an HTTP library: on a 2-core
machine the client's CPU is taken from the server, so it must cost little per request.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import numpy as np
import uvloop

# (method, path, json body or None, query params or None)
Request = tuple[str, str, dict[str, Any] | None, dict[str, str] | None]
TIMEOUT_S = 30.0


@dataclass
class LoadResult:
    mode: str  # "closed" or "open"
    connections: int
    offered_per_s: float | None  # the open loop's scheduled rate
    requests: int
    errors: int
    seconds: float
    requests_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    # CPU time the serving processes spent per request: unlike req/s, not set by the machine's load.
    cpu_ms_per_request: dict[str, float] = field(default_factory=dict)
    client_cpu_ms_per_request: float = 0.0
    # Cores kept busy during the run by every other process on the machine (its other users):
    # on a shared 2-core machine, the first suspect when a run's latency is out of line.
    other_processes_cores: float = 0.0

    @property
    def cpu_bound_capacity(self) -> float:
        """Requests/s two dedicated cores could serve at this CPU cost (client excluded)."""
        return round(2000 / max(sum(self.cpu_ms_per_request.values()), 1e-9), 1)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all processes spent so far, on every core (Linux /proc/stat: user, nice, system)."""
    with open("/proc/stat") as handle:
        user, nice, system = (int(v) for v in handle.readline().split()[1:4])
    return (user + nice + system) / os.sysconf("SC_CLK_TCK")


def encode(request: Request, host: str) -> bytes:
    """The request as the bytes sent on the wire."""
    method, path, body, params = request
    target = f"{path}?{urlencode(params)}" if params else path
    payload = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {target} HTTP/1.1\r\nhost: {host}\r\ncontent-length: {len(payload)}\r\n"
    if body is not None:
        head += "content-type: application/json\r\n"
    return head.encode() + b"\r\n" + payload


def _content_length(head: bytes) -> int:
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return int(line[15:])
    raise ValueError("a response without content-length (the load generator reads no chunked bodies)")


def _failed(status: int, body: bytes) -> bool:
    # A GraphQL error still answers 200, with an "errors" member.
    return status != 200 or b'"errors"' in body[:200]


class Connection:
    """One keep-alive connection; reopened after a failure."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def exchange(self, raw: bytes) -> bool:
        """Send one request and read its answer; return whether it failed."""
        try:
            async with asyncio.timeout(TIMEOUT_S):
                if self.streams is None:
                    self.streams = await asyncio.open_connection(self.host, self.port)
                reader, writer = self.streams
                writer.write(raw)
                head = await reader.readuntil(b"\r\n\r\n")
                body = await reader.readexactly(_content_length(head))
            return _failed(int(head[9:12]), body)
        except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError):
            self.close()
            return True

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    def record(self, started: float, failed: bool) -> None:
        self.latencies.append(time.perf_counter() - started)
        self.errors += failed


async def _closed_loop(
    connections: list[Connection], raws: list[bytes], deadline: float, tally: _Tally
) -> None:
    async def worker(connection: Connection) -> None:
        while raws and time.perf_counter() < deadline:
            raw = raws.pop()
            started = time.perf_counter()
            tally.record(started, await connection.exchange(raw))

    await asyncio.gather(*(worker(c) for c in connections))


async def _open_loop(
    connections: list[Connection], raws: list[bytes], rate: float, deadline: float, tally: _Tally
) -> None:
    free: asyncio.Queue[Connection] = asyncio.Queue()
    for connection in connections:
        free.put_nowait(connection)

    async def send(raw: bytes, scheduled: float) -> None:
        connection = await free.get()
        try:
            tally.record(scheduled, await connection.exchange(raw))
        finally:
            free.put_nowait(connection)

    tasks = []
    start = time.perf_counter()
    for i, raw in enumerate(raws):
        scheduled = start + i / rate
        if scheduled > deadline:
            break
        if (delay := scheduled - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(raw, scheduled)))
    await asyncio.gather(*tasks)


async def _drive(
    base_url: str, raws: list[bytes], connections: int, rate: float | None, max_seconds: float
) -> tuple[_Tally, float]:
    url = urlsplit(base_url)
    pool = [Connection(url.hostname or "127.0.0.1", url.port or 80) for _ in range(connections)]
    tally = _Tally()
    started = time.perf_counter()
    deadline = started + max_seconds
    try:
        if rate is None:
            await _closed_loop(pool, raws, deadline, tally)
        else:
            await _open_loop(pool, raws, rate, deadline, tally)
    finally:
        for connection in pool:
            connection.close()
    return tally, time.perf_counter() - started


def run_load(
    base_url: str,
    make: Callable[[Any], Request],
    pool: Sequence[Any],
    count: int,
    connections: int,
    max_seconds: float,
    *,
    rate: float | None = None,
    seed: int = 11,
    processes: dict[str, int] | None = None,
) -> LoadResult:
    """Send ``count`` requests built by ``make`` from items drawn from ``pool`` (stop at ``max_seconds``):
    closed loop over ``connections`` when ``rate`` is None, else scheduled at ``rate`` per second.
    Counts the CPU time of the named server ``processes`` (name → pid) per request."""
    rng = random.Random(seed)
    host = urlsplit(base_url).netloc
    raws = [encode(make(rng.choice(pool)), host) for _ in range(count)]
    if rate is None:
        raws.reverse()  # the closed loop pops from the end
    watched = processes or {}
    before = {name: cpu_seconds(pid) for name, pid in watched.items()}
    client_before, busy_before = time.process_time(), machine_busy_seconds()
    tally, seconds = uvloop.run(_drive(base_url, raws, connections, rate, max_seconds))
    busy = machine_busy_seconds() - busy_before
    ours = sum(cpu_seconds(pid) - before[name] for name, pid in watched.items())
    ours += time.process_time() - client_before
    done = max(len(tally.latencies), 1)
    p50, p95, p99, worst = (float(v) * 1000 for v in np.percentile(tally.latencies, [50, 95, 99, 100]))
    return LoadResult(
        mode="closed" if rate is None else "open",
        connections=connections,
        offered_per_s=rate,
        requests=len(tally.latencies),
        errors=tally.errors,
        seconds=round(seconds, 2),
        requests_per_s=round(len(tally.latencies) / seconds, 1),
        p50_ms=round(p50, 2),
        p95_ms=round(p95, 2),
        p99_ms=round(p99, 2),
        max_ms=round(worst, 2),
        cpu_ms_per_request={
            name: round((cpu_seconds(pid) - before[name]) * 1000 / done, 2) for name, pid in watched.items()
        },
        client_cpu_ms_per_request=round((time.process_time() - client_before) * 1000 / done, 2),
        other_processes_cores=round(max(busy - ours, 0.0) / seconds, 2),
    )
