"""Serving stays true after writes: a load or a retraction shows in the very next answer of a
cached query and a cached product; stale entries are rewritten, not flushed; tier 2 expires."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import neo4j
import polars as pl
import pytest
from fastapi.testclient import TestClient

from cosmo_kg.api.app import create_app
from cosmo_kg.api.freshness import unstamp
from cosmo_kg.api.index import TextEmbedder
from cosmo_kg.api.services import ServeSettings
from cosmo_kg.api.settings import CacheSettings
from cosmo_kg.api.store import open_store
from cosmo_kg.graph.connection import Neo4jSettings
from cosmo_kg.graph.loader import LoadConfig, LoaderSettings, load
from cosmo_kg.graph.retract import RetractConfig, retract
from tests.api.conftest import serve_settings

pytestmark = pytest.mark.neo4j

NEW_TAIL = "summer festival"


def write_knowledge(path: Path, rows: list[tuple[str, str | None, str, str | None, str, str]]) -> Path:
    """(kind, query, product, product_b, relation, tail) rows at top scores, run ``fresh-run``."""
    columns = ["kind", "query", "product_id", "product_id_b", "relation", "tail"]
    pl.DataFrame(
        [dict(zip(columns, row, strict=True)) for row in rows],
        schema_overrides={"query": pl.String(), "product_id_b": pl.String()},
    ).with_columns(
        plausibility=pl.lit(0.99),
        typicality=pl.lit(0.99),
        support=pl.lit(1),
        model=pl.lit("fresh-model"),
        run_id=pl.lit("fresh-run"),
    ).write_parquet(path)
    return path


def own_settings(
    neo4j_settings: Neo4jSettings, tmp_path: Path, settings: ServeSettings, **cache: float
) -> ServeSettings:
    """The module's index with a private cache store (``cache``: its settings, e.g. version_check)."""
    own = serve_settings(neo4j_settings, tmp_path)
    return ServeSettings(
        neo4j=own.neo4j,
        api=own.api,
        index=settings.index,
        cache=CacheSettings(path=own.cache.path, **cache),
        workspace=own.workspace,
    )


@pytest.fixture
def app_client(
    neo4j_settings: Neo4jSettings,
    tmp_path: Path,
    settings: ServeSettings,
    built_index: Path,
    embedder: TextEmbedder,
) -> Iterator[TestClient]:
    """The app with its own store and the default cache settings."""
    own = own_settings(neo4j_settings, tmp_path, settings)
    with TestClient(create_app(own, embedder=embedder)) as client:
        yield client


def intentions_of_query(client: TestClient, query: str) -> tuple[str, list[str]]:
    body = client.get("/v1/intentions", params={"query": query}).json()
    return body["source"], [item["text"] for item in body["intentions"]]


def intentions_of_product(client: TestClient, product_id: str) -> list[str]:
    body = client.get(f"/v1/features/product/{product_id}").json()
    return [text for group in body["top_intentions"] for text in group["intentions"]]


def test_a_load_while_serving_shows_in_the_very_next_answer_of_a_cached_query_and_product(
    app_client: TestClient, fixture_graph: neo4j.Driver, tmp_path: Path
) -> None:
    svc = app_client.app.state.services  # type: ignore[attr-defined]
    app_client.portal.call(svc.answers.fill, ["camping tent"], "tier1")  # type: ignore[union-attr]
    app_client.portal.call(svc.features.build, *_product_keys(["P1"]))  # type: ignore[union-attr]
    assert intentions_of_query(app_client, "camping tent")[0] == "tier1"
    assert NEW_TAIL not in intentions_of_product(app_client, "P1")
    assert intentions_of_query(app_client, "camping tent")[0] == "tier1"  # cached, not recomputed

    knowledge = write_knowledge(
        tmp_path / "k.parquet", [("search_buy", "camping tent", "P1", None, "USED_ON", NEW_TAIL)]
    )
    load(LoadConfig(rejects_dir=tmp_path, knowledge=knowledge), fixture_graph, LoaderSettings())

    source, texts = intentions_of_query(app_client, "camping tent")
    assert (source, texts[0]) == ("graph", NEW_TAIL)
    assert NEW_TAIL in intentions_of_product(app_client, "P1")
    assert intentions_of_query(app_client, "camping tent")[0] == "tier1"  # written back, fresh

    retract(RetractConfig(run_id="fresh-run"), fixture_graph)
    source, texts = intentions_of_query(app_client, "camping tent")
    assert source == "graph" and NEW_TAIL not in texts
    assert NEW_TAIL not in intentions_of_product(app_client, "P1")


