"""First loads through Neo4j's offline importer give the graph a transactional load gives.

The importer stops and restarts the server, so these tests run on a private local server.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import neo4j
import pytest

from cosmo_kg.graph import bulk_import, server
from cosmo_kg.graph.connection import create_driver
from cosmo_kg.graph.loader import LoadConfig, LoaderSettings, load
from cosmo_kg.graph.prepare import prepare_graph, read_inputs
from cosmo_kg.graph.schema import apply_schema
from cosmo_kg.graph.server import LocalNeo4jSettings
from cosmo_kg.graph.stats import graph_stats
from tests.conftest import free_port, wipe
from tests.graph.test_loader import KNOWLEDGE, PRODUCTS, graph_dump

SEEN_AT = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
BULK = LoaderSettings(bulk_import_min_edges=1)
TRANSACTIONS = LoaderSettings(bulk_import_min_edges=0)


@pytest.fixture(scope="module")
def local_neo4j(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNeo4jSettings]:
    settings = LocalNeo4jSettings(
        home=str(tmp_path_factory.mktemp("bulk-neo4j")),
        bolt_port=free_port(),
        http_port=free_port(),
        heap="512m",
        pagecache="128m",
    )
    server.start(settings)
    yield settings
    server.stop(settings)


@pytest.fixture
def driver(local_neo4j: LocalNeo4jSettings) -> Iterator[neo4j.Driver]:
    """An empty graph with the schema, on the private server."""
    with create_driver(server.client_settings(local_neo4j)) as opened:
        apply_schema(opened)
        wipe(opened)
        yield opened


@pytest.fixture
def config(tmp_path: Path) -> LoadConfig:
    return LoadConfig(rejects_dir=tmp_path, knowledge=KNOWLEDGE, products=PRODUCTS, seen_at=SEEN_AT)


@pytest.fixture
def transactional_dump(driver: neo4j.Driver, config: LoadConfig) -> tuple[list[tuple], list[tuple]]:
    """The graph a transactional load of the sample gives; the database is emptied afterwards."""
    assert load(config, driver, TRANSACTIONS).method == "transactions"
    dump = graph_dump(driver)
    wipe(driver)
    return dump


def _constraints(driver: neo4j.Driver) -> int:
    records, _, _ = driver.execute_query(
        "SHOW CONSTRAINTS YIELD name RETURN count(*) AS n", bookmark_manager_=None
    )
    return int(records[0]["n"])


def test_bulk_import_builds_the_graph_a_transactional_load_builds(
    driver: neo4j.Driver,
    local_neo4j: LocalNeo4jSettings,
    config: LoadConfig,
    transactional_dump: tuple[list[tuple], list[tuple]],
) -> None:
    constraints = _constraints(driver)
    report = load(config, driver, BULK, local=local_neo4j)
    assert report.method == "bulk-import"
    assert graph_dump(driver) == transactional_dump
    assert _constraints(driver) == constraints
    counted = graph_stats(driver)
    assert (report.nodes_created, report.relationships_created) == (
        counted.total_nodes - 1,
        counted.total_relationships,
    )  # all but the :LoadRun record
    assert load(config, driver, BULK, local=local_neo4j).already_loaded
    forced = load(LoadConfig(**{**config.__dict__, "force": True}), driver, BULK, local=local_neo4j)
    assert forced.method == "transactions"  # the database is no longer empty
    assert (forced.nodes_created, forced.relationships_created) == (0, 0)
    assert not bulk_import.pending(local_neo4j)


def test_an_interrupted_bulk_import_recovers_and_loads_again_to_the_same_graph(
    driver: neo4j.Driver,
    local_neo4j: LocalNeo4jSettings,
    config: LoadConfig,
    tmp_path: Path,
    transactional_dump: tuple[list[tuple], list[tuple]],
) -> None:
    graph = prepare_graph(*read_inputs(KNOWLEDGE, PRODUCTS, None), max_tail_chars=200)
    files = bulk_import.write_import_files(graph, SEEN_AT, tmp_path / "files")
    bulk_import.run_import(local_neo4j, files, "neo4j")  # killed here: no schema, no LoadRun yet
    assert bulk_import.pending(local_neo4j)
    assert bulk_import.recover(local_neo4j, "neo4j")
    assert graph_dump(driver) == ([], [])
    assert load(config, driver, BULK, local=local_neo4j).method == "bulk-import"
    assert graph_dump(driver) == transactional_dump


def test_bulk_import_is_only_for_big_loads_into_an_empty_database(
    driver: neo4j.Driver, local_neo4j: LocalNeo4jSettings, config: LoadConfig
) -> None:
    small = LoaderSettings(bulk_import_min_edges=10**9)
    assert load(config, driver, small, local=local_neo4j).method == "transactions"
    other = LoadConfig(**{**config.__dict__, "products": None})
    assert load(other, driver, BULK, local=local_neo4j).method == "transactions"


def test_only_the_local_servers_bolt_port_is_served(local_neo4j: LocalNeo4jSettings) -> None:
    assert bulk_import.serves(local_neo4j, local_neo4j.bolt_uri)
    assert bulk_import.serves(local_neo4j, f"neo4j://localhost:{local_neo4j.bolt_port}")
    assert not bulk_import.serves(local_neo4j, f"bolt://db.example.com:{local_neo4j.bolt_port}")
    assert not bulk_import.serves(local_neo4j, "bolt://127.0.0.1:1")
