"""Cache stores: one small interface, two implementations side by side.

``RedisStore`` when ``REDIS_URL`` is set (shared by every API replica), ``SqliteStore`` otherwise
(an embedded on-disk file). Both hold byte values under string keys and a queue of missed
queries with their miss counts, drained by ``cosmo-kg refresh``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from cosmo_kg.api.settings import CacheSettings
from cosmo_kg.errors import BackendError, ConfigError


class CacheStore(Protocol):
    name: str

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]: ...
    def put_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> None: ...
    def scan(self, prefix: str) -> Iterator[tuple[str, bytes]]: ...
    def count(self, prefix: str) -> int: ...
    def delete_prefix(self, prefix: str) -> int: ...
    def enqueue(self, item: str) -> None: ...
    def queued(self, limit: int | None = None) -> list[tuple[str, int]]: ...
    def dequeue(self, items: Sequence[str]) -> None: ...
    def ping(self) -> None: ...
    def close(self) -> None: ...


class SqliteStore:
    """The embedded store: one SQLite file in WAL mode, safe across processes. A value with a
    time to live keeps its expiry time; expired values read as absent and are purged on write."""

    name = "sqlite"

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires REAL)"
        )
        if "expires" not in {row[1] for row in self._db.execute("PRAGMA table_info(kv)")}:
            self._db.execute("ALTER TABLE kv ADD COLUMN expires REAL")  # a file from before TTLs
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS queue (item TEXT PRIMARY KEY, "
            "misses INTEGER NOT NULL, first_seen REAL NOT NULL)"
        )

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        found: dict[str, bytes] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                marks = ",".join("?" * len(chunk))
                found.update(
                    self._db.execute(
                        f"SELECT key, value FROM kv WHERE key IN ({marks}) "
                        "AND (expires IS NULL OR expires > ?)",
                        [*chunk, time.time()],
                    )
                )
        return [found.get(k) for k in keys]

    def put_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> None:
        now = time.time()
        expires = now + ttl if ttl else None
        with self._lock, self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", ((k, v, expires) for k, v in items.items())
            )
            if expires is not None:
                self._db.execute("DELETE FROM kv WHERE expires <= ?", (now,))

    def scan(self, prefix: str) -> Iterator[tuple[str, bytes]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT key, value FROM kv WHERE key >= ? AND key < ? "
                "AND (expires IS NULL OR expires > ?) ORDER BY key",
                (prefix, prefix + "\uffff", time.time()),
            ).fetchall()
        yield from rows

    def count(self, prefix: str) -> int:
        with self._lock:
            return int(
                self._db.execute(
                    "SELECT count(*) FROM kv WHERE key >= ? AND key < ? AND (expires IS NULL OR expires > ?)",
                    (prefix, prefix + "\uffff", time.time()),
                ).fetchone()[0]
            )

    def delete_prefix(self, prefix: str) -> int:
        with self._lock, self._transaction():
            return self._db.execute(
                "DELETE FROM kv WHERE key >= ? AND key < ?", (prefix, prefix + "\uffff")
            ).rowcount

    def enqueue(self, item: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO queue VALUES (?, 1, ?) ON CONFLICT(item) DO UPDATE SET misses = misses + 1",
                (item, time.time()),
            )

    def queued(self, limit: int | None = None) -> list[tuple[str, int]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT item, misses FROM queue ORDER BY misses DESC, first_seen, item LIMIT ?",
                (-1 if limit is None else limit,),
            ).fetchall()
        return [(item, int(misses)) for item, misses in rows]

    def dequeue(self, items: Sequence[str]) -> None:
        with self._lock, self._transaction():
            self._db.executemany("DELETE FROM queue WHERE item = ?", ((i,) for i in items))

    def ping(self) -> None:
        with self._lock:
            self._db.execute("SELECT 1").fetchone()

    def close(self) -> None:
        self._db.close()

    def _transaction(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return _Commit(self._db)  # type: ignore[return-value]


class _Commit:
    """``with``-block that commits on success and rolls back on error (autocommit connection)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        return self.db

    def __exit__(self, kind: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if kind else "COMMIT")


class RedisStore:
    """The shared store: plain string keys and one sorted set as the miss queue."""

    name = "redis"

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self.prefix = prefix
        self._queue_key = f"{prefix}queue"
        try:
            self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        except ValueError as exc:
            raise ConfigError(f"cannot use REDIS_URL: {exc}", hint="use redis://HOST:PORT/DB") from exc
        self._errors = (redis.RedisError, OSError)

    def _call(self, method: str, *args: object) -> object:
        try:
            return getattr(self._redis, method)(*args)
        except self._errors as exc:
            raise BackendError(
                f"the Redis cache store failed: {exc}", hint="check that Redis runs at REDIS_URL"
            ) from exc

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        return list(self._call("mget", [self.prefix + k for k in keys]))  # type: ignore[call-overload]

    def put_many(self, items: Mapping[str, bytes], ttl: float | None = None) -> None:
        if not items:
            return
        if not ttl:
            self._call("mset", {self.prefix + k: v for k, v in items.items()})
            return
        pipe = self._redis.pipeline(transaction=False)
        for key, value in items.items():
            pipe.set(self.prefix + key, value, px=max(1, int(ttl * 1000)))
        try:
            pipe.execute()
        except self._errors as exc:
            raise BackendError(
                f"the Redis cache store failed: {exc}", hint="check that Redis runs at REDIS_URL"
            ) from exc

    def _keys(self, prefix: str) -> Iterator[bytes]:
        try:
            yield from self._redis.scan_iter(match=_glob_escape(self.prefix + prefix) + "*", count=1000)
        except self._errors as exc:
            raise BackendError(f"the Redis cache store failed: {exc}") from exc

    def scan(self, prefix: str) -> Iterator[tuple[str, bytes]]:
        keys = sorted(self._keys(prefix))
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            values = self._call("mget", chunk)
            for key, value in zip(chunk, values, strict=True):  # type: ignore[call-overload]
                if value is not None:
                    yield key.decode()[len(self.prefix) :], value

    def count(self, prefix: str) -> int:
        return sum(1 for _ in self._keys(prefix))

    def delete_prefix(self, prefix: str) -> int:
        keys = list(self._keys(prefix))
        deleted = 0
        for start in range(0, len(keys), 500):
            deleted += int(self._call("unlink", *keys[start : start + 500]))  # type: ignore[call-overload]
        return deleted

    def enqueue(self, item: str) -> None:
        self._call("zincrby", self._queue_key, 1, item)

    def queued(self, limit: int | None = None) -> list[tuple[str, int]]:
        end = -1 if limit is None else limit - 1
        rows = self._call("zrange", self._queue_key, 0, end, True, True)
        return [(item.decode(), int(score)) for item, score in rows]  # type: ignore[attr-defined]

    def dequeue(self, items: Sequence[str]) -> None:
        if items:
            self._call("zrem", self._queue_key, *items)

    def ping(self) -> None:
        self._call("ping")

    def close(self) -> None:
        self._redis.close()


def _glob_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def open_store(settings: CacheSettings) -> CacheStore:
    """Redis when ``REDIS_URL`` is set, else the embedded SQLite file."""
    if settings.redis_url:
        return RedisStore(settings.redis_url, settings.prefix)
    return SqliteStore(Path(settings.path))
