"""Benchmark: the serving API on a large synthetic graph, driven over loopback.

Loads ~``--edges`` synthetic knowledge edges (``bench_loader.synthetic_knowledge``) into a
private Neo4j kept under ``--work`` (the load runs once; later runs reuse it), starts
``cosmo-kg serve`` in its own process, preloads cache tier 1 with the top queries, then
drives each scenario over loopback with a bounded number of requests (after ``--warmup``
requests: a fresh Neo4j JVM is still compiling its hot paths for its first thousands; the whole
store is read into Neo4j's page cache first, as a long-running server has it), twice over:

- closed loop at ``--concurrency`` connections: the maximum throughput (latency there is mostly
  queueing: Little's law);
- open loop at the target rate and above (wrk2-style, ``loadgen``): latency measured from each
  request's scheduled send time, so a stall counts for every request queued behind it.

Scenarios:

- ``rest_cached``: GET /v1/intentions for preloaded (tier 1) queries — the hot path;
- ``rest_uncached``: the same endpoint for other queries (answered from the graph and queued) —
  the naive way the cache replaces;
- ``graphql_product_intentions``: ``product(id) { intentions(first: 10) ... }``, uncached;
  run again on a server without the GraphQL document cache (``api.document_cache=0``), the naive way.

A target is met when the closed loop reaches its rate and the open loop at that rate keeps up
(>= 98% of it: the last answers drain after the schedule ends) with its p99 within the limit,
without errors. Each run records the cores other processes kept busy meanwhile: the machine is
shared, and a run whose latency is out of line usually had company.

Writes benchmarks/results/api.json and prints a table.

    python benchmarks/bench_api.py                  # the 1,000,000-edge graph
    python benchmarks/bench_api.py --edges 20000    # a quick run

``--peer`` instead runs cosmo-kg beside Neo4j's own GraphQL library (``api_peer.py``, installed by
``make bench-peer-setup``) on the same graph and product ids: both answer a filtered intentions
query, answers are checked equal, then closed loops alternate A/B/A/B at each concurrency. Writes
benchmarks/results/api_peer.json (under ``--label``) and prints a table.

    python benchmarks/bench_api.py --peer --edges 200000 --label after

``--workers N`` instead compares ``cosmo-kg serve`` with one worker and with N on cached REST
requests from Redis: req/s per core the API uses (``api_workers.py``). Writes
benchmarks/results/api_workers.json and prints a table.

    python benchmarks/bench_api.py --workers 2 --edges 200000 --requests 15000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import api_peer
import api_workers
import httpx
from api_graph import BenchGraph, close_graph, free_port, open_graph, warm_page_cache
from loadgen import LoadResult, Request, run_load

from cosmo_kg.api import statements
from cosmo_kg.graph import server as graph_server
from cosmo_kg.graph.connection import connect

RESULTS = Path(__file__).resolve().parent / "results"
PRODUCT_INTENTIONS = """
query ProductIntentions($id: ID!) {
  product(id: $id) {
    title productType domain
    intentions(first: 10) {
      edges { relation plausibility typicality node { text } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""
TARGETS = {"rest_cached": (300.0, 25.0), "graphql_product_intentions": (100.0, 100.0)}


SAMPLE_PRODUCTS = "MATCH (p:Product) WHERE EXISTS { (p)-->(:Intention) } RETURN p.product_id AS id LIMIT $n"


def sample_heads(graph: BenchGraph, top: int, others: int, products: int) -> dict[str, list[str]]:
    """Preloaded queries (the top ones, as ``cache preload`` picks them), other queries, products."""
    with connect(graph.client) as driver:
        top_queries = [r["key"] for r in driver.execute_query(statements.TOP_QUERIES, limit=top).records]
        rest = driver.execute_query(
            "MATCH (q:Query) WHERE NOT q.text IN $top RETURN q.text AS text LIMIT $n",
            top=top_queries,
            n=others,
        ).records
        ids = driver.execute_query(SAMPLE_PRODUCTS, n=products).records
    return {"top": top_queries, "others": [r["text"] for r in rest], "products": [r["id"] for r in ids]}


def serve_env(graph: BenchGraph, work: Path, port: int, extra: dict[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        "NEO4J_URI": graph.local.bolt_uri,
        "NEO4J_PASSWORD": graph.client.password,
        "COSMO_API_PORT": str(port),
        "COSMO_WORKSPACE": str(work / "ws"),
        "COSMO_CACHE_PATH": str(work / "ws" / "cache.sqlite"),
        "COSMO_INDEX_DIR": str(work / "ws" / "no-index"),
        **extra,
    }


def start_server(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cosmo_kg.cli", "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{env['COSMO_API_PORT']}/healthz"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"the API did not start; see {log}")


def scenarios(heads: dict[str, list[str]]) -> dict[str, tuple[Any, list[str]]]:
    def rest(query: str) -> Request:
        return ("GET", "/v1/intentions", None, {"query": query})

    def product(pid: str) -> Request:
        return ("POST", "/graphql", {"query": PRODUCT_INTENTIONS, "variables": {"id": pid}}, None)

    return {
        "rest_cached": (rest, heads["top"]),
        "rest_uncached": (rest, heads["others"]),
        "graphql_product_intentions": (product, heads["products"]),
    }


# Open-loop rates per scenario (requests/s): the target and above it.
OPEN_RATES = {"rest_cached": (300.0, 400.0), "graphql_product_intentions": (100.0, 120.0)}
# Server configurations: extra environment, scenarios run against it, suffix of their names.
SERVERS = [
    ({}, ("rest_cached", "rest_uncached", "graphql_product_intentions"), ""),
    ({"COSMO_API_DOCUMENT_CACHE": "0"}, ("graphql_product_intentions",), "_no_document_cache"),
]


def open_name(name: str, rate: float) -> str:
    return f"{name}_open_{rate:g}"


def measure(
    base_url: str,
    heads: dict[str, list[str]],
    names: tuple[str, ...],
    suffix: str,
    args: argparse.Namespace,
    processes: dict[str, int],
) -> dict[str, LoadResult]:
    """The closed loop of each scenario, then (without a suffix) its open loops."""
    results = {}
    for name in names:
        make, pool = scenarios(heads)[name]
        run_load(base_url, make, pool, args.warmup, args.concurrency, 60, seed=1)
        runs = {name + suffix: None} | {
            open_name(name, rate): rate for rate in OPEN_RATES.get(name, ()) if not suffix
        }
        for run_name, rate in runs.items():
            count, connections = (
                (args.requests, args.concurrency)
                if rate is None
                else (int(rate * args.open_seconds), args.connections)
            )
            results[run_name] = run_load(
                base_url, make, pool, count, connections, args.max_seconds, rate=rate, processes=processes
            )
            print(f"  {run_name}: {results[run_name]}", flush=True)
    return results


def measure_servers(
    graph: BenchGraph, heads: dict[str, list[str]], args: argparse.Namespace
) -> dict[str, LoadResult]:
    """Each server configuration in turn, in its own process."""
    results: dict[str, LoadResult] = {}
    for extra, names, suffix in SERVERS:
        port = free_port()
        server = start_server(serve_env(graph, args.work, port, extra), args.work / "serve.log")
        try:
            processes = {"api": server.pid, "neo4j": graph_server.status(graph.local).pid or 0}
            results |= measure(f"http://127.0.0.1:{port}", heads, names, suffix, args, processes)
        finally:
            server.terminate()
            server.wait(30)
    return results


def measure_peer(args: argparse.Namespace) -> None:
    """cosmo-kg and the peer on one graph: answers compared, db hits on the hub, A/B/A/B load."""
    graph = open_graph(args.work, args.edges)
    try:
        warm_page_cache(graph)
        client = graph.client
        with connect(client) as driver:
            ids = [r["id"] for r in driver.execute_query(SAMPLE_PRODUCTS, n=args.peer_ids).records]
            hits = api_peer.hub_db_hits(driver, client.uri, client.password, args.work)
        ports = {side: free_port() for side in api_peer.SIDES}
        ours = start_server(serve_env(graph, args.work, ports["cosmo-kg"], {}), args.work / "serve.log")
        peer = api_peer.start_peer(
            client.uri, client.password, ports["peer"], args.work, args.work / "peer.log"
        )
        try:
            servers = api_peer.PeerServers(
                {side: f"http://127.0.0.1:{port}" for side, port in ports.items()},
                {"cosmo-kg": ours.pid, "peer": peer.pid},
                graph_server.status(graph.local).pid or 0,
            )
            check = api_peer.compare(ids, servers.urls["cosmo-kg"], servers.urls["peer"])
            print(f"answers: {check['identical']}/{check['ids']} identical", flush=True)
            runs = api_peer.alternate(servers, ids, args)
        finally:
            for process in (ours, peer):
                process.terminate()
                process.wait(30)
    finally:
        close_graph(graph)
    api_peer.write_report(RESULTS, args, graph.knowledge_edges, check, hits, runs)


def preload(graph: BenchGraph, args: argparse.Namespace, extra: dict[str, str]) -> None:
    """Answer the top queries into cache tier 1 (the store ``extra`` names, else SQLite)."""
    subprocess.run(
        [sys.executable, "-m", "cosmo_kg.cli", "cache", "preload", "--top", str(args.top)],
        # Batch work: not bound by the API's per-request transaction limit.
        env={**serve_env(graph, args.work, 0, extra), "COSMO_API_QUERY_TIMEOUT": "600"},
        check=True,
        stdout=subprocess.DEVNULL,
    )


def measure_worker_counts(args: argparse.Namespace) -> None:
    """One worker against ``args.workers`` on cached requests, Redis as the shared tier."""
    graph = open_graph(args.work, args.edges)
    redis, redis_url = api_workers.start_redis(args.work)
    extra = {"REDIS_URL": redis_url, "COSMO_CACHE_PREFIX": f"bench{time.time_ns()}:"}
    try:
        queries = sample_heads(graph, args.top, 0, 0)["top"]
        preload(graph, args, extra)
        print(f"Neo4j page cache warmed in {warm_page_cache(graph)}s", flush=True)
        fixed = {"redis": redis.pid, "neo4j": graph_server.status(graph.local).pid or 0}

        def launch(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
            port = free_port()
            server = start_server(serve_env(graph, args.work, port, extra | env), args.work / "serve.log")
            return server, f"http://127.0.0.1:{port}"

        runs = api_workers.measure_workers(launch, queries, fixed, args)
    finally:
        redis.terminate()
        close_graph(graph)
    edges = {"knowledge_edges": graph.knowledge_edges, "relationships": graph.relationships}
    api_workers.write_report(RESULTS, args, edges, runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--edges", type=int, default=1_000_000, help="synthetic edges (bench_loader's --edges)"
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=Path("/tmp/cosmo-kg-bench-api"),
        help="persistent directory of the benchmark graph (loaded once)",
    )
    parser.add_argument("--requests", type=int, default=3000, help="requests per scenario")
    parser.add_argument(
        "--warmup",
        type=int,
        default=2000,
        help="requests per scenario before measuring (Neo4j's JIT compiles for its first thousands)",
    )
    parser.add_argument("--concurrency", type=int, default=8, help="closed loop: requests in flight")
    parser.add_argument("--connections", type=int, default=32, help="open loop: connections")
    parser.add_argument("--open-seconds", type=float, default=10.0, help="open loop: seconds of schedule")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="time cap per scenario")
    parser.add_argument("--top", type=int, default=1000, help="queries preloaded into tier 1")
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="compare serve with 1 and this many workers, own and shared sockets (cached REST)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="--workers: rounds of every setup")
    api_peer.add_arguments(parser)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.peer:
        measure_peer(args)
        return
    if args.workers:
        measure_worker_counts(args)
        return
    graph = open_graph(args.work, args.edges)
    try:
        heads = sample_heads(graph, args.top, 5000, 5000)
        preload(graph, args, {})
        warm_seconds = warm_page_cache(graph)
        print(f"Neo4j page cache warmed in {warm_seconds}s", flush=True)
        results = measure_servers(graph, heads, args)
    finally:
        close_graph(graph)
    write_results(graph, args, results, warm_seconds)


def target_report(results: dict[str, LoadResult], name: str) -> dict[str, Any]:
    rate, p99 = TARGETS[name]
    closed, at_rate = results[name], results[open_name(name, rate)]
    return {
        "min_requests_per_s": rate,
        "max_p99_ms": p99,
        "closed_loop_requests_per_s": closed.requests_per_s,
        "open_loop_achieved_per_s": at_rate.requests_per_s,
        "open_loop_p99_ms": at_rate.p99_ms,
        "met": closed.requests_per_s >= rate
        and at_rate.requests_per_s >= 0.98 * rate
        and at_rate.p99_ms <= p99
        and closed.errors + at_rate.errors == 0,
    }


def write_results(
    graph: BenchGraph, args: argparse.Namespace, results: dict[str, LoadResult], warm_seconds: float
) -> None:
    cached, uncached = results["rest_cached"], results["rest_uncached"]
    result = {
        "benchmark": "api",
        "when": datetime.now(UTC).isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_1m": round(os.getloadavg()[0], 1),
        },
        "graph": {
            "synthetic_edges_arg": args.edges,
            "knowledge_edges": graph.knowledge_edges,
            "relationships": graph.relationships,
            "nodes": graph.nodes,
            "load_seconds": graph.load_seconds,
            "page_cache_warm_up_seconds": warm_seconds,
        },
        "closed_loop": {"requests": args.requests, "concurrency": args.concurrency},
        "open_loop": {"schedule_seconds": args.open_seconds, "connections": args.connections},
        "tier1_queries": args.top,
        "scenarios": {
            name: {**asdict(r), "cpu_bound_capacity_2_cores": r.cpu_bound_capacity}
            for name, r in results.items()
        },
        "cached_speedup_vs_uncached": round(cached.requests_per_s / max(uncached.requests_per_s, 1e-9), 1),
        "document_cache_speedup": round(
            results["graphql_product_intentions"].requests_per_s
            / max(results["graphql_product_intentions_no_document_cache"].requests_per_s, 1e-9),
            1,
        ),
        "targets": {name: target_report(results, name) for name in TARGETS},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "api.json").write_text(json.dumps(result, indent=2) + "\n")
    print_table(results)
    print(
        f"graph: {graph.relationships:,} relationships ({graph.knowledge_edges:,} knowledge edges); "
        f"load average {result['machine']['load_average_1m']}"
    )
    for name, target in result["targets"].items():
        print(f"target {name}: {'met' if target['met'] else 'NOT met'} {target}")


def print_table(results: dict[str, LoadResult]) -> None:
    print(
        f"{'scenario':<46}{'offered':>8}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>7}"
        f"{'api cpu ms':>11}{'neo4j cpu ms':>13}{'client cpu ms':>14}{'2-core req/s':>13}{'others cores':>13}"
    )
    for name, r in results.items():
        cpu = r.cpu_ms_per_request
        offered = "closed" if r.offered_per_s is None else f"{r.offered_per_s:g}"
        print(
            f"{name:<46}{offered:>8}{r.requests_per_s:>8}{r.p50_ms:>9}{r.p95_ms:>9}{r.p99_ms:>9}{r.errors:>7}"
            f"{cpu.get('api', 0):>11}{cpu.get('neo4j', 0):>13}{r.client_cpu_ms_per_request:>14}"
            f"{r.cpu_bound_capacity:>13}{r.other_processes_cores:>13}"
        )


if __name__ == "__main__":
    main()
