"""The HTTP app: GraphQL at /graphql, the cached serving path, the read-only Cypher console,
admin endpoints behind API keys, health, readiness and Prometheus metrics.

``create_app(settings)`` builds everything from explicit settings; the Neo4j driver, the
cache store and the semantic index are opened in the lifespan, never at import.
"""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from typing import Annotated, Any

import orjson
import strawberry
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from strawberry.fastapi import GraphQLRouter

from cosmo_kg.api.answers import TIER1, TIER2
from cosmo_kg.api.errors import error_body, kind_of
from cosmo_kg.api.graphql_http import PATH, FastGraphQL
from cosmo_kg.api.index import TextEmbedder
from cosmo_kg.api.loaders import Loaders
from cosmo_kg.api.observe import Metrics, ObserveMiddleware
from cosmo_kg.api.pages import add_pages, graphiql_response
from cosmo_kg.api.schema import ApiContext, build_schema
from cosmo_kg.api.services import ServeSettings, Services
from cosmo_kg.errors import CosmoKGError, InputError
from cosmo_kg.text import text_key
from cosmo_kg.vocabulary import NodeLabel

QueryText = Annotated[str, Query(min_length=1, max_length=500, description="a search query")]


class CypherRequest(BaseModel):
    statement: str = Field(min_length=1, max_length=20_000, description="one read-only Cypher statement")
    parameters: dict[str, Any] = Field(default_factory=dict, description="query parameters")


class CypherResponse(BaseModel):
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    row_limit: int


async def services(request: Request) -> Services:
    # async: FastAPI runs a plain-def dependency in its thread pool, a hop on every request.
    return request.app.state.services


Svc = Annotated[Services, Depends(services)]


def require_key(request: Request, svc: Svc) -> None:
    header = request.headers.get("authorization", "")
    presented = header[7:] if header.lower().startswith("bearer ") else request.headers.get("x-api-key")
    svc.keys.check(presented)


def _serving_routes() -> APIRouter:
    router = APIRouter(tags=["serving"])

    @router.get("/v1/intentions", summary="Cached intentions of a search query")
    async def query_intentions(svc: Svc, query: QueryText) -> Response:
        return Response(await svc.answers.answer_json(query), media_type="application/json")

    @router.get("/v1/features/query", summary="Feature-store features of a query")
    async def query_features(svc: Svc, text: QueryText) -> dict[str, Any]:
        found = await svc.features.get(NodeLabel.QUERY, text_key(text))
        if found is None:
            raise InputError(f"unknown query {text!r}")
        return asdict(found)

    @router.get("/v1/features/product/{product_id}", summary="Feature-store features of a product")
    async def product_features(svc: Svc, product_id: Annotated[str, Path(max_length=200)]) -> dict[str, Any]:
        found = await svc.features.get(NodeLabel.PRODUCT, product_id.strip())
        if found is None:
            raise InputError(f"unknown product {product_id!r}")
        return asdict(found)

    @router.post("/cypher", response_model=CypherResponse, summary="Run one read-only Cypher statement")
    async def cypher(svc: Svc, body: CypherRequest) -> CypherResponse:
        result = await svc.console.run(body.statement, body.parameters)
        return CypherResponse(
            columns=result.columns, rows=result.rows, truncated=result.truncated, row_limit=result.row_limit
        )

    return router


def _admin_routes() -> APIRouter:
    router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_key)])

    @router.post("/cache/preload", summary="Preload tier 1 with the top queries")
    async def preload(svc: Svc, top: Annotated[int, Query(ge=1, le=1_000_000)] = 1000) -> dict[str, int]:
        from cosmo_kg.api.caching import preload_tier1

        return {"written": await preload_tier1(svc, top)}

    @router.post("/refresh", summary="Answer the queued misses into tier 2 (the cache step of refresh)")
    async def refresh(svc: Svc) -> dict[str, int]:
        from cosmo_kg.api.caching import drain_queue

        drained, written = await drain_queue(svc)
        return {"drained": drained, "written": written}

    @router.delete("/cache/{tier}", summary="Empty one cache tier")
    async def clear(svc: Svc, tier: Annotated[str, Path(pattern="^(tier1|tier2)$")]) -> dict[str, int]:
        return {"deleted": await svc.offload.io(svc.store.delete_prefix, TIER1 if tier == "tier1" else TIER2)}

    return router