def test_a_write_leaves_unrelated_keys_in_the_store(
    app_client: TestClient, fixture_graph: neo4j.Driver, tmp_path: Path
) -> None:
    svc = app_client.app.state.services  # type: ignore[attr-defined]
    app_client.portal.call(svc.answers.fill, ["dog walking"], "tier2")  # type: ignore[union-attr]
    svc.store.put_many({"other:key": b"kept"})
    knowledge = write_knowledge(
        tmp_path / "k.parquet", [("search_buy", "camping tent", "P1", None, "USED_ON", "late autumn")]
    )
    load(LoadConfig(rejects_dir=tmp_path, knowledge=knowledge), fixture_graph, LoaderSettings())

    assert svc.store.get_many(["other:key"]) == [b"kept"]
    (before,) = svc.store.get_many(["t2:dog walking"])
    assert intentions_of_query(app_client, "dog walking")[0] == "graph"  # stale stamp: recomputed
    (after,) = svc.store.get_many(["t2:dog walking"])
    assert unstamp(before)[0] != unstamp(after)[0]  # and written back at the new version
    assert intentions_of_query(app_client, "dog walking")[0] == "tier2"
    retract(RetractConfig(run_id="fresh-run"), fixture_graph)


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_tier2_values_expire_after_their_ttl(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = request.getfixturevalue("redis_url") if backend == "redis" else ""
    store = open_store(
        CacheSettings(redis_url=url, path=str(tmp_path / "c.sqlite"), prefix=f"ttl{time.monotonic_ns()}:")
    )
    store.put_many({"t2:a": b"1"}, ttl=0.3)
    store.put_many({"t1:b": b"2"})
    assert store.get_many(["t2:a", "t1:b"]) == [b"1", b"2"]
    time.sleep(0.5)
    assert store.get_many(["t2:a", "t1:b"]) == [None, b"2"]
    assert store.count("t2:") == 0
    store.close()


def test_a_semantic_fallback_in_tier2_expires_like_the_rest(
    neo4j_settings: Neo4jSettings,
    tmp_path: Path,
    settings: ServeSettings,
    built_index: Path,
    embedder: TextEmbedder,
) -> None:
    own = own_settings(neo4j_settings, tmp_path, settings, tier2_ttl=0.5)
    with TestClient(create_app(own, embedder=embedder)) as client:
        svc = client.app.state.services  # type: ignore[attr-defined]
        client.portal.call(svc.answers.fill, ["walking my puppy"], "tier2")  # type: ignore[union-attr]
        assert intentions_of_query(client, "walking my puppy")[0] == "tier2"
        time.sleep(0.7)
        assert intentions_of_query(client, "walking my puppy")[0] == "semantic"


def _product_keys(ids: list[str]) -> tuple[object, list[str]]:
    from cosmo_kg.vocabulary import NodeLabel

    return NodeLabel.PRODUCT, ids


def test_the_background_check_sees_a_write_within_its_interval(
    neo4j_settings: Neo4jSettings,
    tmp_path: Path,
    settings: ServeSettings,
    built_index: Path,
    embedder: TextEmbedder,
    fixture_graph: neo4j.Driver,
) -> None:
    own = own_settings(neo4j_settings, tmp_path, settings, version_check=0.2)
    with TestClient(create_app(own, embedder=embedder)) as client:
        svc = client.app.state.services  # type: ignore[attr-defined]
        client.portal.call(svc.answers.fill, ["camping tent"], "tier1")  # type: ignore[union-attr]
        before = client.get("/readyz").json()["versions"]["graph"]
        knowledge = write_knowledge(
            tmp_path / "k.parquet", [("search_buy", "camping tent", "P1", None, "USED_ON", "long weekend")]
        )
        load(LoadConfig(rejects_dir=tmp_path, knowledge=knowledge), fixture_graph, LoaderSettings())
        time.sleep(0.5)  # more than the check interval
        assert client.get("/readyz").json()["versions"]["graph"] != before
        source, texts = intentions_of_query(client, "camping tent")
        assert (source, texts[0]) == ("graph", "long weekend")
    retract(RetractConfig(run_id="fresh-run"), fixture_graph)


def test_a_load_by_another_process_shows_in_the_very_next_answer(
    neo4j_settings: Neo4jSettings,
    tmp_path: Path,
    settings: ServeSettings,
    built_index: Path,
    embedder: TextEmbedder,
    fixture_graph: neo4j.Driver,
    neo4j_env: dict[str, str],
) -> None:
    """The background read waits an hour here: only the writer's signal can show the load."""
    own = own_settings(neo4j_settings, tmp_path, settings, version_check=3600)
    knowledge = write_knowledge(
        tmp_path / "k.parquet", [("search_buy", "camping tent", "P1", None, "USED_ON", "harvest moon")]
    )
    with TestClient(create_app(own, embedder=embedder)) as client:
        svc = client.app.state.services  # type: ignore[attr-defined]
        client.portal.call(svc.answers.fill, ["camping tent"], "tier1")  # type: ignore[union-attr]
        assert intentions_of_query(client, "camping tent")[0] == "tier1"
        subprocess.run(
            [sys.executable, "-m", "cosmo_kg.cli", "ingest", "knowledge", str(knowledge)],
            env={**os.environ, **neo4j_env},
            check=True,
            capture_output=True,
        )
        try:
            source, texts = intentions_of_query(client, "camping tent")
            assert (source, texts[0]) == ("graph", "harvest moon")
        finally:
            retract(RetractConfig(run_id="fresh-run"), fixture_graph)
