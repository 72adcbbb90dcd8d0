"""Cache tiers with both stores: preload → hit, miss → graph or semantic answer + queue,
refresh → tier 2; the feature store over REST; API keys on the admin endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cosmo_kg.api.app import create_app
from cosmo_kg.api.auth import create_key
from cosmo_kg.api.index import TextEmbedder
from cosmo_kg.api.services import ServeSettings
from cosmo_kg.graph.connection import Neo4jSettings
from tests.api.conftest import serve_settings

pytestmark = pytest.mark.neo4j


@pytest.fixture(params=["sqlite", "redis"])
def store_client(
    request: pytest.FixtureRequest,
    neo4j_settings: Neo4jSettings,
    tmp_path: Path,
    settings: ServeSettings,
    built_index: Path,
    embedder: TextEmbedder,
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    redis_url = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    own = serve_settings(neo4j_settings, tmp_path, redis_url=redis_url)
    own = ServeSettings(
        neo4j=own.neo4j, api=own.api, index=settings.index, cache=own.cache, workspace=own.workspace
    )
    key = create_key(own.keys_file, "admin")
    with TestClient(create_app(own, embedder=embedder)) as client:
        yield client, {"Authorization": f"Bearer {key}"}


def source_of(client: TestClient, query: str) -> dict:
    response = client.get("/v1/intentions", params={"query": query})
    assert response.status_code == 200
    return response.json()


def test_preload_miss_queue_refresh_round_trip(store_client: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = store_client
    assert client.post("/admin/cache/preload", params={"top": 1}, headers=auth).json() == {"written": 1}
    hit = source_of(client, "Camping Tent")
    assert hit["source"] == "tier1" and hit["intentions"][0]["text"] == "go camping"

    assert source_of(client, "dog walking")["source"] == "graph"
    unseen = source_of(client, "walking my puppy")
    assert unseen["source"] == "semantic" and unseen["intentions"][0]["text"] == "walk the dog"
    queue = client.app.state.services.store.queued()  # type: ignore[attr-defined]
    assert {item for item, _ in queue} == {"dog walking", "walking my puppy"}

    assert client.post("/admin/refresh", headers=auth).json() == {"drained": 2, "written": 2}
    assert source_of(client, "dog walking")["source"] == "tier2"
    assert source_of(client, "walking my puppy")["source"] == "tier2"
    assert client.app.state.services.store.queued() == []  # type: ignore[attr-defined]

    assert client.delete("/admin/cache/tier1", headers=auth).json() == {"deleted": 1}
    assert source_of(client, "camping tent")["source"] == "graph"


def test_admin_endpoints_need_a_valid_key(store_client: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = store_client
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "wrong"}):
        response = client.post("/admin/refresh", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "UNAUTHENTICATED"


def test_feature_store_answers_query_and_product_features(client: TestClient) -> None:
    query = client.get("/v1/features/query", params={"text": "camping tent"}).json()
    assert query["strong_intent"] is True
    assert query["product_types"] == [{"product_type": "tent", "share": 1.0}]
    assert {"relation": "USED_FOR_EVE", "intentions": ["go camping"], "scores": [0.855]} in query[
        "top_intentions"
    ]
    product = client.get("/v1/features/product/P5").json()
    assert product["product_type"] == "leash" and product["product_types"][0]["product_type"] == "poop bag"
    assert client.get("/v1/features/product/none").status_code == 400


def test_features_are_readable_over_graphql(client: TestClient) -> None:
    body = client.post(
        "/graphql",
        json={
            "query": '{ product(id: "P5") { features { strongIntent '
            "topIntentions { relation intentions } } } }"
        },
    ).json()
    features = body["data"]["product"]["features"]
    assert features["strongIntent"] is True
    assert {"relation": "USED_FOR_EVE", "intentions": ["walk the dog"]} in features["topIntentions"]
