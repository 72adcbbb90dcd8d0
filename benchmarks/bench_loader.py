"""Benchmark: bulk-load synthetic knowledge into a real local Neo4j, beside the naive way.

Generates knowledge with realistic shapes (Zipf-distributed heads and tails, all 15
relations, search-buy and co-buy), starts a private Neo4j on free loopback ports, then:
1. loads it with `cosmo-kg ingest knowledge` (a subprocess, so its peak RSS is measured): a
   first load into the empty local server, so the offline importer builds the database;
2. loads the same file again: the completed load is recognised and skipped;
3. loads it again with --force: every batch re-applied through MERGE transactions, changing nothing;
4. on a second fresh server, the same first load through transactions only (bulk import off);
5. loads a sample the naive way: one transaction per knowledge edge;
and writes benchmarks/results/loader.json plus a short table.

    python benchmarks/bench_loader.py                # 1,000,000 knowledge edges
    python benchmarks/bench_loader.py --edges 50000  # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from cosmo_kg.graph import jvm, server
from cosmo_kg.graph.connection import Neo4jSettings, create_driver
from cosmo_kg.graph.schema import apply_schema
from cosmo_kg.graph.server import LocalNeo4jSettings
from cosmo_kg.graph.stats import GraphStats, graph_stats
from cosmo_kg.vocabulary import DOMAINS, RELATIONS

RESULTS = Path(__file__).resolve().parent / "results"
NAIVE_EDGE = """
MERGE (p:Product {product_id: $head})
MERGE (i:Intention {text: $tail})
MERGE (p)-[e:USED_FOR_FUNC]->(i)
SET e.plausibility = $plausibility, e.typicality = $typicality
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def zipf_ids(rng: np.random.Generator, n: int, size: int, a: float = 1.2) -> np.ndarray:
    """Ids in [0, size) with a Zipf-like skew (a few heads are very frequent)."""
    ranks = rng.zipf(a, n * 2)
    ranks = ranks[ranks <= size][:n]
    while ranks.size < n:
        more = rng.zipf(a, n)
        ranks = np.concatenate([ranks, more[more <= size]])[:n]
    permutation = rng.permutation(size)
    return permutation[ranks - 1]


def synthetic_knowledge(edges: int, seed: int = 7) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Knowledge rows giving about ``edges`` knowledge edges: each row feeds two heads, and about
    a quarter of the (head, relation, tail) edges repeat under Zipf skew and merge."""
    rng = np.random.default_rng(seed)
    rows = round(edges * 0.656)
    products = max(edges // 10, 100)
    intentions = max(edges * 3 // 10, 100)
    queries = max(edges // 20, 50)
    relation_names = np.array(list(RELATIONS))
    kind = np.where(rng.random(rows) < 0.4, "search_buy", "co_buy")
    product_a = zipf_ids(rng, rows, products)
    product_b = (product_a + 1 + rng.integers(0, products - 1, rows)) % products
    frame = pl.DataFrame(
        {
            "behavior_id": [f"b{i}" for i in range(rows)],
            "kind": kind,
            "query": [f"query {q}" for q in zipf_ids(rng, rows, queries)],
            "product_id": [f"P{p:07d}" for p in product_a],
            "product_id_b": [f"P{p:07d}" for p in product_b],
            "relation": relation_names[rng.integers(0, len(relation_names), rows)],
            "tail": [f"intention number {t}" for t in zipf_ids(rng, rows, intentions, a=1.1)],
            "tail_type": None,
            "plausibility": rng.uniform(0.5, 1.0, rows).round(3),
            "typicality": rng.uniform(0.0, 1.0, rows).round(3),
            "support": rng.integers(1, 5, rows),
            "model": "synthetic",
            "run_id": "bench",
        }
    ).with_columns(
        pl.when(pl.col("kind") == "search_buy").then(pl.col("query")).alias("query"),
        pl.when(pl.col("kind") == "co_buy").then(pl.col("product_id_b")).alias("product_id_b"),
    )
    catalog = pl.DataFrame(
        {
            "product_id": [f"P{p:07d}" for p in range(products)],
            "title": [f"product {p} title" for p in range(products)],
            "product_type": [f"type {p % 500}" for p in range(products)],
            "domain": [DOMAINS[p % len(DOMAINS)] for p in range(products)],
        }
    )
    return frame, catalog


def run_cli_load(
    env: dict[str, str], knowledge: Path, products: Path, *extra: str
) -> tuple[dict, float, int]:
    """Run one load as a subprocess; return its report, wall seconds and peak RSS (bytes)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "cosmo_kg.cli",
            "ingest",
            "knowledge",
            str(knowledge),
            "--products",
            str(products),
            *extra,
        ],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    reports = sorted(Path(env["COSMO_WORKSPACE"], "reports").glob("load-*.json"))
    return json.loads(reports[-1].read_text()), seconds, max(peak, before) * 1024