def _ops_routes(metrics: Metrics) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Neo4j answers and the semantic index is loaded; the versions served")
    async def readyz(svc: Svc) -> JSONResponse:
        checks: dict[str, str] = {"index": "loaded" if svc.index else "not built"}
        versions = {"index": svc.index.version if svc.index else None, "graph": svc.freshness.versions.graph}
        try:
            await svc.reader.ping()
            checks["neo4j"] = "ok"
        except CosmoKGError as exc:
            checks["neo4j"] = exc.message
        ready = checks["neo4j"] == "ok" and svc.index is not None
        headers = {} if ready else {"Retry-After": str(svc.settings.api.retry_after)}
        return JSONResponse(
            # The worker's pid: which of several API processes (--workers) answered.
            {"ready": ready, "checks": checks, "versions": versions, "worker": os.getpid()},
            status_code=200 if ready else 503,
            headers=headers,
        )

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router


class _GraphQLRouter(GraphQLRouter[Any, None]):
    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return graphiql_response()  # GraphiQL from the package, not a CDN


def _graphql_context(settings: ServeSettings, svc: Services) -> ApiContext:
    return ApiContext(
        settings=settings.api,
        reader=svc.reader,
        loaders=Loaders(svc.reader),
        answers=svc.answers,
        features=svc.features,
        index=svc.index,
    )


def _graphql_router(settings: ServeSettings, schema: strawberry.Schema) -> GraphQLRouter[Any, None]:
    async def context(request: Request) -> ApiContext:
        return _graphql_context(settings, request.app.state.services)

    return _GraphQLRouter(schema, context_getter=context, graphql_ide="graphiql")


def _add_graphql(app: FastAPI, settings: ServeSettings) -> None:
    """Strawberry's router at /graphql, and in front of it the direct path for JSON POSTs."""
    schema = build_schema(settings.api)
    app.include_router(_graphql_router(settings, schema), prefix=PATH, include_in_schema=False)
    app.add_middleware(
        FastGraphQL,
        schema=schema,
        context=lambda scope: _graphql_context(settings, scope["app"].state.services),
    )


def create_app(settings: ServeSettings | None = None, *, embedder: TextEmbedder | None = None) -> FastAPI:
    """Build the app. ``embedder`` reuses an already loaded embedding model (tests, notebooks).

    Args:
        settings: every settings group (default: environment, config file, defaults).
        embedder: optional loaded embedder for the semantic index.
    """
    settings = settings or ServeSettings.load()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = Services.open(settings, embedder=embedder, serving=True)
        svc.answers.observe = metrics.answer_source
        app.state.services = svc
        await svc.freshness.check_graph()
        svc.watch()
        _tune_garbage_collector(settings.api.gc_young_threshold)
        try:
            yield
        finally:
            gc.unfreeze()
            await svc.close()

    app = FastAPI(
        title="cosmo-kg",
        version="1",
        lifespan=lifespan,
        description="E-commerce commonsense knowledge: GraphQL at /graphql, REST for the hot path.",
    )
    _add_graphql(app, settings)
    for router in (_serving_routes(), _admin_routes(), _ops_routes(metrics)):
        app.include_router(router)
    add_pages(app)
    app.add_exception_handler(CosmoKGError, _error_response)  # type: ignore[arg-type]
    app.add_middleware(ObserveMiddleware, metrics=metrics, timeout=settings.api.request_timeout)
    app.state.settings = settings
    return app


def _tune_garbage_collector(young_threshold: int) -> None:
    # Everything built at start-up (modules, schema, the embedding model) lives as long as the
    # process; frozen, the collector stops re-scanning it, so a full collection takes well under
    # a millisecond instead of 80-300 ms stalling every request in flight. A request allocates
    # thousands of short-lived containers that reference counting frees; with many requests in
    # flight CPython's young threshold (700) collects them over and over for nothing.
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(young_threshold, older, oldest)


async def _error_response(request: Request, exc: CosmoKGError) -> JSONResponse:
    kind = kind_of(exc)
    headers = {}
    if kind.status == 503:
        headers["Retry-After"] = str(request.app.state.settings.api.retry_after)
    return JSONResponse(error_body(exc), status_code=kind.status, headers=headers)
