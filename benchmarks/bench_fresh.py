"""Benchmark: minutes-fresh knowledge — from an event file landing to its knowledge being served.

A private local Neo4j holds a demo-like graph (the bundled WANDS catalog in the behaviour store
and the graph, the human-judged IntentionQA knowledge, a semantic index). ``cosmo-kg serve``
runs, and ``cosmo-kg refresh --watch DIR`` watches a directory. One events file with
``--pairs`` new sessions is moved into DIR at t0; every second the API is asked for each new
pair's intentions. Two kinds of new pairs (``--kind``):

- ``search-buy``: search → click → purchase sessions over the WANDS catalog, one new query each.
  A query counts as served when ``/v1/intentions`` answers it with graph knowledge
  (relation-typed intentions, not a semantic fallback) and GraphQL finds its intentions.
- ``co-buy``: one order of two products each, real Amazon co-buy pairs (the bundled FolkScope
  sample) whose products the graph has never seen (their catalog rows are ingested before t0,
  without knowledge). A pair counts as served when GraphQL finds intentions of its first product.

Served means the language model generated the knowledge, refinement kept it, the load and the
API's version check made it visible. Pairs whose candidates refinement rejects all never get
knowledge; the report counts them. Generation runs with the configured backend on this machine.

Writes benchmarks/results/fresh.json (fresh_co_buy.json for co-buy) and prints the delays.

    python benchmarks/bench_fresh.py [--kind co-buy]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import polars as pl

from cosmo_kg.graph import server
from cosmo_kg.graph.server import LocalNeo4jSettings

RESULTS = Path(__file__).resolve().parent / "results"
SAMPLES = Path(__file__).resolve().parents[1] / "cosmo_kg" / "samples"
CONTEXTS = (
    "a small apartment",
    "a beach house",
    "a first home",
    "a home office",
    "a rental",
    "a family with kids",
    "a wedding gift",
    "a college dorm",
    "a cabin",
    "a guest room",
)


def new_sessions(pairs: int) -> tuple[pl.DataFrame, list[str]]:
    """Events: one search → click → purchase session per new query, over the WANDS catalog."""
    catalog = pl.read_parquet(SAMPLES / "wands_products.parquet").head(pairs)
    start = datetime.now(UTC) - timedelta(hours=1)
    rows, queries = [], []
    for i, (product_id, product_type) in enumerate(catalog.select("product_id", "product_type").iter_rows()):
        query = f"{product_type.lower()} for {CONTEXTS[i % len(CONTEXTS)]}"
        queries.append(query)
        at = start + timedelta(minutes=i)
        for step, (action, q) in enumerate((("search", query), ("click", query), ("purchase", None))):
            rows.append(
                {
                    "session_id": f"fresh-{i}",
                    "timestamp": at + timedelta(seconds=20 * step),
                    "action": action,
                    "product_id": None if action == "search" else product_id,
                    "query": q,
                    "order_id": f"order-{i}" if action == "purchase" else None,
                }
            )
    return pl.DataFrame(rows), queries


def new_co_buy_orders(pairs: int) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    """Events: one order of two products per new co-buy pair, and the catalog rows of those
    products. The pairs are the bundled FolkScope sample's, minus any with a product the
    demo-like graph already holds (IntentionQA's products), so their knowledge can only come
    from this run, and minus variants of one product (titles as similar as the sampler's
    default ``max_title_similarity`` drops)."""
    from rapidfuzz import fuzz

    from cosmo_kg.ingest.adapters import read_folkscope
    from cosmo_kg.ingest.sampler import SampleSettings

    folkscope = read_folkscope(SAMPLES / "cobuy_folkscope.csv.gz", None, pl.LazyFrame())
    titles = dict(folkscope.products.select("product_id", "title").collect().iter_rows())
    variant_similarity = SampleSettings().max_title_similarity
    seen = set(pl.read_parquet(SAMPLES / "intentionqa_products.parquet")["product_id"].to_list())
    chosen: list[tuple[str, str, str, str]] = []
    for a, b in folkscope.pairs.select("product_id_a", "product_id_b").collect().iter_rows():
        title_a, title_b = titles[a], titles[b]
        variants = fuzz.token_set_ratio(title_a, title_b) >= variant_similarity
        if len(chosen) < pairs and a != b and not {a, b} & seen and not variants:
            chosen.append((a, b, title_a, title_b))
            seen |= {a, b}
    start = datetime.now(UTC) - timedelta(hours=1)
    rows = [
        {
            "session_id": f"fresh-{i}",
            "timestamp": start + timedelta(minutes=i, seconds=20 * step),
            "action": "purchase",
            "product_id": product_id,
            "query": None,
            "order_id": f"order-{i}",
        }
        for i, pair in enumerate(chosen)
        for step, product_id in enumerate(pair[:2])
    ]
    catalog = pl.DataFrame(
        [(a, title_a) for a, _, title_a, _ in chosen] + [(b, title_b) for _, b, _, title_b in chosen],
        schema={"product_id": pl.String(), "title": pl.String()},
        orient="row",
    )
    events = pl.DataFrame(rows).with_columns(pl.col("query").cast(pl.String()))
    return events, catalog, [a for a, *_ in chosen]


def cli(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "cosmo_kg.cli", *args],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


GRAPH_INTENTIONS = (
    "query ($q: String!) { searchQuery(text: $q) { intentions(first: 1) { edges { relation } } } }"
)
GRACE_S = 15.0  # after the watch round ends: the API's version check and index reload


def served(client: httpx.Client, query: str) -> bool:
    """Whether the API serves knowledge of ``query`` from the graph: the cached path as users call it
    (which must not answer from before the load), and GraphQL, which reads the graph itself. A
    tier-2 semantic fallback (the refresh answers queued misses) does not count."""
    cached = client.get("/v1/intentions", params={"query": query}).json()
    if not cached["intentions"] or not any(item.get("relation") for item in cached["intentions"]):
        return False
    found = client.post("/graphql", json={"query": GRAPH_INTENTIONS, "variables": {"q": query}}).json()
    node = found["data"]["searchQuery"]
    return bool(node and node["intentions"]["edges"])


PRODUCT_INTENTIONS = "query ($id: ID!) { product(id: $id) { intentions(first: 1) { edges { relation } } } }"


def product_served(client: httpx.Client, product_id: str) -> bool:
    """Whether GraphQL serves graph knowledge of a new co-buy pair's first product."""
    body = {"query": PRODUCT_INTENTIONS, "variables": {"id": product_id}}
    found = client.post("/graphql", json=body).json()
    node = found["data"]["product"]
    return bool(node and node["intentions"]["edges"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/cosmo-kg-bench-fresh"))
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument(
        "--kind",
        choices=("search-buy", "co-buy"),
        default="search-buy",
        help="new search-buy queries over the WANDS catalog, or new real Amazon co-buy orders",
    )
    parser.add_argument("--deadline", type=float, default=1800.0, help="seconds to wait for all")
    parser.add_argument(
        "--min-plausibility",
        type=float,
        default=None,
        help="refinement's plausibility gate for this run (default: the setting's): "
        "0 measures the path's delay for every pair the rule filters keep",
    )
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    (args.work / "inbox").mkdir(parents=True)
    local = LocalNeo4jSettings(
        home=str(args.work / "neo4j"), bolt_port=_port(), http_port=_port(), heap="1g", pagecache="256m"
    )
    server.start(local)
    client_settings = server.client_settings(local)
    port = _port()
    env = {
        **os.environ,
        "NEO4J_URI": client_settings.uri,
        "NEO4J_PASSWORD": client_settings.password,
        "COSMO_WORKSPACE": str(args.work / "ws"),
        "COSMO_INDEX_DIR": str(args.work / "ws" / "index"),
        "COSMO_CACHE_PATH": str(args.work / "ws" / "cache.sqlite"),
        "COSMO_API_PORT": str(port),
    }
    if args.min_plausibility is not None:
        env["COSMO_REFINE_MIN_PLAUSIBILITY"] = str(args.min_plausibility)
    processes: list[subprocess.Popen[bytes]] = []
    catalog: pl.DataFrame | None = None
    if args.kind == "co-buy":
        events, catalog, keys = new_co_buy_orders(args.pairs)
    else:
        events, keys = new_sessions(args.pairs)
    try:
        cli(env, "graph", "init")
        cli(env, "ingest", "products", str(SAMPLES / "wands_products.parquet"))
        cli(
            env,
            "ingest",
            "knowledge",
            str(SAMPLES / "intentionqa_knowledge.parquet"),
            "--products",
            str(SAMPLES / "intentionqa_products.parquet"),
        )
        if catalog is not None:
            catalog.write_parquet(args.work / "new_products.parquet")
            cli(env, "ingest", "products", str(args.work / "new_products.parquet"))
        cli(env, "index", "build")
        log = (args.work / "processes.log").open("ab")
        for command in (
            ["serve"],
            ["refresh", "--watch", str(args.work / "inbox"), "--poll-seconds", "1", "--preload-top", "100"],
        ):
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "cosmo_kg.cli", *command],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        result = measure(args, port, events, keys)
    finally:
        for process in processes:
            process.terminate()
            process.wait(30)
        server.stop(local)
    result["min_plausibility"] = args.min_plausibility
    gate = args.min_plausibility
    name = "fresh" + ("_co_buy" if args.kind == "co-buy" else "")
    name += ".json" if gate is None else f"_min_plausibility_{gate:g}.json"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "served_seconds"}, indent=2))