def importer_stage_seconds(home: Path) -> dict[str, float]:
    """The offline importer's own stage times, from the log it writes in the server's home
    (``Node import COMPLETED in 5s 246ms``, ``IMPORT DONE in 22s 475ms``)."""
    log = home / "logs" / "import.log"
    if not log.is_file():
        return {}
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    stages: dict[str, float] = {}
    for match in re.finditer(r"^(.+?) (?:COMPLETED|DONE) in ((?:\d+(?:h|ms|m|s) ?)+)", log.read_text(), re.M):
        seconds = sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(h|ms|m|s)", match[2]))
        stage = match[1].strip().lower()
        stages["whole import" if stage == "import" else stage] = round(seconds, 3)
    return stages


def naive_load(settings: Neo4jSettings, sample: pl.DataFrame) -> float:
    """One transaction per edge: the way a per-row script (or a py2neo loop) writes."""
    driver = create_driver(settings)
    started = time.perf_counter()
    with driver.session(database="neo4j") as session:
        for row in sample.iter_rows(named=True):
            session.execute_write(
                lambda tx, r=row: tx.run(
                    NAIVE_EDGE,
                    head=r["product_id"],
                    tail=r["tail"] + " naive",
                    plausibility=r["plausibility"],
                    typicality=r["typicality"],
                ).consume()
            )
    seconds = time.perf_counter() - started
    driver.close()
    return sample.height / seconds


def private_server(work: Path, name: str, args: argparse.Namespace) -> LocalNeo4jSettings:
    local = LocalNeo4jSettings(
        home=str(work / name),
        bolt_port=free_port(),
        http_port=free_port(),
        heap=args.heap,
        pagecache=args.pagecache,
    )
    server.start(local)
    with create_driver(server.client_settings(local)) as driver:
        apply_schema(driver)
    return local


def cli_env(work: Path, local: LocalNeo4jSettings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "NEO4J_URI": local.bolt_uri,
        "COSMO_WORKSPACE": str(work / "ws"),
        "COSMO_NEO4J_HOME": local.home,
        "COSMO_NEO4J_BOLT_PORT": str(local.bolt_port),
        "COSMO_NEO4J_HTTP_PORT": str(local.http_port),
        **extra,
    }


def stats_of(local: LocalNeo4jSettings) -> GraphStats:
    with create_driver(server.client_settings(local)) as driver:
        return graph_stats(driver)


