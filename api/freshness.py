"""What served answers are as of, and keeping it current while the API runs.

Cached values (tier answers, features) are stored behind a stamp line: ``g=<graph version>`` for
answers computed from the graph, ``g=<graph version>;i=<index version>`` for semantic answers,
which also depend on the index. A value is served only while its stamp names the current
versions; otherwise it is recomputed (and written back), so nothing is flushed.

The graph version (the newest completed write run, ``cosmo_kg.graph.version``) is read from
Neo4j when a request may need it: while the host's write signal (``WriteSignal``, listed on every
request) shows a write run completing, or after its listing changed. That read must have started
after the request arrived, so a request that arrives after a write has completed never gets
pre-write knowledge; requests arriving together share one read (at most one in flight). Writers
on other hosts (or outside cosmo-kg) are seen by a background read every ``cache.version_check``
seconds; with 0, every request reads it (strict for every writer, at a Neo4j round trip each).
The index ``CURRENT`` pointer is read every ``index.reload_seconds``; a new index version is
loaded off the event loop and swapped in whole.

On a cluster (``neo4j://``) reads go to followers, which may lag the leader a writer wrote to.
The graph version read starts from the bookmarks this host's writers recorded with their write
signal, and every read after it from the bookmarks that read ended with: a follower behind the
write waits for it, so the first request after a load sees the load, and no answer is stamped
with a version newer than the state it was computed from.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import neo4j

from cosmo_kg.api.reads import GraphReader
from cosmo_kg.errors import CosmoKGError
from cosmo_kg.graph.version import DATABASE_ID, LATEST, GraphVersion, WriteSignal, writing

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
    """The current versions: the graph's read per request (coalesced) or by a background loop,
    the index's watched by a loop; loops start with ``start`` (in the app's lifespan)."""

    def __init__(self, reader: GraphReader, check_seconds: float, index_version: str = "") -> None:
        self.reader = reader
        self.check_seconds = check_seconds
        self.versions = Versions(index=index_version)
        self.graph_version = GraphVersion()
        self.reads = 0  # completed graph version reads
        self.signal: WriteSignal | None = None  # known once the database id was read
        self._signal_seen: frozenset[str] | None = None  # the listing the applied read followed
        self._recorded: tuple[frozenset[str], neo4j.Bookmarks] | None = None  # a listing's bookmarks
        self._unreachable_until = 0.0
        self._started = self._applied = 0  # order of the last read begun, of the last one applied
        self._waiting: list[asyncio.Future[str]] = []
        self._reading: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def current(self) -> Versions:
        """The versions to stamp and check against: as of a graph version read that started
        after this call (shared with the calls arriving meanwhile) when the graph may have
        changed since the last read, else the versions known."""
        if self._may_have_changed():
            return replace(self.versions, graph=await self._fresh_read())
        return self.versions

    def _may_have_changed(self) -> bool:
        if time.monotonic() < self._unreachable_until:
            return False  # Neo4j just failed: serve what is cached rather than wait on it again
        if self.check_seconds == 0 or self.signal is None:
            return True
        # A directory listing on the event loop: microseconds, against a Neo4j round trip.
        names = self.signal.names()
        return names is None or writing(names) or names != self._signal_seen

    async def _fresh_read(self) -> str:
        done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting.append(done)
        if self._reading is None:
            self._reading = asyncio.create_task(self._read_for_waiting())
        return await done

    async def _read_for_waiting(self) -> None:
        """Read for everyone waiting, then again for whoever arrived during that read."""
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    _settle(batch, await self.check_graph())
                except Exception as exc:  # the requests that waited for this read fail with it
                    _settle(batch, exc)
                except BaseException:
                    _cancel([*batch, *self._waiting])
                    raise
        finally:
            self._reading = None

    async def check_graph(self) -> str:
        """Read the graph version and return its tag; an unreachable Neo4j keeps (and returns)
        the last one known. A read overtaken by one started later does not set it back."""
        self._started += 1
        order = self._started
        seen = self.signal.names() if self.signal else None  # before the read: it follows this listing
        try:
            rows, bookmarks = await self.reader.rows_from(
                self.reader.bookmarks + self.written_bookmarks(seen), LATEST
            )
        except CosmoKGError as exc:
            log.debug("graph version not read: %s", exc)
            self._unreachable_until = time.monotonic() + min(self.check_seconds or 1.0, 1.0)
            return self.versions.graph
        self.reads += 1
        version = GraphVersion.of(rows[0] if rows else None)
        if order > self._applied:
            self._applied = order
            self.graph_version = version
            self.versions = replace(self.versions, graph=version.tag)
            self._signal_seen = None if seen is None or writing(seen) else seen
            self.reader.bookmarks = bookmarks
        return version.tag

    def written_bookmarks(self, names: frozenset[str] | None) -> neo4j.Bookmarks:
        """The bookmarks this host's writers recorded in the listing ``names`` (read once per
        listing: they change only with it)."""
        if self.signal is None or names is None:
            return neo4j.Bookmarks()
        if self._recorded is None or self._recorded[0] != names:
            self._recorded = names, neo4j.Bookmarks.from_raw_values(self.signal.bookmarks(names))
        return self._recorded[1]

    async def watch_graph(self) -> None:
        """One background round: (re)learn the database's write signal (a first load by the
        offline importer makes a new database), clear dead writers' marks, read the version."""
        await self.learn_signal()
        await self.check_graph()

    async def learn_signal(self) -> None:
        """Find the write signal of the database read (by its id), clear dead writers' marks."""
        try:  # without bookmarks: those of a database the importer replaced may not be honoured
            rows, _ = await self.reader.rows_from(neo4j.Bookmarks(), DATABASE_ID)
        except CosmoKGError as exc:
            log.debug("database id not read: %s", exc)
        else:
            signal = WriteSignal.of(str(rows[0]["id"]))
            if self.signal is None or signal.directory != self.signal.directory:
                signal.directory.mkdir(parents=True, exist_ok=True)
                if self.signal is not None:  # a new database: the old one's bookmarks are moot
                    self.reader.bookmarks = neo4j.Bookmarks()
                self.signal, self._signal_seen, self._recorded = signal, None, None
            signal.clear_dead_writers()

    def index_loaded(self, version: str) -> None:
        self.versions = replace(self.versions, index=version)

    def start(self, reload_index: Callable[[], Awaitable[None]], index_seconds: float) -> None:
        """Watch the graph version (unless read per request) and the index pointer."""
        if self.check_seconds > 0:
            self._tasks.append(asyncio.create_task(_every(self.check_seconds, self.watch_graph)))
        else:  # every request reads the version; the signal still brings writers' bookmarks
            self._tasks.append(asyncio.create_task(self.learn_signal()))
        if index_seconds > 0:
            self._tasks.append(asyncio.create_task(_every(index_seconds, reload_index)))

    async def stop(self) -> None:
        tasks = [*self._tasks, *([self._reading] if self._reading else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()


def _settle(batch: list[asyncio.Future[str]], outcome: str | Exception) -> None:
    for done in batch:
        if done.done():
            continue  # its request was cancelled meanwhile
        if isinstance(outcome, Exception):
            done.set_exception(outcome)
        else:
            done.set_result(outcome)


def _cancel(batch: list[asyncio.Future[str]]) -> None:
    for done in batch:
        done.cancel()


async def _every(seconds: float, work: Callable[[], Awaitable[object]]) -> None:
    while True:
        try:
            await work()
        except Exception:  # a watch loop must outlive one bad round (logged, retried next round)
            log.exception("background check failed; retrying in %.1f s", seconds)
        await asyncio.sleep(seconds)
