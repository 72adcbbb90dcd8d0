"""Benchmark: the API process's CPU per GraphQL request, layer by layer, in-process.

One request after another (no concurrency, no sockets) against the benchmark graph of
``bench_api.py``, with the filtered intentions query of ``bench_api.py --peer``; CPU time of this
process per request (Neo4j's own CPU is not counted):

- ``read``: the one Neo4j statement the request needs, through the API's ``GraphReader``;
- ``execute_in_memory``: Strawberry executing the (cached) document against an answer already
  in memory — its DataLoaders primed, no I/O: the floor of any Strawberry server for this query;
- ``execute``: the same with the real read;
- ``asgi``: the whole app (middleware and the direct GraphQL path) called as ASGI, with the read;
- ``asgi_router``: the same app without the direct path: FastAPI's routing and Strawberry's HTTP
  view answer the POST (the naive way, what the app did before).

    python benchmarks/bench_graphql_cpu.py --edges 200000 --requests 2000
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import api_peer
import orjson
import uvloop
from api_graph import close_graph, open_graph, warm_page_cache
from bench_api import SAMPLE_PRODUCTS, serve_env

from cosmo_kg.api.app import create_app
from cosmo_kg.api.arguments import ApiContext
from cosmo_kg.api.graphql_http import FastGraphQL
from cosmo_kg.api.loaders import Loaders
from cosmo_kg.api.reads import EdgeFilter
from cosmo_kg.api.schema import build_schema
from cosmo_kg.api.services import ServeSettings, Services
from cosmo_kg.graph.connection import connect

RESULTS = Path(__file__).resolve().parent / "results"
PAGE = EdgeFilter((api_peer.RELATION,), api_peer.MIN_PLAUSIBILITY, 0.0, 0, api_peer.PAGE)


class Layers:
    """The calls measured, over one app and its services."""

    def __init__(self, settings: ServeSettings) -> None:
        self.app = create_app(settings)
        self.router_app = create_app(settings)
        self.router_app.user_middleware = [
            m for m in self.router_app.user_middleware if m.cls is not FastGraphQL
        ]
        self.schema = build_schema(settings.api)  # as the app's GraphQL router builds it
        self.pages: dict[str, Any] = {}

    @property
    def services(self) -> Services:
        return self.app.state.services  # type: ignore[no-any-return]

    def context(self, loaders: Loaders) -> ApiContext:
        svc = self.services
        return ApiContext(svc.settings.api, svc.reader, loaders, svc.answers, svc.features, None)

    async def read(self, pid: str) -> Any:
        return await self.services.reader.products_with_intentions([pid], PAGE)

    async def execute(self, pid: str) -> Any:
        return await self._execute(pid, Loaders(self.services.reader))

    async def execute_in_memory(self, pid: str) -> Any:
        loaders = Loaders(self.services.reader)
        loaders.products_with_intentions.prime((pid, PAGE), self.pages[pid])
        return await self._execute(pid, loaders)

    async def _execute(self, pid: str, loaders: Loaders) -> Any:
        body = api_peer.ours_request(pid)[2] or {}
        result = await self.schema.execute(
            body["query"], variable_values=body["variables"], context_value=self.context(loaders)
        )
        if result.errors:
            raise RuntimeError(result.errors)
        return result

    async def asgi(self, pid: str) -> Any:
        return await self._asgi(self.app, pid)

    async def asgi_router(self, pid: str) -> Any:
        return await self._asgi(self.router_app, pid)

    async def _asgi(self, app: Any, pid: str) -> Any:
        payload = orjson.dumps(api_peer.ours_request(pid)[2])
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": "/graphql", "raw_path": b"/graphql", "root_path": "",
            "query_string": b"", "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 1),
            "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                        (b"content-length", str(len(payload)).encode())],
            "state": {},
        }  # fmt: skip
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": payload, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        if sent[0]["status"] != 200:
            raise RuntimeError(sent)
        return sent

    async def run_all(self, ids: list[str], count: int) -> dict[str, float]:
        async with (
            self.app.router.lifespan_context(self.app),
            self.router_app.router.lifespan_context(self.router_app),
        ):
            for pid in ids:  # the answers execute_in_memory serves
                self.pages[pid] = (await self.read(pid)).get(pid)
            found = {}
            for name in ("read", "execute_in_memory", "execute", "asgi", "asgi_router"):
                found[name] = await _cpu(getattr(self, name), ids, count)
                print(f"  {name}: {found[name]} ms CPU per request", flush=True)
        return found


async def _cpu(call: Callable[[str], Awaitable[Any]], ids: list[str], count: int) -> float:
    for i in range(count // 10):
        await call(ids[i % len(ids)])
    started = time.process_time()
    for i in range(count):
        await call(ids[i % len(ids)])
    return round((time.process_time() - started) * 1000 / count, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", type=int, default=200_000, help="synthetic edges (bench_api's --edges)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/cosmo-kg-bench-api"))
    parser.add_argument("--requests", type=int, default=2000, help="requests per layer")
    parser.add_argument("--label", default="latest", help="the key of this run in graphql_cpu.json")
    args = parser.parse_args()
    graph = open_graph(args.work, args.edges)
    try:
        warm_page_cache(graph)
        with connect(graph.client) as driver:
            ids = [r["id"] for r in driver.execute_query(SAMPLE_PRODUCTS, n=2000).records]
        os.environ.update(serve_env(graph, args.work, 0, {}))
        # uvloop, as `cosmo-kg serve` runs.
        layers = uvloop.run(Layers(ServeSettings.load()).run_all(ids, args.requests))
    finally:
        close_graph(graph)
    path = RESULTS / "graphql_cpu.json"
    recorded = json.loads(path.read_text()) if path.exists() else {}
    recorded[args.label] = {
        "when": datetime.now(UTC).isoformat(),
        "requests": args.requests,
        "cpu_ms_per_request": layers,
        "http_and_framework_ms": round(layers["asgi"] - layers["execute"], 3),
        "http_and_framework_via_router_ms": round(layers["asgi_router"] - layers["execute"], 3),
        "strawberry_without_io_ms": layers["execute_in_memory"],
    }
    path.write_text(json.dumps(recorded, indent=2) + "\n")


if __name__ == "__main__":
    main()
