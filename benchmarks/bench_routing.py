"""Benchmark: what routing and bookmarks cost the API's reads.

The API reads through ``GraphReader``: READ-mode sessions that start from the bookmarks of the
newest write known (so a cluster follower behind it waits instead of answering stale). This
measures the same request read — a page of one product's intentions, with the product —
four ways against one private local Neo4j holding a synthetic graph:

- ``bolt`` without bookmarks: the naive way, one server, what the API did before routing;
- ``bolt`` with bookmarks;
- ``neo4j://`` without bookmarks: the driver's routing table, no causal chaining;
- ``neo4j://`` with the bookmarks of a real load: what the API does now.

Each case runs ``--reads`` reads at each ``--concurrency`` (asyncio tasks over one driver), in
``--rounds`` interleaved rounds (after one more that warms the JVM up and is dropped) so the cases
share the machine's load alike; the table gives the median round. One server answers routing with
itself, so this is the client-side and bookmark-check cost; a real cluster adds the follower's
replication lag, which bookmarks turn into waiting only right after a write.

Writes benchmarks/results/routing.json and prints a table.

    python benchmarks/bench_routing.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import neo4j
import polars as pl
from api_graph import close_graph, open_graph

from cosmo_kg.api.reads import EdgeFilter, GraphReader, open_driver
from cosmo_kg.graph.connection import Neo4jSettings, connect
from cosmo_kg.graph.loader import LoadConfig, LoaderSettings, load

RESULTS = Path(__file__).resolve().parent / "results"
CASES = (
    ("bolt, no bookmarks (naive)", "bolt", False),
    ("bolt, bookmarks", "bolt", True),
    ("neo4j://, no bookmarks", "neo4j", False),
    ("neo4j://, bookmarks (cosmo-kg)", "neo4j", True),
)


def with_scheme(settings: Neo4jSettings, scheme: str) -> Neo4jSettings:
    return replace(settings, uri=f"{scheme}://{settings.uri.partition('://')[2]}")


def load_bookmarks(settings: Neo4jSettings, work: Path) -> list[str]:
    """The bookmarks of a small real load through ``neo4j://`` (what the API starts reads from)."""
    knowledge = work / "bookmark-load.parquet"
    pl.DataFrame(
        {
            "kind": ["search_buy"],
            "query": ["bench routing"],
            "product_id": ["P-routing"],
            "relation": ["USED_ON"],
        }
    ).with_columns(
        product_id_b=pl.lit(None, pl.String()),
        tail=pl.lit("a routing benchmark"),
        plausibility=pl.lit(0.99),
        typicality=pl.lit(0.99),
        support=pl.lit(1),
        model=pl.lit("bench"),
        run_id=pl.lit("bench-routing"),
    ).write_parquet(knowledge)
    with connect(with_scheme(settings, "neo4j")) as driver:
        report = load(
            LoadConfig(rejects_dir=work / "rejects", knowledge=knowledge, force=True),
            driver,
            LoaderSettings(),
        )
    return report.bookmarks


async def run_case(
    settings: Neo4jSettings, bookmarks: list[str], ids: list[str], reads: int, concurrency: int
) -> dict[str, float]:
    driver = open_driver(settings, pool_size=max(concurrency, 1))
    reader = GraphReader(driver)
    reader.bookmarks = neo4j.Bookmarks.from_raw_values(bookmarks)
    latencies: list[float] = []
    queue = iter(range(reads))

    async def worker() -> None:
        for number in queue:
            started = time.perf_counter()
            await reader.products_with_intentions([ids[number % len(ids)]], EdgeFilter(limit=10))
            latencies.append(time.perf_counter() - started)

    try:
        await reader.ping()  # the routing table and the first connection, outside the timing
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    finally:
        await driver.close()
    latencies.sort()
    return {
        "reads_per_s": round(reads / seconds, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 3),
    }


def median_round(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}


def measure(
    args: argparse.Namespace, settings: Neo4jSettings, bookmarks: list[str], ids: list[str]
) -> list[dict[str, Any]]:
    results: dict[tuple[str, int], list[dict[str, float]]] = {}
    for _ in range(args.rounds + 1):  # the first round warms the JVM up and is not kept
        for concurrency in args.concurrency:
            for name, scheme, bookmarked in CASES:
                found = asyncio.run(
                    run_case(
                        with_scheme(settings, scheme),
                        bookmarks if bookmarked else [],
                        ids,
                        args.reads,
                        concurrency,
                    )
                )
                results.setdefault((name, concurrency), []).append(found)
    results = {key: rounds[1:] for key, rounds in results.items()}
    return [
        {"case": name, "concurrency": c, **median_round(rounds), "rounds": rounds}
        for (name, c), rounds in results.items()
    ]


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'case':34} {'conc':>4} {'reads/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs naive':>8}")
    naive = {r["concurrency"]: r["reads_per_s"] for r in rows if r["case"] == CASES[0][0]}
    for r in rows:
        ratio = r["reads_per_s"] / naive[r["concurrency"]]
        print(
            f"{r['case']:34} {r['concurrency']:>4} {r['reads_per_s']:>9.0f} {r['p50_ms']:>8.2f} "
            f"{r['p99_ms']:>8.2f} {ratio:>7.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path(".cosmo-kg/bench-routing"))
    parser.add_argument("--edges", type=int, default=20_000)
    parser.add_argument("--reads", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    graph = open_graph(args.work, args.edges, heap="1g", pagecache="512m")
    try:
        settings = graph.client
        bookmarks = load_bookmarks(settings, args.work)
        with connect(settings) as driver:
            records = driver.execute_query("MATCH (p:Product) RETURN p.product_id AS id LIMIT 500").records
        rows = measure(args, settings, bookmarks, [r["id"] for r in records])
    finally:
        close_graph(graph)
    result = {
        "benchmark": "routing",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
            "python": platform.python_version(),
            "neo4j_driver": neo4j.__version__,
        },
        "graph": {"knowledge_edges": graph.knowledge_edges, "relationships": graph.relationships},
        "reads": args.reads,
        "bookmarks": bookmarks,
        "results": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "routing.json").write_text(json.dumps(result, indent=2) + "\n")
    print_table(rows)


if __name__ == "__main__":
    main()
