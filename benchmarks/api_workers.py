"""``bench_api.py --workers N``: cached throughput per core the API uses, one worker against N.

The same cached REST requests (tier 1 in a real Redis, the shared tier of several workers)
are driven in a closed loop at ``--concurrency`` connections against ``cosmo-kg serve`` with
one worker, with N (a ``SO_REUSEPORT`` socket each, the default) and with N sharing one socket
(``api.reuse_port`` false: uvicorn's and gunicorn's way), fresh servers in an order rotated
every round.
On a small machine shared with the load generator, N workers cannot add cores, so req/s alone
says little; what scaling out needs is that the API's cost per request does not grow with the
number of processes. So each run measures the CPU time of every API process (the supervisor,
the workers and anything they started, via psutil) and reports the cores the API used and the
requests per second per API core (= 1000 / API CPU ms per request), and how the workers' CPU
split. The target: N workers' req/s per API core within 10% of one worker's (medians).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from api_graph import free_port
from loadgen import LoadResult, run_load

TARGET_RATIO = 0.9
Launch = Callable[[dict[str, str]], tuple[subprocess.Popen[bytes], str]]


@dataclass
class WorkersRun:
    """One closed-loop run against one server."""

    setup: str
    workers: int
    round: int
    requests: int
    errors: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    api_cores: float  # CPU seconds of all API processes per wall second of the run
    requests_per_s_per_api_core: float
    api_cpu_ms_per_request: float
    supervisor_cpu_ms_per_request: float  # the parent process (and helpers) of several workers
    worker_cpu_shares: list[float]  # each worker's part of the workers' CPU time
    redis_cpu_ms_per_request: float
    neo4j_cpu_ms_per_request: float
    client_cpu_ms_per_request: float
    other_processes_cores: float
    rss_mb: dict[str, float]  # resident memory of each API process after the run, by role


def start_redis(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A private redis-server on a free loopback port, without persistence."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=work,
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    return process, f"redis://127.0.0.1:{port}/0"


def worker_pids(url: str, count: int, timeout: float = 180.0) -> set[int]:
    """The pids of ``count`` workers, once each has answered /readyz (on fresh connections)."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(seen) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only workers {seen} of {count} answered")
        try:
            seen.add(int(httpx.get(f"{url}/readyz", timeout=5).json()["worker"]))
        except (httpx.HTTPError, KeyError, ValueError):
            time.sleep(0.2)
    return seen


def api_processes(server: subprocess.Popen[bytes], url: str, workers: int) -> dict[str, int]:
    """Every process of the API by role: ``worker:PID`` for those answering, the rest
    (the supervisor, helpers) ``supervisor:PID``."""
    answering = worker_pids(url, workers)
    tree = [server.pid, *(p.pid for p in psutil.Process(server.pid).children(recursive=True))]
    return {f"{'worker' if pid in answering else 'supervisor'}:{pid}": pid for pid in tree}


def resident_mb(processes: dict[str, int]) -> dict[str, float]:
    """Resident memory of each API process (``worker:PID``/``supervisor:PID``) by role and rank."""
    found: dict[str, float] = {}
    for name, pid in processes.items():
        role = name.split(":")[0]
        if role in ("worker", "supervisor"):
            rank = sum(1 for key in found if key.startswith(role))
            found[f"{role} {rank + 1}"] = round(psutil.Process(pid).memory_info().rss / 2**20, 1)
    return found


def summarize(
    setup: str, workers: int, round_number: int, result: LoadResult, rss: dict[str, float]
) -> WorkersRun:
    cpu = result.cpu_ms_per_request
    worker_ms = {k: v for k, v in cpu.items() if k.startswith("worker:")}
    supervisor_ms = sum(v for k, v in cpu.items() if k.startswith("supervisor:"))
    api_ms = sum(worker_ms.values()) + supervisor_ms
    total_worker_ms = max(sum(worker_ms.values()), 1e-9)
    return WorkersRun(
        setup=setup,
        workers=workers,
        round=round_number,
        requests=result.requests,
        errors=result.errors,
        requests_per_s=result.requests_per_s,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        api_cores=round(api_ms * result.requests_per_s / 1000, 2),
        requests_per_s_per_api_core=round(1000 / max(api_ms, 1e-9), 1),
        api_cpu_ms_per_request=round(api_ms, 3),
        supervisor_cpu_ms_per_request=round(supervisor_ms, 3),
        worker_cpu_shares=sorted((round(v / total_worker_ms, 2) for v in worker_ms.values()), reverse=True),
        redis_cpu_ms_per_request=cpu.get("redis", 0.0),
        neo4j_cpu_ms_per_request=cpu.get("neo4j", 0.0),
        client_cpu_ms_per_request=result.client_cpu_ms_per_request,
        other_processes_cores=result.other_processes_cores,
        rss_mb=rss,
    )


def setups(workers: int) -> list[tuple[str, dict[str, str]]]:
    """(name, environment) of the servers compared: one worker first (the reference)."""
    many = {"COSMO_API_WORKERS": str(workers)}
    return [
        ("1 worker", {"COSMO_API_WORKERS": "1"}),
        (f"{workers} workers", many),
        (f"{workers} workers, shared socket", many | {"COSMO_API_REUSE_PORT": "false"}),
    ]


