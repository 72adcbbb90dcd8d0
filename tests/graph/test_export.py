"""Export → a fresh graph → import gives an equal graph; the files follow the SPEC contracts."""

from __future__ import annotations

from pathlib import Path

import neo4j
import polars as pl
import pytest

from cosmo_kg.graph.export import ExportConfig, export_graph, import_graph
from cosmo_kg.graph.retract import RetractConfig, retract
from cosmo_kg.graph.version import graph_version
from cosmo_kg.schemas import PAIRS, PRODUCTS
from tests.conftest import wipe
from tests.graph.test_loader import graph_dump
from tests.graph.test_retract import two_runs  # noqa: F401  (fixture)

pytestmark = pytest.mark.neo4j


def test_export_then_import_into_a_fresh_graph_gives_an_equal_graph(
    two_runs: tuple[neo4j.Driver, tuple[list, list]],  # noqa: F811
    tmp_path: Path,
) -> None:
    driver, _ = two_runs
    # A retraction by domain leaves edges no pair-level knowledge file could give back.
    retract(RetractConfig(relation="USED_FOR_EVE", domain="Pet Supplies"), driver)
    exported = graph_dump(driver)
    edges, _, _ = driver.execute_query("MATCH ()-[e]->(:Intention) RETURN count(e) AS n")
    report = export_graph(ExportConfig(tmp_path / "export", batch_size=7), driver)
    assert report.rows["knowledge_edges"] == edges[0]["n"] > 7  # several row groups

    wipe(driver)
    imported = import_graph(tmp_path / "export", driver, batch_size=5)
    assert graph_dump(driver) == exported
    assert imported.rows["knowledge_edges"] == report.rows["knowledge_edges"]
    assert graph_version(driver).kind == "import"


def test_exported_products_and_pairs_follow_the_stage_contracts(
    two_runs: tuple[neo4j.Driver, tuple[list, list]],  # noqa: F811
    tmp_path: Path,
) -> None:
    driver, _ = two_runs
    export_graph(ExportConfig(tmp_path), driver)
    products = pl.read_parquet(tmp_path / "products.parquet")
    pairs = pl.read_parquet(tmp_path / "pairs.parquet")
    assert products.columns == list(PRODUCTS.columns) and products.height == 7
    assert pairs.columns == list(PAIRS.columns)
    assert sorted(pairs.filter(pl.col("kind") == "search_buy")["query"].to_list()) == [
        "camping tent",
        "dog walking",
        "tent",
    ]
    behaviour, _, _ = driver.execute_query("MATCH ()-[e:SEARCH_BUY|CO_BUY]->() RETURN count(e) AS n")
    assert pairs["behavior_id"].n_unique() == pairs.height == behaviour[0]["n"] == 9
