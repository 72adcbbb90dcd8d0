"""``cosmo-kg serve``: one API process, or ``api.workers`` of them on one port.

With one worker the app runs in the serving process itself, as it always did. With more,
uvicorn's supervisor binds the port once and spawns the workers (fresh interpreters) that
accept on the shared socket: the kernel hands each new connection to one of them and a
keep-alive connection stays with its worker. The supervisor replaces a worker that dies or
stops answering its health pings, and stops everything on SIGINT/SIGTERM.

Every worker builds the app with ``worker_app``, so each holds its own Neo4j driver pool
(``api.pool_size`` connections), its own copy of the semantic index (and its own embedding
child process) and its own watch loops: a new index version is loaded by every worker from
the shared index directory, and the host-local write signal that keeps cached answers fresh
after a load is listed by every worker on every request. What the workers share lives
outside them: Neo4j, the cache store (Redis at ``REDIS_URL``; the embedded SQLite file also
works across processes of one host) and the index directory.

Settings reach the workers through the environment: the serving process resolves them once
(options > environment > config file > defaults) and sets every setting's variable before
the workers start, so a worker (also one restarted later) loads exactly those settings.
"""

from __future__ import annotations

import logging
import os
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from cosmo_kg.api.services import ServeSettings
from cosmo_kg.settings import SettingsGroup

if TYPE_CHECKING:
    from fastapi import FastAPI

FACTORY = "cosmo_kg.api.workers:worker_app"
PLAIN_FORMAT = "%(message)s"
# Several processes write to one stream: each line names the worker (access lines included).
WORKER_FORMAT = "[%(process)d] %(message)s"


def settings_environment(settings: ServeSettings) -> dict[str, str]:
    """Every setting of every group as ``{ENV_VAR: text}``, read back by ``ServeSettings.load``
    to equal values (secrets included: the workers need them)."""
    env: dict[str, str] = {}
    for group_field in fields(settings):
        group: SettingsGroup = getattr(settings, group_field.name)
        for f, _ in type(group).fields():
            env[f.metadata["env"]] = _env_text(getattr(group, f.name))
    return env


def _env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def worker_app() -> FastAPI:
    """The app factory each worker process calls: settings from the environment the serving
    process set (``settings_environment``)."""
    from cosmo_kg.api.app import create_app

    return create_app(ServeSettings.load())


def log_config(fmt: str) -> dict[str, Any]:
    """Everything at INFO to stderr in ``fmt``; applied by uvicorn in every worker."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": fmt}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
        },
        "root": {"level": "INFO", "handlers": ["stderr"]},
    }


def serve(settings: ServeSettings) -> None:
    """Serve until stopped: in this process with one worker, else ``api.workers`` spawned
    worker processes behind uvicorn's supervisor (this process's environment gains every
    setting's variable, see ``settings_environment``)."""
    import uvicorn

    common: dict[str, Any] = {
        "host": settings.api.host,
        "port": settings.api.port,
        # Named rather than "auto": without uvloop or httptools the start fails instead of silently
        # falling back to the slower pure-Python event loop and HTTP parser.
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,
    }
    if settings.api.workers == 1:
        from cosmo_kg.api.app import create_app

        logging.basicConfig(level=logging.INFO, format=PLAIN_FORMAT)
        uvicorn.run(create_app(settings), log_config=None, **common)
        return
    os.environ.update(settings_environment(settings))
    uvicorn.run(
        FACTORY, factory=True, workers=settings.api.workers, log_config=log_config(WORKER_FORMAT), **common
    )
