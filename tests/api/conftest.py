"""Fixtures of the serving tests: a planted fixture graph in the real Neo4j, the real embedding
model, a built semantic index, a real redis-server, and the app in-process."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import neo4j
import polars as pl
import pytest
from fastapi.testclient import TestClient

from cosmo_kg.api.app import create_app
from cosmo_kg.api.auth import create_key
from cosmo_kg.api.index import TextEmbedder
from cosmo_kg.api.index_build import IndexConfig, build_index
from cosmo_kg.api.services import ServeSettings
from cosmo_kg.api.settings import ApiSettings, CacheSettings, IndexSettings
from cosmo_kg.embeddings import Embedder, EmbeddingSettings
from cosmo_kg.graph.connection import Neo4jSettings
from cosmo_kg.graph.loader import LoadConfig, LoaderSettings, load
from cosmo_kg.workspace import WorkspaceSettings
from tests.conftest import free_port, wipe

PRODUCTS = [
    ("P1", "Coleman 4-person camping tent", "tent", "Sports & Outdoors", 0.9),
    ("P2", "Down sleeping bag for cold nights", "sleeping bag", "Sports & Outdoors", 0.7),
    ("P3", "Portable camping gas stove", "camping stove", "Sports & Outdoors", 0.6),
    ("P4", "Carbon trekking poles", "trekking pole", "Sports & Outdoors", 0.5),
    ("P5", "Reflective dog leash", "leash", "Pet Supplies", 0.8),
    ("P6", "Biodegradable dog poop bags", "poop bag", "Pet Supplies", 0.4),
    ("P7", "Ultralight backpacking tent", "tent", "Sports & Outdoors", 0.3),
]
# (kind, query, product, product_b, relation, tail, plausibility, typicality)
KNOWLEDGE = [
    ("search_buy", "camping tent", "P1", None, "USED_FOR_EVE", "go camping", 0.95, 0.9),
    ("search_buy", "camping tent", "P1", None, "USED_IN_LOC", "campsite", 0.9, 0.8),
    ("search_buy", "camping tent", "P1", None, "USED_BY", "backpacker", 0.8, 0.7),
    ("search_buy", "dog walking", "P5", None, "USED_FOR_EVE", "walk the dog", 0.95, 0.9),
    ("search_buy", "dog walking", "P5", None, "USED_BY", "dog owner", 0.9, 0.85),
    ("co_buy", None, "P1", "P2", "USED_FOR_EVE", "go camping", 0.9, 0.85),
    ("co_buy", None, "P1", "P3", "USED_WITH", "outdoor cooking", 0.85, 0.8),
    ("co_buy", None, "P3", "P7", "USED_FOR_EVE", "go camping", 0.8, 0.6),
    ("co_buy", None, "P2", "P4", "xWANT", "go hiking", 0.8, 0.75),
    ("co_buy", None, "P5", "P6", "USED_FOR_EVE", "walk the dog", 0.9, 0.8),
    # Many weaker intentions of P1, to page through.
    *[
        ("co_buy", None, "P1", "P4", "CAPABLE_OF", f"shelter idea {i:02d}", 0.7 - i * 0.01, 0.5)
        for i in range(25)
    ],
]
PAIRS = [
    ("search_buy", "camping tent", "P1", None, 50),
    ("search_buy", "dog walking", "P5", None, 20),
    ("search_buy", "tent", "P7", None, 3),
    ("co_buy", None, "P1", "P2", 12),
    ("co_buy", None, "P1", "P3", 8),
    ("co_buy", None, "P5", "P6", 30),
]


def write_fixture_files(directory: Path) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {name: directory / f"{name}.parquet" for name in ("products", "knowledge", "pairs")}
    pl.DataFrame(
        [
            dict(zip(["product_id", "title", "product_type", "domain", "popularity"], row, strict=True))
            for row in PRODUCTS
        ]
    ).write_parquet(paths["products"])
    columns = [
        "kind",
        "query",
        "product_id",
        "product_id_b",
        "relation",
        "tail",
        "plausibility",
        "typicality",
    ]
    pl.DataFrame(
        [dict(zip(columns, row, strict=True)) for row in KNOWLEDGE],
        schema_overrides={"query": pl.String(), "product_id_b": pl.String()},
    ).with_columns(
        pl.lit("fixture").alias("model"), pl.lit("run-1").alias("run_id"), pl.lit(1).alias("support")
    ).write_parquet(paths["knowledge"])
    pl.DataFrame(
        [
            {"behavior_id": f"b{i}", "kind": k, "query": q, "product_id": a, "product_id_b": b, "count": c}
            for i, (k, q, a, b, c) in enumerate(PAIRS)
        ],
        schema_overrides={"query": pl.String(), "product_id_b": pl.String()},
    ).write_parquet(paths["pairs"])
    return paths


def load_fixture_graph(driver: neo4j.Driver, directory: Path) -> None:
    wipe(driver)
    paths = write_fixture_files(directory)
    load(
        LoadConfig(
            rejects_dir=directory / "rejects",
            knowledge=paths["knowledge"],
            products=paths["products"],
            pairs=paths["pairs"],
        ),
        driver,
        LoaderSettings(),
    )


def load_demo_sample(driver: neo4j.Driver, directory: Path) -> None:
    """The demo's human-judged IntentionQA knowledge and products (what `make demo` loads)."""
    from cosmo_kg.demo import sample_path

    wipe(driver)
    load(
        LoadConfig(
            rejects_dir=directory,
            knowledge=sample_path("intentionqa_knowledge.parquet"),
            products=sample_path("intentionqa_products.parquet"),
        ),
        driver,
        LoaderSettings(),
    )


