"""Shards of a model stage, run one after the other in this process or on a Ray cluster.

A stage (``generate``, the critic of ``refine``) hands an executor its pending shards as
``(index, payload)`` pairs, a ``WorkerFactory`` and a ``commit`` callback. The factory is a
picklable callable that loads the model once and returns a ``ShardWorker``.

- ``LocalExecutor``: one worker in this process runs every shard, in order.
- ``RayExecutor``: a pool of Ray actors, each one model load reserving ``num_cpus`` /
  ``num_gpus``, takes the shards as actors free up. A worker *returns* a shard's result; the
  driver commits it (writes the shard files) with the same code as a single-process run, so the
  nodes need no shared filesystem and the files are exactly the single-process ones.

A shard whose actor dies (killed process, lost node) goes back to the queue and is run by the
next free actor; Ray restarts the dead actor (up to ``max_restarts``), which rejoins the pool
once its model is loaded again. Shards already committed are files on the driver: a run started
again skips them whichever node computed them.
"""

from __future__ import annotations

import logging
import math
import socket
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import click

from cosmo_kg.errors import BackendError, ConfigError, CosmoKGError
from cosmo_kg.settings import SettingsGroup, pop_settings, setting, settings_options

log = logging.getLogger(__name__)
P = TypeVar("P")
R = TypeVar("R")
P_contra = TypeVar("P_contra", contravariant=True)
R_co = TypeVar("R_co", covariant=True)
Tick = Callable[[int], None]
RAY_HINT = "install it with: pip install 'cosmo-kg[ray]' (or pip install 'ray[default]>=2.40,<3')"


@dataclass(frozen=True)
class RaySettings(SettingsGroup):
    section = "ray"

    address: str = setting(
        "",
        "Ray cluster that runs the model shards of generate / refine: empty (this process), "
        "auto (the cluster `ray start` joined this machine to) or HOST:PORT of its head",
        env="COSMO_RAY_ADDRESS",
    )
    actors: int = setting(
        0,
        "model actors (one model load each); 0: as many as the cluster's CPUs / GPUs hold",
        env="COSMO_RAY_ACTORS",
    )
    num_cpus: float = setting(
        1.0, "CPUs each actor reserves (and model threads, unless set)", env="COSMO_RAY_NUM_CPUS"
    )
    num_gpus: float = setting(
        0.0, "GPUs each actor reserves (0.5: two actors share a GPU)", env="COSMO_RAY_NUM_GPUS"
    )
    max_restarts: int = setting(
        3,
        "restarts of a dead actor (its shard is run by another one meanwhile)",
        env="COSMO_RAY_MAX_RESTARTS",
    )

    def validate(self) -> None:
        if self.actors < 0 or self.max_restarts < 0:
            raise self.bad_value("actors/max_restarts", "use 0 or more")
        if self.num_cpus < 0 or self.num_gpus < 0 or self.num_cpus + self.num_gpus == 0:
            raise self.bad_value("num_cpus/num_gpus", "reserve some CPUs or GPUs per actor")


def ray_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--ray ADDRESS|auto`` plus the ``--ray-*`` settings, for a command that runs shards."""
    command = settings_options(RaySettings)(command)
    return click.option(
        "--ray",
        "ray",
        metavar="ADDRESS|auto",
        help="Run the model shards on this Ray cluster (shorthand for --ray-address).",
    )(command)


def pop_ray_settings(params: dict[str, Any]) -> RaySettings:
    """The Ray settings of a command decorated with ``ray_options``, ``--ray`` winning."""
    shorthand = params.pop("ray", None)
    if shorthand:
        params[RaySettings.param_name("address")] = shorthand
    return pop_settings(RaySettings, params)


class ShardWorker(Protocol[P_contra, R_co]):
    """One loaded model: turns a shard's payload into the result the driver commits."""

    def run(self, payload: P_contra, tick: Tick) -> R_co: ...

    def close(self) -> None: ...


WorkerFactory = Callable[[], ShardWorker[P, R]]


class ShardExecutor(Protocol):
    """Runs pending shards and hands each result to ``commit`` in this (the driver's) process."""

    name: str
    retried: int
    workers: int

    def cpus_per_worker(self) -> int | None: ...

    def run(
        self,
        factory: WorkerFactory[P, R],
        shards: Iterable[tuple[int, P]],
        commit: Callable[[int, R], None],
        *,
        pending: int,
        tick: Tick | None = None,
    ) -> None: ...


class LocalExecutor:
    """Every shard in this process, with one worker built on the first shard (none if no shards)."""

    name, retried = "local", 0

    def __init__(self) -> None:
        self.workers = 0

    def cpus_per_worker(self) -> int | None:
        return None

    def run(
        self,
        factory: WorkerFactory[P, R],
        shards: Iterable[tuple[int, P]],
        commit: Callable[[int, R], None],
        *,
        pending: int,
        tick: Tick | None = None,
    ) -> None:
        worker: ShardWorker[P, R] | None = None
        try:
            for index, payload in shards:
                if worker is None:
                    worker, self.workers = factory(), 1
                commit(index, worker.run(payload, tick or _no_tick))
        finally:
            if worker is not None:
                worker.close()


def _no_tick(_: int) -> None:
    return None


def create_executor(settings: RaySettings) -> ShardExecutor:
    """``LocalExecutor`` without an address, else a ``RayExecutor`` (Ray is imported only then)."""
    settings.validate()
    if not settings.address:
        return LocalExecutor()
    return RayExecutor(settings)


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs the ray package, which is not installed", hint=RAY_HINT) from None
    return ray


