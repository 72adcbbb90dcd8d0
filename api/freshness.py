"""What served answers are as of, and keeping it current while the API runs.

Cached values (tier answers, features) are stored behind a stamp line: ``g=<graph version>`` for
answers computed from the graph, ``g=<graph version>;i=<index version>`` for semantic answers,
which also depend on the index. A value is served only while its stamp names the current
versions; otherwise it is recomputed (and written back), so the first request after a write
never gets pre-write knowledge and nothing is flushed. The graph version (the newest completed
write run, ``cosmo_kg.graph.version``) is read every ``cache.version_check`` seconds (0: on every
request); the index ``CURRENT`` pointer every ``index.reload_seconds``, and a new index version is
loaded off the event loop and swapped in whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from cosmo_kg.api.reads import GraphReader
from cosmo_kg.errors import CosmoKGError
from cosmo_kg.graph.version import LATEST, GraphVersion

log = logging.getLogger("cosmo_kg.api")
STAMP_END = b"\n"


@dataclass(frozen=True)
class Versions:
    """The graph and index versions answers are computed at ("" while unknown)."""

    graph: str = ""
    index: str = ""

    def stamp(self, semantic: bool = False) -> str:
        return f"g={self.graph};i={self.index}" if semantic else f"g={self.graph}"

    def current(self, stamp: str) -> bool:
        """Whether a value stamped ``stamp`` may be served. While the graph version is unknown
        (Neo4j not reached yet) the cache is served as it is: better than no answer."""
        return not self.graph or stamp in (self.stamp(), self.stamp(semantic=True))


def stamped(stamp: str, body: bytes) -> bytes:
    return stamp.encode() + STAMP_END + body


def unstamp(raw: bytes) -> tuple[str, bytes]:
    """(stamp, body) of a stored value; a value stored before stamps has the stamp ``""``."""
    if raw[:1] in (b"{", b"["):
        return "", raw
    stamp, _, body = raw.partition(STAMP_END)
    return stamp.decode(), body


class Freshness:
    """The current versions, watched by two loops started with ``start`` (in the app's lifespan)."""

    def __init__(self, reader: GraphReader, check_seconds: float, index_version: str = "") -> None:
        self.reader = reader
        self.check_seconds = check_seconds
        self.versions = Versions(index=index_version)
        self.graph_version = GraphVersion()
        self._tasks: list[asyncio.Task[None]] = []

    async def current(self) -> Versions:
        """The versions to stamp and check against (read now when ``check_seconds`` is 0)."""
        if self.check_seconds == 0:
            await self.check_graph()
        return self.versions

    async def check_graph(self) -> None:
        """Read the graph version; an unreachable Neo4j keeps the last one known."""
        try:
            rows = await self.reader.rows(LATEST)
        except CosmoKGError as exc:
            log.debug("graph version not read: %s", exc)
            return
        self.graph_version = GraphVersion.of(rows[0] if rows else None)
        self.versions = replace(self.versions, graph=self.graph_version.tag)

    def index_loaded(self, version: str) -> None:
        self.versions = replace(self.versions, index=version)

    def start(self, reload_index: Callable[[], Awaitable[None]], index_seconds: float) -> None:
        """Watch the graph version (unless read per request) and the index pointer."""
        if self.check_seconds > 0:
            self._tasks.append(asyncio.create_task(_every(self.check_seconds, self.check_graph)))
        if index_seconds > 0:
            self._tasks.append(asyncio.create_task(_every(index_seconds, reload_index)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()


async def _every(seconds: float, work: Callable[[], Awaitable[None]]) -> None:
    while True:
        try:
            await work()
        except Exception:  # a watch loop must outlive one bad round (logged, retried next round)
            log.exception("background check failed; retrying in %.1f s", seconds)
        await asyncio.sleep(seconds)
