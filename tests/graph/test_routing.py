"""Writes through a ``neo4j://`` routing URI, the way they reach a cluster's leader (the local
server answers routing for itself), in the database the ``neo4j.database`` setting names."""

from __future__ import annotations

import json
from pathlib import Path

import neo4j
import pytest
from click.testing import CliRunner

from cosmo_kg.cli import cli
from cosmo_kg.graph.connection import Neo4jSettings, connect
from cosmo_kg.graph.loader import LoadConfig, LoaderSettings, load
from cosmo_kg.graph.version import WRITTEN, WriteSignal
from tests.conftest import SAMPLES

pytestmark = pytest.mark.neo4j

KNOWLEDGE = ["ingest", "knowledge", str(SAMPLES / "intentionqa_knowledge.parquet")]


def test_a_load_through_a_routing_uri_lands_in_the_servers_default_database_and_stats_see_it(
    driver: neo4j.Driver, routing_env: dict[str, str]
) -> None:
    products = ["--products", str(SAMPLES / "intentionqa_products.parquet")]
    loaded = CliRunner().invoke(cli, [*KNOWLEDGE, *products])
    assert loaded.exit_code == 0, loaded.output
    report = json.loads(Path(loaded.output.split("report:")[1].strip()).read_text())
    assert report["rows_in"] == {"knowledge": 1320, "products": 1690}
    assert report["bookmarks"], "the load's bookmarks are reported"
    found = driver.execute_query("MATCH (p:Product) RETURN count(p) AS n", database_="neo4j")
    assert found.records[0]["n"] == 1690
    stats = CliRunner().invoke(cli, ["graph", "stats", "--json"])  # a READ session, bookmarked
    assert stats.exit_code == 0, stats.output
    assert json.loads(stats.output)["nodes"]["Product"] == 1690


def test_a_database_the_server_lacks_is_a_clear_error_naming_the_setting(
    routing_env: dict[str, str],
) -> None:
    result = CliRunner().invoke(cli, KNOWLEDGE, env={"NEO4J_DATABASE": "no-such-db"})
    assert result.exit_code == 3, result.output
    first, _, rest = result.output.partition("\n")
    assert first.startswith("Error: the load failed: ") and "'no-such-db'" in first
    assert "NEO4J_DATABASE" in rest and "Traceback" not in result.output


def test_a_load_records_its_bookmarks_with_the_write_signal(
    driver: neo4j.Driver, routing_settings: Neo4jSettings, tmp_path: Path
) -> None:
    knowledge = SAMPLES / "intentionqa_knowledge.parquet"
    with connect(routing_settings) as routed:
        report = load(LoadConfig(rejects_dir=tmp_path, knowledge=knowledge), routed, LoaderSettings())
        with routed.session() as session:
            signal = WriteSignal.of_session(session)
    names = signal.names() or frozenset()
    records = [json.loads((signal.directory / n).read_text() or "[]") for n in names if n.startswith(WRITTEN)]
    assert report.bookmarks and report.bookmarks in records
    assert set(report.bookmarks) <= signal.bookmarks(names)
