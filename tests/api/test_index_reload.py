"""Hot index reload: ``index build`` under load (>= 20 requests/s over real HTTP) switches the
served index without a restart and without one failed request; /readyz names the new version."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import neo4j
import pytest
import uvicorn

from cosmo_kg.api.app import create_app
from cosmo_kg.api.index import TextEmbedder
from cosmo_kg.api.index_build import IndexConfig, build_index
from cosmo_kg.api.services import ServeSettings
from cosmo_kg.graph.loader import LoadConfig, LoaderSettings, load
from tests.api.test_freshness import write_knowledge
from tests.conftest import free_port

pytestmark = pytest.mark.neo4j
RATE = 25  # requests per second sent while the index is rebuilt


@pytest.fixture
def server_url(settings: ServeSettings, built_index: Path, embedder: TextEmbedder) -> Iterator[str]:
    """The app behind a real uvicorn on loopback, checking the index pointer every 0.2 s."""
    own = replace(settings, index=replace(settings.index, reload_seconds=0.2))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(own, embedder=embedder), host="127.0.0.1", port=port, log_config=None, access_log=False
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


class Traffic(threading.Thread):
    """Semantic requests (they need the index) at a steady rate until stopped; counts statuses."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.statuses: Counter[int | str] = Counter()
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            number = 0
            started = time.monotonic()
            while not self.stop.is_set():
                number += 1
                try:
                    self.statuses[self._send(client, number).status_code] += 1
                except httpx.HTTPError as exc:
                    self.statuses[type(exc).__name__] += 1
                time.sleep(max(0.0, started + number / RATE - time.monotonic()))

    @staticmethod
    def _send(client: httpx.Client, number: int) -> httpx.Response:
        if number % 2:
            return client.get("/v1/intentions", params={"query": f"an evening under the stars {number}"})
        query = '{ semanticSearch(text: "looking at the night sky", k: 3) { score } }'
        return client.post("/graphql", json={"query": query})


def test_a_rebuilt_index_is_served_without_restart_or_failed_requests(
    server_url: str,
    fixture_graph: neo4j.Driver,
    settings: ServeSettings,
    embedder: TextEmbedder,
    tmp_path: Path,
) -> None:
    before = httpx.get(f"{server_url}/readyz").json()["versions"]["index"]
    knowledge = write_knowledge(
        tmp_path / "k.parquet",
        [("search_buy", "camping tent", "P1", None, "USED_FOR_EVE", "stargazing night")],
    )
    load(LoadConfig(rejects_dir=tmp_path, knowledge=knowledge), fixture_graph, LoaderSettings())

    traffic = Traffic(server_url)
    traffic.start()
    started = time.monotonic()
    report = build_index(IndexConfig(), settings.index, fixture_graph, embedder)
    assert report.added == {"intention": 1, "query": 0} and report.version != before
    while httpx.get(f"{server_url}/readyz").json()["versions"]["index"] != report.version:
        assert time.monotonic() - started < 10, "the new index was not picked up within 10 s"
        time.sleep(0.1)
    time.sleep(1.0)  # keep the traffic going on the new index for a moment
    traffic.stop.set()
    traffic.join()
    elapsed = time.monotonic() - started

    assert set(traffic.statuses) == {200}, traffic.statuses
    assert traffic.statuses[200] >= 20 * elapsed * 0.9
    hits = httpx.post(
        f"{server_url}/graphql",
        json={"query": '{ semanticSearch(text: "stargazing night", k: 1) { intention { text } } }'},
    ).json()
    assert hits["data"]["semanticSearch"][0]["intention"]["text"] == "stargazing night"
