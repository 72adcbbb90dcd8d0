"""Several API workers: `cosmo-kg serve --workers 2` on one port against the real Neo4j, the
real index and a real Redis; both workers answer a bounded load, both serve a load's new edge
in their very next answer (the host-local write signal reaches each), both load a new index."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import neo4j
import psutil
import pytest

from cosmo_kg.api.index import TextEmbedder
from cosmo_kg.api.index_build import IndexConfig, build_index
from cosmo_kg.api.services import ServeSettings
from cosmo_kg.api.settings import ApiSettings, CacheSettings, IndexSettings
from cosmo_kg.api.workers import settings_environment
from cosmo_kg.embeddings import EmbeddingSettings
from cosmo_kg.graph.connection import Neo4jSettings
from cosmo_kg.graph.loader import LoadConfig, LoaderSettings, load
from cosmo_kg.graph.retract import RetractConfig, retract
from cosmo_kg.workspace import WorkspaceSettings
from tests.api.test_freshness import write_knowledge
from tests.conftest import free_port

WORKERS = 2
LOAD_REQUESTS = 400
LOAD_CONCURRENCY = 8
ACCESS_LINE = re.compile(r'^\[(\d+)\] \{.*"path":"/v1/intentions"')


def test_settings_reach_a_worker_through_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = ServeSettings(
        neo4j=Neo4jSettings(uri="neo4j://db.example:7687", password="s3cret", connect_timeout=2.5),
        api=ApiSettings(workers=3, embed_process=False, key_hashes="sha256:ab", request_timeout=0.75),
        index=IndexSettings(dir=str(tmp_path / "index"), reload_seconds=0.2),
        cache=CacheSettings(redis_url="redis://cache:6379/1", version_check=3600.0, prefix="x:"),
        embeddings=EmbeddingSettings(),
        workspace=WorkspaceSettings(dir=str(tmp_path / "ws")),
    )
    monkeypatch.chdir(tmp_path)  # no cosmo-kg.toml here
    monkeypatch.delenv("COSMO_CONFIG", raising=False)
    for name, value in settings_environment(settings).items():
        monkeypatch.setenv(name, value)
    assert ServeSettings.load() == settings


def test_serving_on_a_taken_port_says_so_before_starting_workers(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "cosmo_kg.cli", "serve", "--workers", "2", "--api-port", str(port)],
            env={**os.environ, "COSMO_WORKSPACE": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 2, result.stderr
    assert f"Error: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


CLI = [sys.executable, "-m", "cosmo_kg.cli"]


@pytest.fixture(scope="module")
def serve_env(
    neo4j_settings: Neo4jSettings,
    fixture_graph: neo4j.Driver,
    built_index: Path,
    redis_url: str,
    module_dir: Path,
) -> dict[str, str]:
    """The servers' environment, tier 1 preloaded into Redis; only the write signal can show a
    load (the background version read waits an hour)."""
    env = {
        **os.environ,
        "NEO4J_URI": neo4j_settings.uri,
        "NEO4J_PASSWORD": neo4j_settings.password,
        "REDIS_URL": redis_url,
        "COSMO_CACHE_PREFIX": f"workers{time.monotonic_ns()}:",
        "COSMO_INDEX_DIR": str(built_index),
        "COSMO_INDEX_RELOAD_SECONDS": "0.2",
        "COSMO_CACHE_VERSION_CHECK": "3600",
        "COSMO_WORKSPACE": str(module_dir / "workers-ws"),
    }
    subprocess.run([*CLI, "cache", "preload", "--top", "10"], env=env, check=True, capture_output=True)
    return env


@contextlib.contextmanager
def serving(env: dict[str, str], log: Path, *options: str, workers: int = WORKERS) -> Iterator[Server]:
    """`cosmo-kg serve OPTIONS` on a free port until ``workers`` workers said ready; SIGTERM after."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*CLI, "serve", *options],
            env={**env, "COSMO_API_PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    started = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_for_workers(started, workers)
        yield started
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def server(serve_env: dict[str, str], module_dir: Path) -> Iterator[Server]:
    with serving(serve_env, module_dir / "serve-workers.log", "--workers", str(WORKERS)) as started:
        yield started


@pytest.mark.neo4j
@pytest.mark.slow
def test_one_worker_serves_in_the_serve_process_itself(serve_env: dict[str, str], tmp_path: Path) -> None:
    with serving(serve_env, tmp_path / "serve.log", workers=1) as one:
        connection = Pinned(one.url)
        assert connection.pid == one.process.pid
        assert connection.intentions("camping tent")[0] == "tier1"
        connection.close()
        assert not (tmp_path / "serve.log").read_text().startswith("[")  # no pid prefix: as before


@pytest.mark.neo4j
@pytest.mark.slow
def test_workers_stop_when_their_supervisor_is_killed(serve_env: dict[str, str], tmp_path: Path) -> None:
    with serving(serve_env, tmp_path / "serve.log", "--workers", str(WORKERS)) as started:
        family = psutil.Process(started.process.pid).children(recursive=True)
        started.process.kill()
        started.process.wait(10)
        _, alive = psutil.wait_procs(family, timeout=30)
        assert not alive, f"left running without their supervisor: {alive}"


def _wait_for_workers(server: Server, count: int, timeout: float = 240.0) -> None:
    """Until ``count`` distinct worker pids said ready (fresh connections: any worker may take one)."""
    deadline = time.monotonic() + timeout
    ready: set[int] = set()
    while len(ready) < count:
        assert server.process.poll() is None, server.log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"ready: {ready}\n{server.log.read_text()[-3000:]}"
        try:
            body = httpx.get(f"{server.url}/readyz", timeout=5).json()
            if body["ready"]:
                ready.add(body["worker"])
        except httpx.HTTPError:
            pass
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the supervisor stops the whole family: workers, their embedding processes and
    multiprocessing's resource tracker (which ends once all of them have)."""
    if process.poll() is not None:
        return
    family = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
    _, alive = psutil.wait_procs(family, timeout=15)
    assert not alive, f"processes left running after SIGTERM: {alive}"


class Pinned:
    """One keep-alive connection, hence one worker; ``pid`` says which."""

    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=30, limits=httpx.Limits(max_connections=1))
        self.pid = self.worker()

    def worker(self) -> int:
        return int(self.client.get("/readyz").json()["worker"])

    def intentions(self, query: str) -> tuple[str, list[str]]:
        body = self.client.get("/v1/intentions", params={"query": query}).json()
        return body["source"], [item["text"] for item in body["intentions"]]

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def pinned(server: Server) -> Iterator[list[Pinned]]:
    """``LOAD_CONCURRENCY`` connections that together reach every worker."""
    opened: list[Pinned] = []
    while len(opened) < 200:
        opened.append(Pinned(server.url))
        if len(opened) >= LOAD_CONCURRENCY and len({c.pid for c in opened}) == WORKERS:
            break
    one_each = list({c.pid: c for c in opened}.values())
    kept = one_each + [c for c in opened if c not in one_each][: LOAD_CONCURRENCY - len(one_each)]
    for connection in opened:
        if connection not in kept:
            connection.close()
    assert len(one_each) == WORKERS, "the kernel never gave a connection to every worker"
    yield kept
    for connection in kept:
        connection.close()


