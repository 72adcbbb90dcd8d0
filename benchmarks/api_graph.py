"""A persistent benchmark graph: synthetic knowledge loaded once into a private local Neo4j.

The load takes many minutes on a small machine, so the Neo4j home lives in a directory that
survives runs; a marker file written after a complete load lets the next run skip it (the
loader is resumable, so an interrupted load simply continues).
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from bench_loader import synthetic_knowledge

from cosmo_kg.graph import server
from cosmo_kg.graph.connection import Neo4jSettings, connect
from cosmo_kg.graph.loader import LoadConfig, LoaderSettings, load
from cosmo_kg.graph.schema import apply_schema
from cosmo_kg.graph.server import LocalNeo4jSettings
from cosmo_kg.graph.stats import graph_stats


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class BenchGraph:
    local: LocalNeo4jSettings
    knowledge_edges: int
    relationships: int
    nodes: int
    load_seconds: float | None

    @property
    def client(self) -> Neo4jSettings:
        return server.client_settings(self.local)


def _marker(work: Path, edges: int) -> Path:
    return work / f"loaded-{edges}.json"


def open_graph(work: Path, edges: int, heap: str = "2g", pagecache: str = "2g") -> BenchGraph:
    """Start the private server under ``work`` and load ``edges`` synthetic edges unless done before."""
    local = LocalNeo4jSettings(
        home=str(work / f"neo4j-{edges}"),
        bolt_port=free_port(),
        http_port=free_port(),
        heap=heap,
        pagecache=pagecache,
    )
    server.stop(local)  # a server left running from an earlier run listens on other ports
    server.start(local)
    marker = _marker(work, edges)
    if marker.exists():
        return BenchGraph(local, **json.loads(marker.read_text()))
    loaded = _load(work, edges, local)
    marker.write_text(json.dumps(loaded))
    return BenchGraph(local, **loaded)


def _load(work: Path, edges: int, local: LocalNeo4jSettings) -> dict[str, float | int]:
    knowledge, catalog = synthetic_knowledge(edges)
    files = work / f"input-{edges}"
    files.mkdir(parents=True, exist_ok=True)
    knowledge.write_parquet(files / "knowledge.parquet")
    catalog.write_parquet(files / "products.parquet")
    config = LoadConfig(
        rejects_dir=files / "rejects",
        knowledge=files / "knowledge.parquet",
        products=files / "products.parquet",
    )
    started = time.perf_counter()
    with connect(server.client_settings(local)) as driver:
        apply_schema(driver)
        report = load(
            config,
            driver,
            LoaderSettings(),
            progress=lambda done, total: print(f"\rloading batch {done}/{total}", end="", flush=True),
        )
        print()
        counts = graph_stats(driver)
    return {
        "knowledge_edges": report.knowledge_edges,
        "relationships": counts.total_relationships,
        "nodes": counts.total_nodes,
        "load_seconds": round(time.perf_counter() - started, 1),
    }


# Every node and relationship record with all its properties: the store is read into Neo4j's
# page cache once, as a long-running server has its working set there.
WARM_UP = (
    "MATCH (n) RETURN count(properties(n)) AS records",
    "MATCH ()-[r]->() RETURN count(properties(r)) AS records",
)


def warm_page_cache(graph: BenchGraph) -> float:
    """Read the whole store through Neo4j once; return the seconds it took."""
    started = time.perf_counter()
    with connect(graph.client) as driver:
        for statement in WARM_UP:
            driver.execute_query(statement)
    return round(time.perf_counter() - started, 1)


def close_graph(graph: BenchGraph) -> None:
    server.stop(graph.local)
