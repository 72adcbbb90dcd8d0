"""Retraction against the real Neo4j: exact counts, dry runs, domain scope, new graph version,
and a retraction killed with SIGKILL then run again ends in the uninterrupted graph."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import neo4j
import polars as pl
import pytest

from cosmo_kg.graph.loader import LoadConfig, LoaderSettings, load
from cosmo_kg.graph.retract import RetractConfig, retract
from cosmo_kg.graph.version import graph_version
from tests.api.conftest import write_fixture_files
from tests.conftest import SAMPLES, wipe
from tests.graph.test_loader import graph_dump

pytestmark = pytest.mark.neo4j
SEEN_AT = datetime(2026, 3, 1, tzinfo=UTC)


def _load(driver: neo4j.Driver, tmp_path: Path, **files: Path) -> None:
    load(LoadConfig(rejects_dir=tmp_path / "rejects", seen_at=SEEN_AT, **files), driver, LoaderSettings())


def _second_run(path: Path) -> Path:
    """Run ``run-2``: a search-buy and a co-buy explanation, 4 edges, one new intention alone."""
    pl.DataFrame(
        {
            "kind": ["search_buy", "co_buy"],
            "query": ["dog walking", None],
            "product_id": ["P5", "P1"],
            "product_id_b": [None, "P2"],
            "relation": ["USED_ON", "USED_WITH"],
            "tail": ["rainy morning", "camp kitchen"],
            "plausibility": [0.9, 0.8],
            "typicality": [0.9, 0.8],
            "support": [1, 1],
            "model": ["other-model", "other-model"],
            "run_id": ["run-2", "run-2"],
        }
    ).write_parquet(path)
    return path


@pytest.fixture
def two_runs(driver: neo4j.Driver, tmp_path: Path) -> tuple[neo4j.Driver, tuple[list, list]]:
    """The fixture graph (run-1), its dump, then run-2 loaded on top."""
    files = write_fixture_files(tmp_path / "fixture")
    _load(driver, tmp_path, knowledge=files["knowledge"], products=files["products"], pairs=files["pairs"])
    first = graph_dump(driver)
    _load(driver, tmp_path, knowledge=_second_run(tmp_path / "run2.parquet"))
    return driver, first


def test_dry_run_counts_exactly_what_the_retraction_then_deletes(
    two_runs: tuple[neo4j.Driver, tuple[list, list]],
) -> None:
    driver, before_run_2 = two_runs
    loaded = graph_dump(driver)
    dry = retract(RetractConfig(run_id="run-2", dry_run=True), driver)
    assert (dry.edges, dry.intentions_removed) == ({"USED_ON": 2, "USED_WITH": 2}, 2)
    assert graph_dump(driver) == loaded

    done = retract(RetractConfig(run_id="run-2"), driver)
    assert (done.edges, done.edges_total, done.intentions_removed) == (dry.edges, 4, 2)
    assert graph_dump(driver) == before_run_2
    again = retract(RetractConfig(run_id="run-2"), driver)
    assert (again.edges_total, again.intentions_removed) == (0, 0)


def test_model_and_relation_filters_combine(two_runs: tuple[neo4j.Driver, tuple[list, list]]) -> None:
    driver, _ = two_runs
    report = retract(RetractConfig(model="other-model", relation="USED_WITH"), driver)
    assert (report.edges, report.intentions_removed) == ({"USED_WITH": 2}, 1)
    left, _, _ = driver.execute_query("MATCH ()-[e:USED_ON]->() RETURN count(e) AS n")
    assert left[0]["n"] == 2


def test_a_domain_scopes_product_edges_and_the_queries_that_bought_them(
    two_runs: tuple[neo4j.Driver, tuple[list, list]],
) -> None:
    driver, _ = two_runs
    report = retract(RetractConfig(relation="USED_FOR_EVE", domain="Pet Supplies"), driver)
    assert (report.edges, report.intentions_removed) == ({"USED_FOR_EVE": 3}, 1)
    rows, _, _ = driver.execute_query(
        "MATCH (h)-[:USED_FOR_EVE]->(i) RETURN coalesce(h.product_id, h.text) AS head, i.text AS tail "
        "ORDER BY head"
    )
    assert [(r["head"], r["tail"]) for r in rows] == [
        ("P1", "go camping"),
        ("P2", "go camping"),
        ("P3", "go camping"),
        ("P7", "go camping"),
        ("camping tent", "go camping"),
    ]


def test_a_retraction_is_a_new_graph_version(two_runs: tuple[neo4j.Driver, tuple[list, list]]) -> None:
    driver, _ = two_runs
    before = graph_version(driver)
    retract(RetractConfig(run_id="run-2", dry_run=True), driver)
    assert graph_version(driver) == before
    retract(RetractConfig(run_id="run-2"), driver)
    after = graph_version(driver)
    assert after.kind == "retraction" and after.tag != before.tag


def _retract_command() -> list[str]:
    return [
        sys.executable,
        "-m",
        "cosmo_kg.cli",
        "graph",
        "retract",
        "--model",
        "human:intentionqa",
        "--relation",
        "CAPABLE_OF",
        "--batch-size",
        "1",
    ]


def _capable_of(driver: neo4j.Driver) -> int:
    records, _, _ = driver.execute_query("MATCH ()-[e:CAPABLE_OF]->() RETURN count(e) AS n")
    return int(records[0]["n"])


@pytest.mark.slow
def test_kill_9_mid_retraction_then_rerun_gives_the_uninterrupted_graph(
    driver: neo4j.Driver, neo4j_env: dict[str, str], tmp_path: Path
) -> None:
    knowledge = SAMPLES / "intentionqa_knowledge.parquet"
    products = SAMPLES / "intentionqa_products.parquet"
    _load(driver, tmp_path, knowledge=knowledge, products=products)
    retract(RetractConfig(model="human:intentionqa", relation="CAPABLE_OF"), driver)
    uninterrupted = graph_dump(driver)
    wipe(driver)
    _load(driver, tmp_path, knowledge=knowledge, products=products)
    total = _capable_of(driver)

    env = {**os.environ, **neo4j_env}
    process = subprocess.Popen(
        _retract_command(), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while _capable_of(driver) > total - 50 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, "the retraction finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert 0 < _capable_of(driver) < total

    rerun = subprocess.run(_retract_command(), env=env, check=True, capture_output=True, text=True)
    assert "finished an interrupted run" in rerun.stdout
    assert graph_dump(driver) == uninterrupted
