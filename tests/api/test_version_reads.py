"""The graph version a request is served at comes from a read that started after the request
arrived, and requests arriving together share that read."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import neo4j
import pytest

from cosmo_kg.api.freshness import Freshness
from cosmo_kg.api.reads import GraphReader, open_driver
from cosmo_kg.graph.connection import Neo4jSettings
from cosmo_kg.graph.loader import LoadConfig, LoaderSettings, load
from cosmo_kg.graph.retract import RetractConfig, retract
from cosmo_kg.graph.version import graph_version
from tests.api.test_freshness import write_knowledge

pytestmark = pytest.mark.neo4j


class HeldReader(GraphReader):
    """A real reader whose answers are held back until ``release`` is set, after the read."""

    def __init__(self, driver: neo4j.AsyncDriver) -> None:
        super().__init__(driver)
        self.read_done = asyncio.Event()
        self.release = asyncio.Event()

    async def rows(self, statement: str, **params: Any) -> list[dict[str, Any]]:
        rows = await super().rows(statement, **params)
        self.read_done.set()
        await self.release.wait()
        return rows


def test_a_request_arriving_during_a_version_read_waits_for_a_later_one(
    neo4j_settings: Neo4jSettings, fixture_graph: neo4j.Driver, tmp_path: Path
) -> None:
    knowledge = write_knowledge(
        tmp_path / "k.parquet", [("search_buy", "camping tent", "P1", None, "USED_ON", "first frost")]
    )
    before = graph_version(fixture_graph).tag

    async def scenario() -> tuple[str, str, str, int]:
        driver = open_driver(neo4j_settings)
        reader = HeldReader(driver)
        freshness = Freshness(reader, check_seconds=0)
        try:
            early = asyncio.create_task(freshness.current())
            await reader.read_done.wait()  # its read has seen the graph before the write
            await asyncio.to_thread(
                load, LoadConfig(rejects_dir=tmp_path, knowledge=knowledge), fixture_graph, LoaderSettings()
            )
            written = graph_version(fixture_graph).tag
            late = asyncio.create_task(freshness.current())
            await asyncio.sleep(0.05)
            reader.release.set()
            return (await early).graph, (await late).graph, written, freshness.reads
        finally:
            await driver.close()

    try:
        early, late, written, reads = asyncio.run(scenario())
    finally:
        retract(RetractConfig(run_id="fresh-run"), fixture_graph)
    assert (early, late) == (before, written) and written != before
    assert reads == 2


def test_requests_arriving_together_share_one_version_read(
    neo4j_settings: Neo4jSettings, fixture_graph: neo4j.Driver
) -> None:
    async def scenario() -> tuple[set[str], int]:
        driver = open_driver(neo4j_settings)
        freshness = Freshness(GraphReader(driver), check_seconds=0)
        try:
            await freshness.current()  # the connection is open
            reads = freshness.reads
            versions = await asyncio.gather(*(freshness.current() for _ in range(200)))
            return {v.graph for v in versions}, freshness.reads - reads
        finally:
            await driver.close()

    tags, reads = asyncio.run(scenario())
    assert tags == {graph_version(fixture_graph).tag}
    assert reads <= 2


def test_an_unreachable_graph_keeps_the_last_version_known(
    neo4j_settings: Neo4jSettings, fixture_graph: neo4j.Driver
) -> None:
    async def scenario() -> tuple[str, str]:
        driver = open_driver(neo4j_settings)
        freshness = Freshness(GraphReader(driver), check_seconds=0)
        known = (await freshness.current()).graph
        await driver.close()  # every later read fails
        return known, (await freshness.current()).graph

    known, after = asyncio.run(scenario())
    assert after == known == graph_version(fixture_graph).tag