QUERIES = ("camping tent", "dog walking", "tent", "an evening under the stars")


def _drive(connection: Pinned, requests: int, statuses: Counter[tuple[int, int | str]]) -> None:
    for number in range(requests):
        query = QUERIES[number % len(QUERIES)]
        try:
            if number % 5 == 4:
                response = connection.client.post(
                    "/graphql", json={"query": '{ product(id: "P1") { title } }'}
                )
            else:
                response = connection.client.get("/v1/intentions", params={"query": query})
            statuses[(connection.pid, response.status_code)] += 1
        except httpx.HTTPError as exc:
            statuses[(connection.pid, type(exc).__name__)] += 1


@pytest.mark.neo4j
@pytest.mark.slow
def test_two_workers_answer_a_bounded_load_without_errors(server: Server, pinned: list[Pinned]) -> None:
    statuses: Counter[tuple[int, int | str]] = Counter()
    threads = [
        threading.Thread(target=_drive, args=(c, LOAD_REQUESTS // LOAD_CONCURRENCY, statuses)) for c in pinned
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert {status for _, status in statuses} == {200}, statuses
    per_worker = Counter({pid: n for (pid, _), n in statuses.items()})
    assert sum(per_worker.values()) == LOAD_REQUESTS and len(per_worker) == WORKERS, per_worker
    assert [c.worker() for c in pinned] == [c.pid for c in pinned]  # each connection kept its worker
    logged = Counter(
        int(m.group(1)) for line in server.log.read_text().splitlines() if (m := ACCESS_LINE.match(line))
    )
    assert set(logged) == set(per_worker), logged  # the log names the worker of every access line


def _one_per_worker(pinned: list[Pinned]) -> list[Pinned]:
    return list({c.pid: c for c in pinned}.values())


@pytest.mark.neo4j
@pytest.mark.slow
def test_after_a_load_every_worker_serves_the_new_edge_in_its_next_answer(
    server: Server, pinned: list[Pinned], fixture_graph: neo4j.Driver, tmp_path: Path
) -> None:
    """Each worker asks for its own cached query, so no worker finds an answer another one
    already refreshed: only its own reading of the write signal can make it fresh."""
    workers = _one_per_worker(pinned)
    queries = ["camping tent", "dog walking"]
    for worker in workers:
        assert [worker.intentions(query)[0] for query in queries] == ["tier1", "tier1"]
    knowledge = write_knowledge(
        tmp_path / "k.parquet",
        [
            ("search_buy", "camping tent", "P1", None, "USED_ON", "meteor shower"),
            ("search_buy", "dog walking", "P5", None, "USED_ON", "meteor shower"),
        ],
    )
    load(LoadConfig(rejects_dir=tmp_path, knowledge=knowledge), fixture_graph, LoaderSettings())
    try:
        for worker, query in zip(workers, queries, strict=True):
            source, texts = worker.intentions(query)
            assert (source, texts[0]) == ("graph", "meteor shower"), (worker.pid, query)
        for worker, query in zip(workers, reversed(queries), strict=True):
            source, texts = worker.intentions(query)  # the other worker's fresh answer, from Redis
            assert (source, texts[0]) == ("tier1", "meteor shower"), (worker.pid, query)
    finally:
        retract(RetractConfig(run_id="fresh-run"), fixture_graph)


@pytest.mark.neo4j
@pytest.mark.slow
def test_every_worker_loads_a_rebuilt_index_without_a_restart(
    server: Server,
    pinned: list[Pinned],
    fixture_graph: neo4j.Driver,
    settings: ServeSettings,
    embedder: TextEmbedder,
    tmp_path: Path,
) -> None:
    workers = _one_per_worker(pinned)
    knowledge = write_knowledge(
        tmp_path / "k.parquet", [("search_buy", "dog walking", "P5", None, "USED_FOR_EVE", "dawn patrol")]
    )
    load(LoadConfig(rejects_dir=tmp_path, knowledge=knowledge), fixture_graph, LoaderSettings())
    try:
        report = build_index(IndexConfig(), settings.index, fixture_graph, embedder)
        deadline = time.monotonic() + 30
        for worker in workers:
            while worker.client.get("/readyz").json()["versions"]["index"] != report.version:
                assert time.monotonic() < deadline, f"worker {worker.pid} kept its old index"
                time.sleep(0.1)
            hits = worker.client.post(
                "/graphql",
                json={"query": '{ semanticSearch(text: "dawn patrol", k: 1) { intention { text } } }'},
            ).json()
            assert hits["data"]["semanticSearch"][0]["intention"]["text"] == "dawn patrol"
    finally:
        retract(RetractConfig(run_id="fresh-run"), fixture_graph)


@pytest.mark.neo4j
@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_the_port_keeps_answering(server: Server) -> None:
    """Runs last: it changes the module's server (a new worker pid)."""
    victim = Pinned(server.url)
    orphans = psutil.Process(victim.pid).children(recursive=True)  # its embedding process
    os.kill(victim.pid, signal.SIGKILL)
    victim.close()
    statuses: Counter[int | str] = Counter()
    deadline = time.monotonic() + 120
    answering: set[int] = set()
    while len(answering) < WORKERS:
        assert time.monotonic() < deadline, f"answering: {answering}\n{server.log.read_text()[-2000:]}"
        try:
            body = httpx.get(f"{server.url}/readyz", timeout=10).json()
            statuses[200] += 1
            if body["ready"] and body["worker"] != victim.pid:
                answering.add(body["worker"])
        except httpx.HTTPError as exc:
            statuses[type(exc).__name__] += 1
        time.sleep(0.05)
    # A connection the kernel queued on the dead worker's socket in its last moment is reset.
    assert sum(n for status, n in statuses.items() if status != 200) <= 1, statuses
    assert "exited with -9; starting another" in server.log.read_text()
    _, alive = psutil.wait_procs(orphans, timeout=10)
    assert orphans and not alive, "the killed worker's embedding process outlived it"
