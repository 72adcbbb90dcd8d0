"""The graph version: which completed write the graph's knowledge is as of.

Every write run (a load, a refresh's load, a retraction, an import) keeps a ``:LoadRun`` record
and marks it complete, with ``completed_at``, in its last transaction. The latest completed
record names the version: its id and completion time. Readers that cache answers stamp them
with this tag, so an answer computed before a write is never served after it. Reading it is one
index seek, but one Neo4j round trip per request made cached answers 5x slower under load.

So writers also say so on this host (``WriteSignal``): a directory per graph database where a
write run's completion transaction is announced (``w-<pid>-<token>`` while it runs) and then
recorded (``v-<token>``). A serving API lists that directory on every request (microseconds) and
reads the graph version from Neo4j only when a completion is under way or the listing changed:
a request arriving after a completed write never gets pre-write knowledge, and between writes
no request waits on Neo4j for it. Writers on other hosts are seen by the API's periodic read.

The ``v-`` record holds the writer's bookmarks after its completion transaction: on a cluster an
API's reads start from them (``Freshness``), so a follower that has not applied the write yet
waits until it has, and the first read after a write sees it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import neo4j

from cosmo_kg.errors import InputError
from cosmo_kg.files import write_text_atomic
from cosmo_kg.graph.connection import session_database
from cosmo_kg.workspace import machine_cache_dir

# The newest completed write run; the range index on completed_at makes this a seek to its end.
LATEST = """
MATCH (l:LoadRun) WHERE l.completed_at IS NOT NULL
RETURN l.load_id AS run_id, coalesce(l.kind, 'load') AS kind, l.completed_at AS completed_at
ORDER BY l.completed_at DESC LIMIT 1
"""

log = logging.getLogger("cosmo_kg.graph")
EMPTY = "empty"
DATABASE_ID = "CALL db.info() YIELD id RETURN id"
WRITING, WRITTEN = "w-", "v-"
KEEP_WRITTEN_S = 600.0  # older ``v-`` records are pruned (the listing still changes with every write)


@dataclass(frozen=True)
class GraphVersion:
    """The latest completed write: its run id, kind (load or retraction) and completion time."""

    run_id: str = ""
    kind: str = ""
    completed_at: str = ""

    @property
    def tag(self) -> str:
        """A short string that changes with every completed write (``empty`` before the first)."""
        if not self.run_id:
            return EMPTY
        return f"{self.run_id[:16]}@{self.completed_at}"

    @classmethod
    def of(cls, row: dict[str, Any] | None) -> GraphVersion:
        if not row:
            return cls()
        completed = row["completed_at"]
        stamp = completed.iso_format() if hasattr(completed, "iso_format") else str(completed)
        return cls(str(row["run_id"]), str(row["kind"]), stamp)


def graph_version(driver: neo4j.Driver, database: str = "neo4j") -> GraphVersion:
    """The graph's current version (``GraphError``-free: a plain driver read)."""
    records, _, _ = driver.execute_query(
        LATEST, database_=session_database(database), routing_=neo4j.RoutingControl.READ
    )
    return GraphVersion.of(dict(records[0].items()) if records else None)


def recorded_bookmarks(driver: neo4j.Driver, database: str = "") -> neo4j.Bookmarks:
    """The bookmarks the write runs on this host recorded for ``database``: a session starting
    from them sees those writes on whichever cluster member it is routed to."""
    records, _, _ = driver.execute_query(
        DATABASE_ID, database_=session_database(database), routing_=neo4j.RoutingControl.READ
    )
    signal = WriteSignal.of(str(records[0]["id"]))
    return neo4j.Bookmarks.from_raw_values(signal.bookmarks(signal.names() or ()))


class WriteSignal:
    """The directory where writers on this host announce completing a write run of one graph
    database (named by its Neo4j database id), and serving APIs look first."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @classmethod
    def of(cls, database_id: str) -> WriteSignal:
        return cls(machine_cache_dir() / "graph-writes" / database_id)

    @classmethod
    def of_session(cls, session: neo4j.Session) -> WriteSignal:
        return cls.of(str(session.run(DATABASE_ID).single(strict=True)["id"]))

    def names(self) -> frozenset[str] | None:
        """The directory's entries (None when it cannot be listed: then read the graph)."""
        try:
            return frozenset(os.listdir(self.directory))
        except OSError:
            return None

    def bookmarks(self, names: Iterable[str]) -> frozenset[str]:
        """The bookmarks recorded by the completed writes among ``names`` (a listing): reads that
        start from all of them see every one of those writes."""
        found: set[str] = set()
        for name in names:
            if name.startswith(WRITTEN):
                found.update(_recorded_bookmarks(self.directory / name))
        return frozenset(found)

    @contextlib.contextmanager
    def completing(self, bookmarks: Callable[[], Iterable[str]] = tuple) -> Iterator[None]:
        """Around a write run's completion transaction: announced before, recorded after (also
        when it fails: readers then read the graph version once more, harmlessly), with the
        writer's ``bookmarks()`` once the transaction is over."""
        token = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        announced = self.directory / f"{WRITING}{token}"
        signalled = True
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            announced.touch()
        except OSError as exc:  # a read-only cache: APIs see the write by their periodic read
            log.warning("write not signalled in %s: %s", self.directory, exc)
            signalled = False
        if not signalled:
            yield
            return
        try:
            yield
        finally:
            self._record(token, bookmarks)
            with contextlib.suppress(OSError):
                announced.unlink(missing_ok=True)
            self._prune(keep=f"{WRITTEN}{token}")

    def _record(self, token: str, bookmarks: Callable[[], Iterable[str]]) -> None:
        """Write ``v-<token>`` whole (a reader never sees it half written): the bookmarks as JSON."""
        try:
            raw = sorted(bookmarks())
        except Exception as exc:  # recording must not hide the completion's own outcome
            log.warning("bookmarks of the write not recorded: %s", exc)
            raw = []
        with contextlib.suppress(InputError):  # an unwritable directory: readers read the graph
            write_text_atomic(json.dumps(raw), self.directory / f"{WRITTEN}{token}")

    def _prune(self, keep: str) -> None:
        cutoff = time.time() - KEEP_WRITTEN_S
        for path in self.directory.glob(f"{WRITTEN}*"):  # (an unreadable directory: none)
            with contextlib.suppress(OSError):
                if path.name != keep and path.stat().st_mtime < cutoff:
                    path.unlink()

    def clear_dead_writers(self) -> int:
        """Remove the announcements of writers that died mid-completion; return how many."""
        cleared = 0
        for name in self.names() or ():
            pid = name[len(WRITING) :].split("-", 1)[0]
            if name.startswith(WRITING) and pid.isdigit() and not _alive(int(pid)):
                with contextlib.suppress(OSError):
                    (self.directory / name).unlink()
                    cleared += 1
        return cleared


@contextlib.contextmanager
def completing_write(session: neo4j.Session) -> Iterator[None]:
    """``WriteSignal.completing`` for the session's graph database: wrap the completion
    transaction of every write run in it (the session's bookmarks are recorded after it)."""
    with WriteSignal.of_session(session).completing(lambda: session.last_bookmarks().raw_values):
        yield


def _recorded_bookmarks(path: Path) -> list[str]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # pruned meanwhile, or written before records held bookmarks
        return []
    return [value for value in raw if isinstance(value, str)] if isinstance(raw, list) else []


def writing(names: frozenset[str]) -> bool:
    return any(name.startswith(WRITING) for name in names)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
