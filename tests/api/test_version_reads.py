"""The graph version a request is served at comes from a read that started after the request
arrived when the graph may have changed (a write on this host said so, or every request with
``version_check`` 0), requests arriving together share that read, and between writes no request
reads it."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import neo4j
import pytest

from cosmo_kg.api.freshness import Freshness
from cosmo_kg.api.reads import GraphReader, open_driver
from cosmo_kg.graph.connection import Neo4jSettings
from cosmo_kg.graph.loader import LoadConfig, LoaderSettings, load
from cosmo_kg.graph.retract import RetractConfig, retract
from cosmo_kg.graph.version import WRITING, graph_version
from tests.api.test_freshness import write_knowledge

pytestmark = pytest.mark.neo4j


class HeldReader(GraphReader):
    """A real reader whose answers are held back until ``release`` is set, after the read."""

    def __init__(self, driver: neo4j.AsyncDriver) -> None:
        super().__init__(driver)
        self.read_done = asyncio.Event()
        self.release = asyncio.Event()

    async def rows_from(
        self, bookmarks: neo4j.Bookmarks, statement: str, **params: Any
    ) -> tuple[list[dict[str, Any]], neo4j.Bookmarks]:
        found = await super().rows_from(bookmarks, statement, **params)
        self.read_done.set()
        await self.release.wait()
        return found


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


def test_between_writes_requests_do_not_read_the_graph_version_and_a_write_shows_at_once(
    neo4j_settings: Neo4jSettings, fixture_graph: neo4j.Driver, tmp_path: Path
) -> None:
    knowledge = write_knowledge(
        tmp_path / "k.parquet", [("search_buy", "camping tent", "P1", None, "USED_ON", "spring break")]
    )

    async def scenario() -> tuple[int, str, str, int]:
        driver = open_driver(neo4j_settings)
        freshness = Freshness(GraphReader(driver), check_seconds=60)
        try:
            await freshness.watch_graph()  # learns the database's write signal
            reads = freshness.reads
            for _ in range(50):
                await freshness.current()
            idle_reads = freshness.reads - reads
            await asyncio.to_thread(
                load, LoadConfig(rejects_dir=tmp_path, knowledge=knowledge), fixture_graph, LoaderSettings()
            )
            after = (await freshness.current()).graph
            again = await asyncio.gather(*(freshness.current() for _ in range(20)))
            return idle_reads, after, again[-1].graph, freshness.reads - reads
        finally:
            await driver.close()

    try:
        idle_reads, after, again, reads = asyncio.run(scenario())
        written = graph_version(fixture_graph).tag
    finally:
        retract(RetractConfig(run_id="fresh-run"), fixture_graph)
    assert idle_reads == 0
    assert after == again == written
    assert reads <= 3


def test_while_a_write_completes_every_request_reads_the_graph_version(
    neo4j_settings: Neo4jSettings, fixture_graph: neo4j.Driver
) -> None:
    async def scenario() -> int:
        driver = open_driver(neo4j_settings)
        freshness = Freshness(GraphReader(driver), check_seconds=60)
        try:
            await freshness.watch_graph()
            assert freshness.signal is not None
            reads = freshness.reads
            with freshness.signal.completing():
                for _ in range(3):
                    await freshness.current()
            return freshness.reads - reads
        finally:
            await driver.close()

    assert asyncio.run(scenario()) == 3


def test_the_mark_of_a_writer_that_died_mid_write_is_cleared(
    neo4j_settings: Neo4jSettings, fixture_graph: neo4j.Driver
) -> None:
    async def scenario() -> tuple[bool, bool]:
        driver = open_driver(neo4j_settings)
        freshness = Freshness(GraphReader(driver), check_seconds=60)
        try:
            await freshness.watch_graph()
            assert freshness.signal is not None
            dead = freshness.signal.directory / f"{WRITING}{2**22 + 12345}-deadbeef"
            alive = freshness.signal.directory / f"{WRITING}{os.getpid()}-cafe"
            dead.touch()
            alive.touch()
            await freshness.watch_graph()
            found = (dead.exists(), alive.exists())
            alive.unlink()
            return found
        finally:
            await driver.close()

    assert asyncio.run(scenario()) == (False, True)
