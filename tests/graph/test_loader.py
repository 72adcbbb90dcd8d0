"""The bulk loader against the real Neo4j: idempotency, rejects, newer runs."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import neo4j
import polars as pl

from cosmo_kg.graph.loader import LoadConfig, LoaderSettings, load
from tests.conftest import SAMPLES

KNOWLEDGE = SAMPLES / "intentionqa_knowledge.parquet"
PRODUCTS = SAMPLES / "intentionqa_products.parquet"


def graph_dump(driver: neo4j.Driver) -> tuple[list[tuple], list[tuple]]:
    """Every node and relationship with its properties, sorted (LoadRun bookkeeping left out)."""
    nodes, _, _ = driver.execute_query(
        "MATCH (n) WHERE NOT n:LoadRun RETURN labels(n) AS l, properties(n) AS p",
        database_="neo4j",
        bookmark_manager_=None,
    )
    rels, _, _ = driver.execute_query(
        "MATCH (a)-[r]->(b) RETURN type(r) AS t, properties(a) AS a, properties(b) AS b, properties(r) AS p",
        database_="neo4j",
        bookmark_manager_=None,
    )

    def freeze(value: object) -> str:
        return repr(sorted(value.items())) if isinstance(value, dict) else repr(value)

    return (
        sorted(tuple(freeze(v) for v in r.values()) for r in nodes),
        sorted(tuple(freeze(v) for v in r.values()) for r in rels),
    )


def test_load_twice_changes_nothing(driver: neo4j.Driver, tmp_path: Path) -> None:
    config = LoadConfig(rejects_dir=tmp_path, knowledge=KNOWLEDGE, products=PRODUCTS)
    first = load(config, driver, LoaderSettings(batch_size=500))
    after_first = graph_dump(driver)
    second = load(replace(config, force=True), driver, LoaderSettings(batch_size=500))
    assert graph_dump(driver) == after_first
    assert first.relationships_created > 0
    assert second.nodes_created == 0 and second.relationships_created == 0
    assert second.seen_at == first.seen_at


def test_a_completed_load_is_not_applied_again_unless_forced(driver: neo4j.Driver, tmp_path: Path) -> None:
    config = LoadConfig(rejects_dir=tmp_path, knowledge=KNOWLEDGE, products=PRODUCTS)
    first = load(config, driver, LoaderSettings())
    again = load(config, driver, LoaderSettings())
    assert again.already_loaded and again.seen_at == first.seen_at
    assert again.properties_set == 0 and again.step_seconds == {}
    assert load(replace(config, force=True), driver, LoaderSettings()).properties_set > 0


def _knowledge_row(**overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "behavior_id": "b1",
        "kind": "co_buy",
        "query": None,
        "product_id": "P1",
        "product_id_b": "P2",
        "relation": "USED_FOR_EVE",
        "tail": "camping",
        "tail_type": None,
        "plausibility": 0.9,
        "typicality": 0.8,
        "support": 1,
        "model": "m1",
        "run_id": "run1",
    }
    row.update(overrides)
    return row


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    pl.DataFrame(rows, schema=KNOWLEDGE_SCHEMA).write_parquet(path)
    return path


KNOWLEDGE_SCHEMA = {
    "behavior_id": pl.String,
    "kind": pl.String,
    "query": pl.String,
    "product_id": pl.String,
    "product_id_b": pl.String,
    "relation": pl.String,
    "tail": pl.String,
    "tail_type": pl.String,
    "plausibility": pl.Float64,
    "typicality": pl.Float64,
    "support": pl.Int64,
    "model": pl.String,
    "run_id": pl.String,
}


def test_bad_rows_go_to_rejects_with_reasons(driver: neo4j.Driver, tmp_path: Path) -> None:
    catalog = tmp_path / "products.parquet"
    pl.DataFrame({"product_id": ["P1", "P2", "P3"], "title": ["tent", "sleeping bag", "lamp"]}).write_parquet(
        catalog
    )
    rows = [
        _knowledge_row(),
        _knowledge_row(behavior_id="b2", relation="LIKES"),
        _knowledge_row(behavior_id="b3", tail="   "),
        _knowledge_row(behavior_id="b4", tail="x" * 10_000),
        _knowledge_row(behavior_id="b5", plausibility=float("nan")),
        _knowledge_row(behavior_id="b6", product_id=None),
        _knowledge_row(behavior_id="b7", product_id_b="P404"),
        _knowledge_row(behavior_id="b8", kind="search_buy", query=None, product_id_b=None),
        _knowledge_row(behavior_id="b9", product_id_b="P1"),
        _knowledge_row(behavior_id="b10", kind="bought"),
        _knowledge_row(behavior_id="b11", typicality=1.5),
        _knowledge_row(),  # exact repeat of the first row
        _knowledge_row(behavior_id="b12", product_id="P3", relation="USED_IN_LOC", tail="Tent  Site"),
    ]
    config = LoadConfig(
        rejects_dir=tmp_path / "rejects", knowledge=_write(tmp_path / "k.parquet", rows), products=catalog
    )
    report = load(config, driver, LoaderSettings())
    expected = {
        "unknown_relation": 1,
        "empty_tail": 1,
        "tail_too_long": 1,
        "bad_plausibility": 1,
        "missing_product_id": 1,
        "unknown_product": 1,
        "missing_query": 1,
        "self_pair": 1,
        "unknown_kind": 1,
        "bad_typicality": 1,
        "duplicate_row": 1,
    }
    assert report.rejected["knowledge"] == dict(sorted(expected.items()))
    rejects = pl.read_parquet(report.rejects_files["knowledge"])
    assert rejects.height == sum(expected.values())
    assert set(rejects["reason"]) == set(expected)
    intentions, _, _ = driver.execute_query("MATCH (i:Intention) RETURN i.text AS t ORDER BY t")
    assert [r["t"] for r in intentions] == ["camping", "tent site"]


def test_newer_run_updates_scores_and_last_seen(driver: neo4j.Driver, tmp_path: Path) -> None:
    day1 = datetime(2026, 1, 1, tzinfo=UTC)
    day2 = datetime(2026, 1, 2, tzinfo=UTC)
    old = _write(tmp_path / "old.parquet", [_knowledge_row()])
    new = _write(tmp_path / "new.parquet", [_knowledge_row(plausibility=0.6, run_id="run2")])
    first = load(LoadConfig(rejects_dir=tmp_path, knowledge=old, seen_at=day1), driver, LoaderSettings())
    newer = load(LoadConfig(rejects_dir=tmp_path, knowledge=new, seen_at=day2), driver, LoaderSettings())
    load(LoadConfig(rejects_dir=tmp_path, knowledge=old, seen_at=day1, force=True), driver, LoaderSettings())
    assert first.first_load and not newer.first_load  # CREATE into the empty graph, then MERGE
    edges, _, _ = driver.execute_query(
        "MATCH (:Product)-[e:USED_FOR_EVE]->(:Intention {text: 'camping'}) "
        "RETURN e.plausibility AS p, e.run_id AS run, e.first_seen AS first, e.last_seen AS last"
    )
    assert len(edges) == 2  # both products of the co-buy pair
    for edge in edges:
        assert (edge["p"], edge["run"]) == (0.6, "run2")  # the old file did not roll it back
        assert edge["first"].to_native() == day1 and edge["last"].to_native() == day2


def test_search_buy_knowledge_hangs_off_query_and_product(driver: neo4j.Driver, tmp_path: Path) -> None:
    row = _knowledge_row(kind="search_buy", query="  Camping TENT ", product_id_b=None)
    load(
        LoadConfig(rejects_dir=tmp_path, knowledge=_write(tmp_path / "k.parquet", [row])),
        driver,
        LoaderSettings(),
    )
    heads, _, _ = driver.execute_query(
        "MATCH (h)-[:USED_FOR_EVE]->(:Intention {text: 'camping'}) "
        "RETURN labels(h)[0] AS label, coalesce(h.text, h.product_id) AS key ORDER BY label"
    )
    assert [(r["label"], r["key"]) for r in heads] == [("Product", "P1"), ("Query", "camping tent")]
    buys, _, _ = driver.execute_query(
        "MATCH (:Query {text: 'camping tent'})-[b:SEARCH_BUY]->(p) RETURN p.product_id AS p"
    )
    assert [r["p"] for r in buys] == ["P1"]


def test_pairs_set_behaviour_counts(driver: neo4j.Driver, tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.parquet"
    pl.DataFrame(
        {
            "behavior_id": ["x", "y"],
            "kind": ["co_buy", "search_buy"],
            "query": [None, "Tent"],
            "product_id": ["P2", "P1"],
            "product_id_b": ["P1", None],
            "count": [7, 3],
        }
    ).write_parquet(pairs)
    config = LoadConfig(
        rejects_dir=tmp_path, knowledge=_write(tmp_path / "k.parquet", [_knowledge_row()]), pairs=pairs
    )
    load(config, driver, LoaderSettings())
    counts, _, _ = driver.execute_query(
        "MATCH (a)-[r:CO_BUY|SEARCH_BUY]->(b) "
        "RETURN type(r) AS t, coalesce(a.product_id, a.text) AS a, b.product_id AS b, r.count AS c "
        "ORDER BY t"
    )
    assert [tuple(r.values()) for r in counts] == [("CO_BUY", "P1", "P2", 7), ("SEARCH_BUY", "tent", "P1", 3)]


def test_recatalogued_product_moves_to_its_new_domain_and_type(driver: neo4j.Driver, tmp_path: Path) -> None:
    first, second = tmp_path / "p1.parquet", tmp_path / "p2.parquet"
    pl.DataFrame(
        {"product_id": ["P1"], "title": ["tent"], "product_type": ["tent"], "domain": ["Others"]}
    ).write_parquet(first)
    pl.DataFrame(
        {
            "product_id": ["P1"],
            "title": ["tent"],
            "product_type": ["camping tent"],
            "domain": ["Sports & Outdoors"],
        }
    ).write_parquet(second)
    for catalog in (first, second):
        load(LoadConfig(rejects_dir=tmp_path, products=catalog), driver, LoaderSettings())
    links, _, _ = driver.execute_query(
        "MATCH (:Product {product_id: 'P1'})-[r:IN_DOMAIN|OF_TYPE]->(n) RETURN type(r) AS t, n.name AS name "
        "ORDER BY t"
    )
    assert [(r["t"], r["name"]) for r in links] == [
        ("IN_DOMAIN", "Sports & Outdoors"),
        ("OF_TYPE", "camping tent"),
    ]