@pytest.fixture(scope="session")
def embedder() -> TextEmbedder:
    return Embedder(EmbeddingSettings())


@pytest.fixture(scope="module")
def fixture_graph(session_driver: neo4j.Driver, tmp_path_factory: pytest.TempPathFactory) -> neo4j.Driver:
    """The planted fixture graph, loaded once per test module."""
    load_fixture_graph(session_driver, tmp_path_factory.mktemp("fixture-graph"))
    return session_driver


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free loopback port (Debian's redis-server package)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path_factory.mktemp("redis")),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    client.close()
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(10)


def serve_settings(
    neo4j_settings: Neo4jSettings, directory: Path, *, redis_url: str = "", **api: object
) -> ServeSettings:
    return ServeSettings(
        neo4j=neo4j_settings,
        api=ApiSettings(**api),  # type: ignore[arg-type]
        index=IndexSettings(dir=str(directory / "index")),
        cache=CacheSettings(
            redis_url=redis_url, path=str(directory / "cache.sqlite"), prefix=f"test{time.monotonic_ns()}:"
        ),
        workspace=WorkspaceSettings(dir=str(directory / "workspace")),
    )


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serving")


@pytest.fixture(scope="module")
def settings(neo4j_settings: Neo4jSettings, module_dir: Path) -> ServeSettings:
    return serve_settings(neo4j_settings, module_dir, cypher_timeout=1.0)


@pytest.fixture(scope="module")
def built_index(fixture_graph: neo4j.Driver, settings: ServeSettings, embedder: TextEmbedder) -> Path:
    build_index(IndexConfig(rebuild=True), settings.index, fixture_graph, embedder)
    return settings.index.path


@pytest.fixture(scope="module")
def api_key(settings: ServeSettings) -> str:
    return create_key(settings.keys_file, "tests")


@pytest.fixture(scope="module")
def client(
    settings: ServeSettings, built_index: Path, embedder: TextEmbedder, api_key: str
) -> Iterator[TestClient]:
    with TestClient(create_app(settings, embedder=embedder)) as test_client:
        yield test_client


def gql(client: TestClient, query: str, **variables: object) -> dict:
    """POST a GraphQL document; return the whole JSON body."""
    response = client.post("/graphql", json={"query": query, "variables": variables})
    return {"status": response.status_code, **response.json()}
