"""``cosmo-kg serve``: one API process, or ``api.workers`` of them on one port.

With one worker the app runs in the serving process itself, as it always did. With more, the
serving process becomes a small supervisor of spawned worker processes (fresh interpreters,
each running uvicorn with the same uvloop/httptools settings):

- On Linux every worker listens on a socket of its own, bound with ``SO_REUSEPORT`` to the same
  address, and the kernel spreads new connections over them (by a hash of the connection). One
  socket shared by all workers (uvicorn's and gunicorn's way) lets whichever worker is awake
  accept every waiting connection, and a keep-alive connection stays where it landed: once here,
  all 8 connections of a benchmark went to one of two workers (other runs split them 0.53-0.62).
  Elsewhere (or with ``api.reuse_port`` false) the workers share one socket.
- A worker that dies (killed, out of memory) is replaced; one that fails to start stops the
  whole server, as it would fail the same way again. SIGINT/SIGTERM stop the workers gracefully.

Every worker builds the app with ``worker_app``, so each holds its own Neo4j driver pool
(``api.pool_size`` connections), its own copy of the semantic index (and its own embedding
child process) and its own watch loops: a new index version is loaded by every worker from the
shared index directory, and the host-local write signal that keeps cached answers fresh after a
load is listed by every worker on every request. What the workers share lives outside them:
Neo4j, the cache store (Redis at ``REDIS_URL``; the embedded SQLite file also works across the
processes of one host) and the index directory.

Settings reach the workers through the environment: the serving process resolves them once
(options > environment > config file > defaults) and sets every setting's variable before the
workers start, so a worker (also a replacement started later) loads exactly those settings.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
from dataclasses import dataclass, fields, replace
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

from cosmo_kg.api.offload import on_parent_exit
from cosmo_kg.api.services import ServeSettings
from cosmo_kg.errors import ConfigError
from cosmo_kg.settings import SettingsGroup

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("cosmo_kg.api")
FACTORY = "cosmo_kg.api.workers:worker_app"
PLAIN_FORMAT = "%(message)s"
# Several processes write to one stream: each line names the worker (access lines included).
WORKER_FORMAT = "[%(process)d] %(message)s"
STARTUP_FAILURE = 3  # uvicorn's exit code when the app, its lifespan or the socket fails to start
STOP_SECONDS = 30.0  # a worker still running this long after SIGTERM is killed


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


def _uvicorn_options(settings: ServeSettings) -> dict[str, Any]:
    return {
        "host": settings.api.host,
        "port": settings.api.port,
        # Named rather than "auto": without uvloop or httptools the start fails instead of silently
        # falling back to the slower pure-Python event loop and HTTP parser.
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,
    }


def serve(settings: ServeSettings) -> None:
    """Serve until stopped: in this process with one worker, else under a ``Supervisor``
    (this process's environment then gains every setting's variable).

    Raises ``ConfigError`` when several workers cannot have the address (the port is taken)."""
    if settings.api.workers > 1:
        Supervisor(settings).run()
        return
    import uvicorn

    from cosmo_kg.api.app import create_app

    logging.basicConfig(level=logging.INFO, format=PLAIN_FORMAT)
    uvicorn.run(create_app(settings), log_config=None, **_uvicorn_options(settings))


def bind(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A TCP socket bound to ``host:port`` (not yet listening); ``reuse_port`` joins the
    address's ``SO_REUSEPORT`` group (same user only), among which the kernel balances."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            hint="stop what uses the port, or choose another with --api-port / COSMO_API_PORT",
        ) from exc
    return sock


@dataclass(frozen=True)
class _WorkerSpec:
    host: str
    port: int
    options: dict[str, Any]
    supervisor: int  # pid


def _run_worker(spec: _WorkerSpec, shared: socket.socket | None) -> None:
    """A worker process: uvicorn over its own ``SO_REUSEPORT`` socket, or the ``shared`` one.
    It stops (gracefully) when its supervisor dies: left serving, it would stay in the port's
    group with its old settings beside the workers of the next ``serve``."""
    import uvicorn

    on_parent_exit(spec.supervisor, lambda: os.kill(os.getpid(), signal.SIGTERM))

    config = uvicorn.Config(FACTORY, factory=True, log_config=log_config(WORKER_FORMAT), **spec.options)
    try:
        sock = shared or bind(spec.host, spec.port, reuse_port=True)
    except ConfigError as exc:
        logging.getLogger("cosmo_kg.api").error("Error: %s", exc)
        sys.exit(STARTUP_FAILURE)
    uvicorn.Server(config).run(sockets=[sock])


class Supervisor:
    """Starts ``api.workers`` worker processes on one address and keeps that many running."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.count = settings.api.workers
        self.reuse_port = settings.api.reuse_port and sys.platform.startswith("linux")
        options = _uvicorn_options(settings)
        self.spec = _WorkerSpec(settings.api.host, settings.api.port, options, os.getpid())
        self.context = multiprocessing.get_context("spawn")
        self.stopping = threading.Event()
        self.workers: list[BaseProcess] = []

    def run(self) -> None:
        """Serve until SIGINT/SIGTERM (or a worker fails to start: ``ConfigError``)."""
        logging.basicConfig(level=logging.INFO, format=WORKER_FORMAT)
        os.environ.update(settings_environment(self.settings))
        # Held while serving: the address stays ours (with SO_REUSEPORT: a member of the group
        # that never listens, so it takes no connections) and a taken port fails here, at once.
        held = bind(self.spec.host, self.spec.port, reuse_port=self.reuse_port)
        self.spec = replace(self.spec, port=held.getsockname()[1])  # port 0: the one the kernel chose
        shared = None if self.reuse_port else held
        if shared is not None:
            shared.listen(2048)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stopping.set())
        try:
            self.workers = [self._start(shared) for _ in range(self.count)]
            log.info(
                "Serving on http://%s:%d with %d workers (%s)",
                self.spec.host,
                self.spec.port,
                self.count,
                "one SO_REUSEPORT socket each" if self.reuse_port else "one shared socket",
            )
            self._watch(shared)
        finally:
            self._stop_all()
            held.close()

    def _start(self, shared: socket.socket | None) -> BaseProcess:
        process = self.context.Process(target=_run_worker, args=(self.spec, shared), name="cosmo-kg-api")
        process.start()
        return process

    def _watch(self, shared: socket.socket | None) -> None:
        while not self.stopping.wait(0.5):
            for number, worker in enumerate(self.workers):
                if worker.is_alive() or worker.exitcode == 0:  # 0: asked to stop, by its own signal
                    continue
                if worker.exitcode == STARTUP_FAILURE:
                    raise ConfigError(
                        f"an API worker (pid {worker.pid}) failed to start",
                        hint="see its log lines above; `cosmo-kg serve --workers 1` shows the same error",
                    )
                log.warning("API worker %s exited with %s; starting another", worker.pid, worker.exitcode)
                self.workers[number] = self._start(shared)
            if all(worker.exitcode == 0 for worker in self.workers):
                return

    def _stop_all(self) -> None:
        for worker in self.workers:
            if worker.is_alive() and worker.pid is not None:
                os.kill(worker.pid, signal.SIGTERM)
        for worker in self.workers:
            worker.join(STOP_SECONDS)
            if worker.is_alive():
                log.warning("API worker %s did not stop in %.0f s; killing it", worker.pid, STOP_SECONDS)
                worker.kill()
                worker.join()