def transactional_first_load(work: Path, args: argparse.Namespace) -> tuple[dict, float]:
    """The same first load on a fresh server with the offline importer switched off."""
    local = private_server(work, "neo4j-transactions", args)
    try:
        env = cli_env(work, local, COSMO_BULK_IMPORT_MIN_EDGES="0")
        report, seconds, _ = run_cli_load(env, work / "knowledge.parquet", work / "products.parquet")
    finally:
        server.stop(local)
    return report, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", type=int, default=1_000_000, help="knowledge edges to generate")
    parser.add_argument("--naive-sample", type=int, default=2_000, help="edges loaded the naive way")
    parser.add_argument("--heap", default="3g")
    parser.add_argument("--pagecache", default="2g")
    parser.add_argument(
        "--skip-transactional-first-load",
        action="store_true",
        help="do not time the first load through transactions (saves minutes)",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cosmo-bench-loader-"))
    knowledge, catalog = synthetic_knowledge(args.edges)
    knowledge.write_parquet(work / "knowledge.parquet")
    catalog.write_parquet(work / "products.parquet")
    load_before = os.getloadavg()
    class_archive_present = jvm.class_archive(LocalNeo4jSettings(home=str(work))).is_file()
    local = private_server(work, "neo4j", args)
    inputs = (work / "knowledge.parquet", work / "products.parquet")
    try:
        env = cli_env(work, local)
        first, first_s, rss = run_cli_load(env, *inputs)
        counts_after_first = stats_of(local)
        importer_stages = importer_stage_seconds(local.home_path)
        again, again_s, _ = run_cli_load(env, *inputs)
        forced, forced_s, forced_rss = run_cli_load(env, *inputs, "--force")
        counts_after_forced = stats_of(local)
        naive_rate = naive_load(server.client_settings(local), knowledge.head(args.naive_sample))
    finally:
        server.stop(local)
    transactional = None if args.skip_transactional_first_load else transactional_first_load(work, args)
    edges = first["knowledge_edges"]
    result = {
        "benchmark": "loader",
        "when": datetime.now(UTC).isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "knowledge_rows": knowledge.height,
        "knowledge_edges": edges,
        "all_relationships": counts_after_first.total_relationships,
        "nodes": counts_after_first.total_nodes,
        "first_load_method": first["method"],
        "first_load_seconds": round(first_s, 2),
        "first_load_edges_per_s": round(edges / first_s, 1),
        "first_load_relationships_per_s": round(counts_after_first.total_relationships / first_s, 1),
        "reload_seconds": round(again_s, 2),
        "reload_recognised_as_done": again["already_loaded"],
        "forced_reload_seconds": round(forced_s, 2),
        "forced_reload_edges_per_s": round(edges / forced_s, 1),
        "forced_reload_changed_nothing": (
            counts_after_first == counts_after_forced
            and forced["nodes_created"] == 0
            and forced["relationships_created"] == 0
        ),
        "transactional_first_load_seconds": round(transactional[1], 2) if transactional else None,
        "transactional_first_load_edges_per_s": round(edges / transactional[1], 1) if transactional else None,
        "naive_edges_per_s": round(naive_rate, 1),
        "naive_sample": args.naive_sample,
        "speedup_vs_naive": round(edges / first_s / naive_rate, 1),
        "transactional_speedup_vs_naive": round(edges / transactional[1] / naive_rate, 1)
        if transactional
        else None,
        "loader_peak_rss_mib": round(max(rss, forced_rss) / 2**20, 1),
        "neo4j_heap": args.heap,
        "neo4j_pagecache": args.pagecache,
        "batch_size": int(os.environ.get("COSMO_LOAD_BATCH_SIZE", 10_000)),
        "first_load_report_timings": first["timings"],
        "first_load_step_seconds": first["step_seconds"],
        "importer_stage_seconds": importer_stages,
        "jvm_class_archive_used": class_archive_present,
        "transactional_step_seconds": transactional[0]["step_seconds"] if transactional else None,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "loader.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'measure':<38}{'value':>16}")
    for key in (
        "knowledge_edges",
        "all_relationships",
        "first_load_method",
        "first_load_seconds",
        "first_load_edges_per_s",
        "reload_seconds",
        "reload_recognised_as_done",
        "forced_reload_seconds",
        "forced_reload_changed_nothing",
        "transactional_first_load_seconds",
        "transactional_first_load_edges_per_s",
        "naive_edges_per_s",
        "speedup_vs_naive",
        "loader_peak_rss_mib",
    ):
        print(f"{key:<38}{result[key]!s:>16}")
    print("first load, step by step (s):", json.dumps(first["step_seconds"]))
    print("offline importer stages (s):", json.dumps(importer_stages))


if __name__ == "__main__":
    main()
