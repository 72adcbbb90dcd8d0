"""The bulk loader against the real Neo4j: idempotency, rejects, newer runs."""

from __future__ import annotations

from pathlib import Path

import neo4j
from cosmo_kg.graph.loader import LoadConfig, LoaderSettings, load

from tests.conftest import SAMPLES

KNOWLEDGE = SAMPLES / "intentionqa_knowledge.parquet"
PRODUCTS = SAMPLES / "intentionqa_products.parquet"


def graph_dump(driver: neo4j.Driver) -> tuple[list[tuple], list[tuple]]:
    """Every node and relationship with its properties, sorted (LoadRun bookkeeping left out)."""
    nodes, _, _ = driver.execute_query(
        "MATCH (n) WHERE NOT n:LoadRun RETURN labels(n) AS l, properties(n) AS p", database_="neo4j")
    rels, _, _ = driver.execute_query(
        "MATCH (a)-[r]->(b) RETURN type(r) AS t, properties(a) AS a, properties(b) AS b, "
        "properties(r) AS p", database_="neo4j")
    def freeze(value: object) -> str:
        return repr(sorted(value.items())) if isinstance(value, dict) else repr(value)
    return (sorted(tuple(freeze(v) for v in r.values()) for r in nodes),
            sorted(tuple(freeze(v) for v in r.values()) for r in rels))


def test_load_twice_changes_nothing(driver: neo4j.Driver, tmp_path: Path) -> None:
    config = LoadConfig(rejects_dir=tmp_path, knowledge=KNOWLEDGE, products=PRODUCTS)
    first = load(config, driver, LoaderSettings(batch_size=500))
    after_first = graph_dump(driver)
    second = load(config, driver, LoaderSettings(batch_size=500))
    assert graph_dump(driver) == after_first
    assert first.relationships_created > 0
    assert second.nodes_created == 0 and second.relationships_created == 0
    assert second.seen_at == first.seen_at
