"""Shared fixtures. Graph tests run against a real Neo4j that this session starts itself.

The server runs on free loopback ports with its data in a temporary directory and is
stopped at the end. If it cannot start, every graph test errors (CI must not skip them).
Set COSMO_TEST_NEO4J_URI to run the suite against an already running server instead.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import neo4j
import pytest

from cosmo_kg.graph import server
from cosmo_kg.graph.connection import Neo4jSettings, create_driver
from cosmo_kg.graph.schema import apply_schema
from cosmo_kg.graph.server import LocalNeo4jSettings

SAMPLES = Path(__file__).resolve().parent.parent / "cosmo_kg" / "samples"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def local_neo4j(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNeo4jSettings]:
    """A real local Neo4j for this test session (its settings, to restart or inspect it)."""
    settings = LocalNeo4jSettings(
        home=str(tmp_path_factory.mktemp("neo4j-home")),
        bolt_port=free_port(),
        http_port=free_port(),
        heap="1g",
        pagecache="256m",
    )
    server.start(settings)
    yield settings
    server.stop(settings)


@pytest.fixture(scope="session")
def neo4j_settings(request: pytest.FixtureRequest) -> Neo4jSettings:
    """Client settings pointing at the test server."""
    external = os.environ.get("COSMO_TEST_NEO4J_URI")
    if external:
        return Neo4jSettings(uri=external, password=os.environ.get("COSMO_TEST_NEO4J_PASSWORD", ""))
    local: LocalNeo4jSettings = request.getfixturevalue("local_neo4j")
    return server.client_settings(local)


@pytest.fixture(scope="session")
def routing_settings(neo4j_settings: Neo4jSettings) -> Neo4jSettings:
    """The test server through a ``neo4j://`` routing URI: a single server answers routing with
    itself as writer and reader, so the cluster code path (routing table, access modes) runs."""
    scheme, _, address = neo4j_settings.uri.partition("://")
    routed = {"bolt": "neo4j", "bolt+s": "neo4j+s", "bolt+ssc": "neo4j+ssc"}.get(scheme, scheme)
    return replace(neo4j_settings, uri=f"{routed}://{address}")


@pytest.fixture(scope="session")
def session_driver(neo4j_settings: Neo4jSettings) -> Iterator[neo4j.Driver]:
    driver = create_driver(neo4j_settings)
    apply_schema(driver)
    yield driver
    driver.close()


def wipe(driver: neo4j.Driver) -> None:
    """Delete every node and relationship (the schema stays)."""
    with driver.session(database="neo4j") as session:
        session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()


@pytest.fixture
def driver(session_driver: neo4j.Driver) -> neo4j.Driver:
    """An empty graph with the schema applied."""
    wipe(session_driver)
    return session_driver


@pytest.fixture
def neo4j_env(
    neo4j_settings: Neo4jSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Environment for CLI runs against the test server, with a private workspace."""
    env = {
        "NEO4J_URI": neo4j_settings.uri,
        "NEO4J_PASSWORD": neo4j_settings.password,
        "COSMO_WORKSPACE": str(tmp_path / "workspace"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def routing_env(
    neo4j_env: dict[str, str], routing_settings: Neo4jSettings, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """``neo4j_env`` with the ``neo4j://`` routing URI of the test server."""
    monkeypatch.setenv("NEO4J_URI", routing_settings.uri)
    return {**neo4j_env, "NEO4J_URI": routing_settings.uri}
