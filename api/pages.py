"""The browser pages of the API, served from the package with no CDN (they work offline):
GraphiQL at ``/graphql`` (pinned npm assets, see ``static/vendor/SOURCE.md``) with example
queries, and the explorer at ``/explore``; their files under ``/static``."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC_PREFIX = "/static"


def static_dir() -> Path:
    return Path(str(resources.files("cosmo_kg.api").joinpath("static")))


@functools.cache
def page(name: str) -> str:
    """One HTML page of ``static/`` (read once per process)."""
    return (static_dir() / name).read_text(encoding="utf-8")


def graphiql_response() -> HTMLResponse:
    return HTMLResponse(page("graphiql.html"))


def add_pages(app: FastAPI) -> None:
    """Mount the static files and the explorer page on ``app``."""
    router = APIRouter(include_in_schema=False)

    @router.get("/explore", response_class=HTMLResponse)
    async def explore() -> HTMLResponse:
        return HTMLResponse(page("explore.html"))

    app.include_router(router)
    app.mount(STATIC_PREFIX, StaticFiles(directory=static_dir()), name="static")