def measure(args: argparse.Namespace, port: int, events: pl.DataFrame, keys: list[str]) -> dict[str, Any]:
    """Seconds from the file landing until each new pair (its query, or its first product for
    co-buy: ``keys``) is served."""
    is_served = product_served if args.kind == "co-buy" else served
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        _wait_ready(client)
        staged = args.work / ".events.parquet"
        events.write_parquet(staged)
        landed = time.monotonic()
        staged.rename(args.work / "inbox" / "events-0001.parquet")
        load_before = os.getloadavg()[0]
        served_at: dict[str, float] = {}
        round_done: float | None = None
        while len(served_at) < len(keys) and time.monotonic() - landed < args.deadline:
            for key in keys:
                if key not in served_at and is_served(client, key):
                    served_at[key] = round(time.monotonic() - landed, 1)
            if round_done is None and any((args.work / "ws" / "reports").glob("refresh-*.json")):
                round_done = time.monotonic()
            if round_done is not None and time.monotonic() - round_done > GRACE_S:
                break  # the round is over: queries without knowledge stay unserved
            time.sleep(1.0)
    delays = sorted(served_at.values())
    reports = sorted((args.work / "ws" / "reports").glob("refresh-*.json"))
    refreshed = json.loads(reports[-1].read_text()) if reports else {}
    return {
        "benchmark": "fresh",
        "when": datetime.now(UTC).isoformat(),
        "kind": args.kind,
        "new_pairs": len(keys),
        "pairs_served": len(delays),
        "first_served_s": delays[0] if delays else None,
        "median_served_s": delays[len(delays) // 2] if delays else None,
        "last_served_s": delays[-1] if delays else None,
        "deadline_s": args.deadline,
        "watch_round": {k: refreshed.get(k) for k in ("seconds", "served_after_seconds")},
        "knowledge_edges_loaded": (refreshed.get("refresh") or {}).get("load", {}).get("knowledge_edges"),
        "yield": generation_yield(args.work / "ws"),
        "load_average_1m": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "cpus": os.cpu_count(),
        "served_seconds": served_at,
    }


def generation_yield(workspace: Path) -> dict[str, Any]:
    """Where the new pairs' knowledge went: candidates generated, refinement's rejections by
    reason, statements kept (the pairs without any kept statement are never served)."""
    runs = sorted((workspace / "refresh").glob("run-*"))
    if not runs:
        return {}
    candidates = pl.concat([pl.read_parquet(p) for p in (runs[-1] / "candidates").glob("*.parquet")])
    kept_path = runs[-1] / "knowledge.parquet"
    kept = pl.read_parquet(kept_path) if kept_path.exists() else pl.DataFrame({"behavior_id": []})
    rejects = [pl.read_parquet(p) for p in (workspace / "rejects").glob("refine-*.rejects.parquet")]
    reasons = pl.concat(rejects).group_by("reason").len().rows() if rejects else []
    return {
        "pairs_with_candidates": candidates["behavior_id"].n_unique(),
        "candidates": candidates.height,
        "rejected_by_reason": dict(sorted(reasons)),
        "kept": kept.height,
        "pairs_with_knowledge": kept["behavior_id"].n_unique(),
    }


def _wait_ready(client: httpx.Client) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError("the API did not become ready")


def _port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    main()
