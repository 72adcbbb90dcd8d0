"""Metrics, structured access logs and the request time limit, as one small ASGI middleware."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("cosmo_kg.api.access")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The app's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "cosmo_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "cosmo_http_request_seconds",
            "HTTP request latency",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.answers = Counter(
            "cosmo_query_answers",
            "query answers by source (tier1, tier2, graph, semantic)",
            ["source"],
            registry=self.registry,
        )

    def answer_source(self, source: str) -> None:
        self.answers.labels(source).inc()


class ObserveMiddleware:
    """Times each request, answers 504 past the time limit, counts it and logs one JSON line."""

    def __init__(self, app: ASGIApp, metrics: Metrics, timeout: float) -> None:
        self.app = app
        self.metrics = metrics
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state: dict[str, Any] = {"status": 500, "sent": False}

        async def observed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                state["sent"] = True
            await send(message)

        try:
            async with asyncio.timeout(self.timeout):
                await self.app(scope, receive, observed_send)
        except TimeoutError:
            state["status"] = 504
            if not state["sent"]:
                await _timeout_response(send, self.timeout)
        finally:
            self._record(scope, state["status"], time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        self.metrics.requests.labels(scope["method"], route, str(status)).inc()
        self.metrics.latency.labels(route).observe(seconds)
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(
                orjson.dumps(
                    {
                        "id": os.urandom(6).hex(),
                        "method": scope["method"],
                        "path": scope["path"],
                        "route": route,
                        "status": status,
                        "ms": round(seconds * 1000, 2),
                        "client": (scope.get("client") or ("", 0))[0],
                    }
                ).decode()
            )


async def _timeout_response(send: Send, timeout: float) -> None:
    body = orjson.dumps(
        {
            "error": {
                "code": "TIMEOUT",
                "message": f"the request ran past {timeout:g}s",
                "hint": "narrow the request",
            }
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 504,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
