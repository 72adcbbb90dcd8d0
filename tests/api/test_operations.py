"""Health, readiness, metrics, access logs, and 503 + recovery when Neo4j goes away."""

from __future__ import annotations

import gc
import json
import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cosmo_kg.api.app import create_app
from cosmo_kg.graph import server
from cosmo_kg.graph.server import LocalNeo4jSettings
from tests.api.conftest import serve_settings
from tests.conftest import free_port

pytestmark = pytest.mark.neo4j


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] is True and body["checks"] == {"index": "loaded", "neo4j": "ok"}
    assert body["versions"]["index"].startswith("v") and "@" in body["versions"]["graph"]


def test_a_serving_app_collects_young_garbage_at_its_own_threshold(client: TestClient) -> None:
    # The client's app has started: it froze the start-up objects and raised the young threshold.
    assert gc.get_threshold()[0] == client.app.state.settings.api.gc_young_threshold  # type: ignore[attr-defined]
    assert gc.get_freeze_count() > 0


def test_metrics_count_requests_and_answer_sources(client: TestClient) -> None:
    client.get("/v1/intentions", params={"query": "camping tent"})
    text = client.get("/metrics").text
    assert 'cosmo_http_requests_total{method="GET",route="/v1/intentions",status="200"}' in text
    assert "cosmo_http_request_seconds_bucket" in text
    assert "cosmo_query_answers_total" in text


def test_each_request_writes_one_json_access_log_line(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="cosmo_kg.api.access"):
        client.get("/healthz")
    (line,) = [r.getMessage() for r in caplog.records if r.name == "cosmo_kg.api.access"]
    entry = json.loads(line)
    assert entry["path"] == "/healthz" and entry["status"] == 200 and entry["ms"] >= 0


def test_graphiql_is_served_to_browsers_from_the_package(client: TestClient) -> None:
    response = client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200 and "graphiql" in response.text.lower()
    assert "https://" not in response.text and "http://" not in response.text  # no CDN
    for asset in (
        "graphiql.min.js",
        "graphiql.min.css",
        "react.production.min.js",
        "react-dom.production.min.js",
    ):
        assert f"/static/vendor/{asset}" in response.text
        assert client.get(f"/static/vendor/{asset}").status_code == 200


def test_the_explorer_page_and_its_files_are_served(client: TestClient) -> None:
    page = client.get("/explore")
    assert page.status_code == 200 and "<title>cosmo-kg explorer</title>" in page.text
    assert client.get("/static/explore.js").status_code == 200
    assert client.get("/static/explore.css").headers["content-type"].startswith("text/css")


@pytest.mark.slow
def test_neo4j_stopped_gives_503_then_the_app_recovers(tmp_path: Path) -> None:
    local = LocalNeo4jSettings(
        home=str(tmp_path / "neo4j"),
        bolt_port=free_port(),
        http_port=free_port(),
        heap="512m",
        pagecache="64m",
    )
    server.start(local)
    settings = serve_settings(
        _client_settings(local), tmp_path, query_timeout=60.0, request_timeout=120.0
    )  # a cold JVM plans slowly
    query = {"query": '{ product(id: "P1") { title } }'}
    try:
        with TestClient(create_app(settings)) as client:
            assert client.post("/graphql", json=query).json() == {"data": {"product": None}}
            server.stop(local)
            down = client.post("/graphql", json=query)
            assert down.status_code == 503 and down.headers["Retry-After"] == "5"
            assert down.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
            rest = client.get("/v1/intentions", params={"query": "tent"})
            assert rest.status_code == 503 and rest.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
            assert client.get("/readyz").status_code == 503
            server.start(local)
            assert client.post("/graphql", json=query).json() == {"data": {"product": None}}
    finally:
        server.stop(local)


def _client_settings(local: LocalNeo4jSettings):  # type: ignore[no-untyped-def]
    return server.client_settings(local, connect_timeout=2.0)