def _check_reachable(address: str) -> None:
    """Fail fast on a HEAD:PORT nobody listens on (ray.init would retry it for minutes)."""
    host, _, port = address.rpartition(":")
    if address == "auto" or "://" in address or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise ConfigError(
            f"cannot connect to the Ray cluster at {address!r}: {exc}",
            hint="start one with `ray start --head --port PORT` there, or pass --ray auto on a node",
        ) from None


class _ActorBody:
    """The Ray actor: loads its model on first use (again after a restart) and runs shards."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.factory, self.worker = factory, None

    def ready(self) -> bool:
        self._loaded()
        return True

    def run(self, payload: Any) -> Any:
        return self._loaded().run(payload, _no_tick)

    def _loaded(self) -> Any:
        if self.worker is None:
            self.worker = self.factory()
        return self.worker


@dataclass
class _Queue(Generic[P]):
    """Shards not yet running: the ones put back after an actor died first, then the source's."""

    source: Iterator[tuple[int, P]]
    retry: deque[tuple[int, P]]

    def take(self) -> tuple[int, P] | None:
        return self.retry.popleft() if self.retry else next(self.source, None)

    def put_back(self, shard: tuple[int, P]) -> None:
        self.retry.append(shard)

    def has_more(self) -> bool:
        shard = self.take()
        if shard is not None:
            self.retry.appendleft(shard)
        return shard is not None


class RayExecutor:
    """A pool of Ray actors, one shard in flight per actor; see the module docstring."""

    name = "ray"

    def __init__(self, settings: RaySettings) -> None:
        self.settings = settings
        self.retried = self.workers = 0
        self.ray = import_ray()

    def cpus_per_worker(self) -> int | None:
        return max(1, math.floor(self.settings.num_cpus))

    def run(
        self,
        factory: WorkerFactory[P, R],
        shards: Iterable[tuple[int, P]],
        commit: Callable[[int, R], None],
        *,
        pending: int,
        tick: Tick | None = None,
    ) -> None:
        if pending == 0:
            return
        connected_here = self._connect()
        try:
            actors = self._start_actors(factory, pending)
            try:
                self._drive(actors, _Queue(iter(shards), deque()), commit)
            finally:
                for actor in actors:
                    self.ray.kill(actor)
        finally:
            if connected_here:
                self.ray.shutdown()

    def _connect(self) -> bool:
        if self.ray.is_initialized():
            return False
        _check_reachable(self.settings.address)
        try:
            self.ray.init(address=self.settings.address, logging_level=logging.WARNING, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(
                f"cannot connect to the Ray cluster at {self.settings.address!r}: {exc}",
                hint="start one with `ray start --head`, then pass --ray auto or --ray HEAD_IP:6379",
            ) from None
        return True

    def _actor_count(self, pending: int) -> int:
        s = self.settings
        if s.actors:
            return min(s.actors, pending)
        total = self.ray.cluster_resources()
        fits = [
            math.floor(total.get(k, 0) / need)
            for k, need in (("CPU", s.num_cpus), ("GPU", s.num_gpus))
            if need
        ]
        return max(1, min([*fits, pending]))

    def _start_actors(self, factory: Callable[[], Any], pending: int) -> list[Any]:
        s = self.settings
        actor_class = self.ray.remote(
            num_cpus=s.num_cpus, num_gpus=s.num_gpus, max_restarts=s.max_restarts, max_task_retries=0
        )(_ActorBody)
        self.workers = self._actor_count(pending)
        log.info("starting %d Ray actors (%s CPU, %s GPU each)", self.workers, s.num_cpus, s.num_gpus)
        return [actor_class.remote(factory) for _ in range(self.workers)]

    def _drive(self, actors: list[Any], queue: _Queue[P], commit: Callable[[int, R], None]) -> None:
        ray = self.ray
        idle = list(actors)
        running: dict[Any, tuple[Any, tuple[int, P]]] = {}
        probes: dict[Any, Any] = {}
        while True:
            while idle and (shard := queue.take()) is not None:
                actor = idle.pop()
                running[actor.run.remote(shard[1])] = (actor, shard)
            if not running and not (probes and queue.has_more()):
                if queue.has_more():
                    raise BackendError("every Ray actor died", hint="see the Ray logs of the cluster")
                return
            ready, _ = ray.wait([*running, *probes], num_returns=1)
            ref = ready[0]
            if ref in probes:
                actor = probes.pop(ref)
                if self._result(ref) is not None:
                    idle.append(actor)
                else:
                    actors.remove(actor)
                continue
            actor, shard = running.pop(ref)
            result = self._result(ref)
            if result is None:
                log.warning("Ray actor died running shard %d: it is run again", shard[0])
                self.retried += 1
                queue.put_back(shard)
                probes[actor.ready.remote()] = actor
            else:
                commit(shard[0], result[0])
                idle.append(actor)

    def _result(self, ref: Any) -> tuple[Any] | None:
        """The task's value (in a 1-tuple), None when its actor died; the worker's errors raise."""
        exceptions = self.ray.exceptions
        try:
            return (self.ray.get(ref),)
        except (exceptions.RayActorError, exceptions.WorkerCrashedError, exceptions.NodeDiedError):
            return None
        except exceptions.RayTaskError as exc:
            if isinstance(exc.cause, CosmoKGError):
                raise exc.cause from None
            raise BackendError(f"a Ray worker failed: {exc.cause!r}", hint="see the Ray logs") from None
