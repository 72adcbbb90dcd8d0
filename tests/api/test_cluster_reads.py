"""The API through a ``neo4j://`` routing URI (the local server answers routing for itself): reads
in read sessions, which a cluster routes to followers, starting from the bookmarks the last write
on this host recorded, so the first read after a load sees it wherever it runs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import neo4j
import pytest
from fastapi.testclient import TestClient

from cosmo_kg.api.app import create_app
from cosmo_kg.api.freshness import Freshness
from cosmo_kg.api.index import TextEmbedder
from cosmo_kg.api.index_build import IndexConfig, build_index
from cosmo_kg.api.reads import GraphReader, open_driver
from cosmo_kg.api.services import ServeSettings
from cosmo_kg.api.settings import IndexSettings
from cosmo_kg.errors import GraphError
from cosmo_kg.graph.connection import DATABASE_HINT, Neo4jSettings, connect
from cosmo_kg.graph.loader import LoadConfig, LoaderSettings, LoadReport, load
from cosmo_kg.graph.retract import RetractConfig, retract
from cosmo_kg.graph.version import recorded_bookmarks
from tests.api.test_freshness import NEW_TAIL, intentions_of_query, own_settings, write_knowledge

pytestmark = pytest.mark.neo4j


class RecordingDriver:
    """A real async driver that notes the access mode and bookmarks each session starts with."""

    def __init__(self, driver: neo4j.AsyncDriver) -> None:
        self.driver = driver
        self.sessions: list[tuple[str, frozenset[str]]] = []

    def session(self, **config: Any) -> neo4j.AsyncSession:
        bookmarks = config.get("bookmarks") or neo4j.Bookmarks()
        self.sessions.append((config.get("default_access_mode", "WRITE"), frozenset(bookmarks.raw_values)))
        return self.driver.session(**config)

    async def close(self) -> None:
        await self.driver.close()


def routed_load(routing_settings: Neo4jSettings, directory: Path, tail: str) -> LoadReport:
    knowledge = write_knowledge(
        directory / "k.parquet", [("search_buy", "camping tent", "P1", None, "USED_ON", tail)]
    )
    with connect(routing_settings) as routed:
        return load(LoadConfig(rejects_dir=directory, knowledge=knowledge), routed, LoaderSettings())


def test_the_api_serves_through_a_routing_uri_and_its_next_answer_sees_a_load(
    routing_settings: Neo4jSettings,
    tmp_path: Path,
    settings: ServeSettings,
    built_index: Path,
    embedder: TextEmbedder,
    fixture_graph: neo4j.Driver,
) -> None:
    own = own_settings(routing_settings, tmp_path, settings)
    try:
        with TestClient(create_app(own, embedder=embedder)) as client:
            assert client.get("/readyz").json()["checks"]["neo4j"] == "ok"
            assert NEW_TAIL not in intentions_of_query(client, "camping tent")[1]
            routed_load(routing_settings, tmp_path, NEW_TAIL)
            source, texts = intentions_of_query(client, "camping tent")
    finally:
        retract(RetractConfig(run_id="fresh-run"), fixture_graph)
    assert (source, texts[0]) == ("graph", NEW_TAIL)


def test_the_first_read_after_a_load_starts_from_the_loads_bookmarks(
    routing_settings: Neo4jSettings, fixture_graph: neo4j.Driver, tmp_path: Path
) -> None:
    async def scenario() -> tuple[LoadReport, list[tuple[str, frozenset[str]]]]:
        driver = RecordingDriver(open_driver(routing_settings))
        reader = GraphReader(driver)  # type: ignore[arg-type]
        freshness = Freshness(reader, check_seconds=60)
        try:
            await freshness.watch_graph()  # learns this database's write signal
            report = await asyncio.to_thread(routed_load, routing_settings, tmp_path, "first light")
            driver.sessions.clear()
            await freshness.current()  # the signal changed: the graph version is read
            await reader.products(["P1"])  # the request's own read
            return report, driver.sessions
        finally:
            await driver.close()

    try:
        report, sessions = asyncio.run(scenario())
    finally:
        retract(RetractConfig(run_id="fresh-run"), fixture_graph)
    recorded = frozenset(report.bookmarks)
    assert recorded and [mode for mode, _ in sessions] == [neo4j.READ_ACCESS] * 2
    version_read, request_read = (bookmarks for _, bookmarks in sessions)
    assert recorded <= version_read
    assert request_read == recorded  # nothing was written since: the load's own bookmarks


def test_an_index_build_after_a_load_reads_from_the_loads_bookmarks(
    routing_settings: Neo4jSettings, fixture_graph: neo4j.Driver, tmp_path: Path, embedder: TextEmbedder
) -> None:
    report = routed_load(routing_settings, tmp_path, "index me after the load")
    try:
        with connect(routing_settings) as routed:
            recorded = set(recorded_bookmarks(routed).raw_values)
            built = build_index(
                IndexConfig(rebuild=True, database=""), IndexSettings(dir=str(tmp_path)), routed, embedder
            )
    finally:
        retract(RetractConfig(run_id="fresh-run"), fixture_graph)
    assert report.bookmarks and set(report.bookmarks) <= recorded
    intentions = fixture_graph.execute_query("MATCH (i:Intention) RETURN count(i) AS n").records[0]["n"]
    assert built.totals["intention"] == intentions + 1  # the load's new one, retracted since


def test_a_database_the_server_lacks_is_refused_with_the_setting_named(
    routing_settings: Neo4jSettings,
) -> None:
    async def read() -> None:
        driver = open_driver(routing_settings)
        try:
            await GraphReader(driver, "no-such-db").ping()
        finally:
            await driver.close()

    with pytest.raises(GraphError) as refused:
        asyncio.run(read())
    assert "no-such-db" in str(refused.value) and refused.value.hint == DATABASE_HINT
