"""Behaviour edges in the real Neo4j match the store's merged counts, through the bulk loader."""

from __future__ import annotations

from pathlib import Path

import neo4j
import polars as pl
import pytest
from click.testing import CliRunner

from cosmo_kg.cli import cli
from cosmo_kg.graph.loader import LoaderSettings
from cosmo_kg.ingest.pipeline import GraphTarget, run_co_buy, run_events, run_products, run_search_buy
from tests.ingest.conftest import FOLKSCOPE, WANDS_PRODUCTS, WANDS_QUERIES, config, event_log, store_state

pytestmark = pytest.mark.neo4j


def _edges(driver: neo4j.Driver, rel: str) -> list[tuple[str, str, int]]:
    records, _, _ = driver.execute_query(
        f"MATCH (a)-[r:{rel}]->(b:Product) "
        "RETURN coalesce(a.text, a.product_id) AS a, b.product_id AS b, r.count AS c ORDER BY a, b"
    )
    return [(r["a"], r["b"], r["c"]) for r in records]


def test_behaviour_edges_match_the_ingested_counts(
    driver: neo4j.Driver, workspace: Path, tmp_path: Path
) -> None:
    graph = GraphTarget(driver, LoaderSettings())
    run_co_buy(config(FOLKSCOPE, workspace, adapter="folkscope"), graph)
    run_products(config(WANDS_PRODUCTS, workspace), graph)
    run_search_buy(config(WANDS_QUERIES, workspace, adapter="wands"), graph)
    more = tmp_path / "more.csv"
    more.write_text("query,product_id,count\nunique coffee tables,handmade-coffee-cocktail-tables,4\n")
    report = run_search_buy(config(more, workspace, day="2024-05-02"), graph)
    assert report.load is not None and report.load["rows_written"]["SEARCH_BUY"] == 1
    catalog, search_buy, co_buy = store_state(workspace)
    assert _edges(driver, "SEARCH_BUY") == sorted(search_buy.rows())
    assert _edges(driver, "CO_BUY") == sorted(co_buy.rows())
    assert ("unique coffee tables", "handmade-coffee-cocktail-tables", 5) in _edges(driver, "SEARCH_BUY")
    titles, _, _ = driver.execute_query("MATCH (p:Product) WHERE p.title IS NOT NULL RETURN count(p) AS n")
    assert titles[0]["n"] == catalog.height


def test_event_files_load_as_one_log_and_again_change_nothing(
    driver: neo4j.Driver, workspace: Path, tmp_path: Path
) -> None:
    first = event_log(
        tmp_path / "part-0.parquet",
        [
            ("s1", 0, "search", None, "tent", None),
            ("s1", 1, "click", "P1", None, None),
            ("s2", 0, "purchase", "P2", None, None),
        ],
    )
    second = event_log(
        tmp_path / "part-1.parquet",
        [("s1", 5, "purchase", "P1", None, None), ("s2", 3, "purchase", "P3", None, None)],
    )
    ingest = config(first, workspace, more_files=(second,))
    run_events(ingest, GraphTarget(driver, LoaderSettings()))
    loaded = _edges(driver, "SEARCH_BUY"), _edges(driver, "CO_BUY")
    assert loaded == ([("tent", "P1", 1)], [("P2", "P3", 1)])
    again = run_events(ingest, GraphTarget(driver, LoaderSettings()))
    assert again.replaced_increment
    assert (_edges(driver, "SEARCH_BUY"), _edges(driver, "CO_BUY")) == loaded


def test_cli_ingest_loads_the_graph_and_writes_a_report(
    driver: neo4j.Driver, neo4j_env: dict[str, str]
) -> None:
    result = CliRunner().invoke(cli, ["ingest", "co-buy", str(FOLKSCOPE), "--adapter", "folkscope"])
    assert result.exit_code == 0, result.output
    assert "rows in 240" in result.output and "graph:    load" in result.output
    reports = list((Path(neo4j_env["COSMO_WORKSPACE"]) / "reports").glob("ingest-co-buy-*.json"))
    assert len(reports) == 1
    assert len(_edges(driver, "CO_BUY")) == store_state(Path(neo4j_env["COSMO_WORKSPACE"]))[2].height
    out = Path(neo4j_env["COSMO_WORKSPACE"]) / "pairs.parquet"
    result = CliRunner().invoke(cli, ["sample", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(out).height > 0