def one_run(
    launch: Launch,
    setup: tuple[str, dict[str, str]],
    round_number: int,
    queries: list[str],
    fixed: dict[str, int],
    args: argparse.Namespace,
) -> WorkersRun:
    name, env = setup
    workers = int(env["COSMO_API_WORKERS"])
    server, url = launch(env)
    try:
        processes = api_processes(server, url, workers) | fixed

        def rest(query: str) -> tuple[str, str, None, dict[str, str]]:
            return ("GET", "/v1/intentions", None, {"query": query})

        run_load(url, rest, queries, args.warmup, args.concurrency, 60, seed=round_number)
        result = run_load(
            url, rest, queries, args.requests, args.concurrency, args.max_seconds, processes=processes
        )
        rss = resident_mb(processes)
    finally:
        server.terminate()
        server.wait(60)
    run = summarize(name, workers, round_number, result, rss)
    print(f"  round {round_number}, {name}: {run}", flush=True)
    return run


def measure_workers(
    launch: Launch, queries: list[str], fixed: dict[str, int], args: argparse.Namespace
) -> list[WorkersRun]:
    """``args.rounds`` rounds of every setup, the order rotated each round."""
    compared = setups(args.workers)
    runs = []
    for round_number in range(args.rounds):
        shift = round_number % len(compared)
        for setup in compared[shift:] + compared[:shift]:
            runs.append(one_run(launch, setup, round_number, queries, fixed, args))
    return runs


def _median(runs: list[WorkersRun], setup: str, name: str) -> float:
    return round(statistics.median(getattr(r, name) for r in runs if r.setup == setup), 2)


def summary(runs: list[WorkersRun], workers: int) -> dict[str, Any]:
    names = ("requests_per_s", "api_cores", "requests_per_s_per_api_core", "api_cpu_ms_per_request")
    medians = {setup: {name: _median(runs, setup, name) for name in names} for setup, _ in setups(workers)}
    one, many, shared = (medians[setup]["requests_per_s_per_api_core"] for setup, _ in setups(workers))
    ratio = many / max(one, 1e-9)
    return {
        "medians": medians,
        "per_core_ratio": round(ratio, 3),
        "per_core_ratio_shared_socket": round(shared / max(one, 1e-9), 3),
        "busiest_worker_share": {
            setup: max(max(r.worker_cpu_shares) for r in runs if r.setup == setup)
            for setup, _ in setups(workers)[1:]
        },
        "target": f"{workers} workers >= {TARGET_RATIO} x one worker's req/s per API core",
        "met": ratio >= TARGET_RATIO and all(r.errors == 0 for r in runs),
    }


def write_report(
    results: Path, args: argparse.Namespace, graph: dict[str, Any], runs: list[WorkersRun]
) -> dict[str, Any]:
    report = {
        "benchmark": "api_workers",
        "when": datetime.now(UTC).isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "note": "the load generator, Redis and Neo4j share these cores with the API",
        },
        "graph": graph,
        "scenario": "rest_cached (tier 1 in Redis), closed loop",
        "closed_loop": {"requests": args.requests, "warmup": args.warmup, "concurrency": args.concurrency},
        "rounds": args.rounds,
        "runs": [asdict(r) for r in runs],
        "summary": summary(runs, args.workers),
    }
    results.mkdir(exist_ok=True)
    (results / "api_workers.json").write_text(json.dumps(report, indent=2) + "\n")
    print_table(runs, report["summary"])
    return report


def print_table(runs: list[WorkersRun], result: dict[str, Any]) -> None:
    print(
        f"{'round':>5}  {'setup':<28}{'req/s':>9}{'p99 ms':>8}{'errors':>7}{'api cores':>10}"
        f"{'req/s/core':>11}{'api ms':>8}{'sup ms':>8}{'worker split':>14}{'redis ms':>9}"
        f"{'client ms':>10}{'others':>8}"
    )
    for r in runs:
        split = "/".join(f"{share:.2f}" for share in r.worker_cpu_shares)
        print(
            f"{r.round:>5}  {r.setup:<28}{r.requests_per_s:>9}{r.p99_ms:>8}{r.errors:>7}{r.api_cores:>10}"
            f"{r.requests_per_s_per_api_core:>11}{r.api_cpu_ms_per_request:>8}"
            f"{r.supervisor_cpu_ms_per_request:>8}{split:>14}{r.redis_cpu_ms_per_request:>9}"
            f"{r.client_cpu_ms_per_request:>10}{r.other_processes_cores:>8}"
        )
    for setup, values in result["medians"].items():
        print(f"median, {setup}: {values}")
    print(f"busiest worker's share of the workers' CPU: {result['busiest_worker_share']}")
    print(
        f"req/s per API core vs one worker: {result['per_core_ratio']} "
        f"(shared socket: {result['per_core_ratio_shared_socket']}) — target {result['target']}: "
        f"{'met' if result['met'] else 'NOT met'}"
    )
