"""Benchmark: the graph's size on disk per relationship, for sizing a deployment.

Loads synthetic knowledge (the loader benchmark's shapes, with product titles and tails padded to
the lengths of real ones) at two sizes into fresh local Neo4j servers, stops each server (so the
store is checkpointed) and measures the database folder (store files and indexes) and the
transaction logs. Two sizes give the bytes each relationship (with its share of nodes) adds
beyond a fixed part; the scale plan (`benchmarks/scale_plan.py`) multiplies them out to the paper's graph.
Writes benchmarks/results/graph_size.json and prints a short table.

    python benchmarks/bench_graph_size.py                        # 200,000 and 1,000,000 edges
    python benchmarks/bench_graph_size.py --edges 20000 100000   # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from bench_loader import cli_env, private_server, run_cli_load, stats_of, synthetic_knowledge

from cosmo_kg.graph import server

RESULTS = Path(__file__).resolve().parent / "results"
# Average lengths in the bundled real samples (Amazon titles, generated tails), in characters.
TITLE_CHARS = 110
TAIL_CHARS = 32
FILLER = "stainless steel portable outdoor camping kitchen set with carry bag for hiking and travel "


def padded(column: str, chars: int) -> pl.Expr:
    return (pl.col(column) + pl.lit(" ") + pl.lit(FILLER * 3)).str.slice(0, chars)


def realistic(edges: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    knowledge, catalog = synthetic_knowledge(edges)
    return (
        knowledge.with_columns(padded("tail", TAIL_CHARS)),
        catalog.with_columns(padded("title", TITLE_CHARS)),
    )


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def measure(work: Path, edges: int, args: argparse.Namespace) -> dict[str, float]:
    knowledge, catalog = realistic(edges)
    inputs = (work / f"knowledge-{edges}.parquet", work / f"products-{edges}.parquet")
    knowledge.write_parquet(inputs[0])
    catalog.write_parquet(inputs[1])
    local = private_server(work, f"neo4j-{edges}", args)
    try:
        report, _, _ = run_cli_load(cli_env(work, local), *inputs)
        counts = stats_of(local)
    finally:
        server.stop(local)
    data = local.home_path / "data"
    return {
        "knowledge_edges": report["knowledge_edges"],
        "nodes": counts.total_nodes,
        "relationships": counts.total_relationships,
        "store_bytes": folder_bytes(data / "databases" / "neo4j"),
        "transaction_log_bytes": folder_bytes(data / "transactions" / "neo4j"),
    }


def per_relationship_bytes(runs: list[dict[str, float]]) -> dict[str, float]:
    """store = fixed + bytes_per_relationship · relationships, through the two sizes.

    Nodes grow with relationships in the synthetic graph (``nodes_per_relationship``), so the
    slope carries their share too; a fixed part (preallocated files, empty indexes) is apart.
    """
    small, large = sorted(runs, key=lambda run: run["relationships"])
    slope = (large["store_bytes"] - small["store_bytes"]) / (large["relationships"] - small["relationships"])
    return {
        "per_relationship": round(slope, 1),
        "fixed": round(large["store_bytes"] - slope * large["relationships"]),
        "nodes_per_relationship": round(large["nodes"] / large["relationships"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", type=int, nargs=2, default=[200_000, 1_000_000], help="two graph sizes")
    parser.add_argument("--heap", default="2g")
    parser.add_argument("--pagecache", default="1g")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cosmo-bench-size-"))
    runs = [measure(work, edges, args) for edges in args.edges]
    result = {
        "benchmark": "graph_size",
        "when": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count()},
        "text_chars": {"title": TITLE_CHARS, "tail": TAIL_CHARS},
        "runs": runs,
        "store_bytes": per_relationship_bytes(runs),
        "note": "store = the database folder after a checkpoint (records, string store, indexes); "
        "transaction logs are separate and bounded by the server's retention setting",
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "graph_size.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'edges':>10} {'nodes':>10} {'relationships':>14} {'store MiB':>10} {'tx log MiB':>11}")
    for run in runs:
        print(
            f"{run['knowledge_edges']:>10} {run['nodes']:>10} {run['relationships']:>14} "
            f"{run['store_bytes'] / 2**20:>10.1f} {run['transaction_log_bytes'] / 2**20:>11.1f}"
        )
    print("store bytes:", result["store_bytes"])


if __name__ == "__main__":
    main()
