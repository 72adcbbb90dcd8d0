"""Files every stage writes and recognises: one content digest, one atomic write, one output path.

A stage's output appears whole or not at all (written under a temporary name, then renamed), so a
killed run never leaves a half-written file that a rerun would take for a finished one.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from cosmo_kg.errors import InputError

BLOCK = 1 << 20


def file_digest(path: Path) -> str:
    """The hex digest of a file's bytes (BLAKE2b, 16 bytes), read in 1 MiB blocks."""
    digest = hashlib.blake2b(digest_size=16)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def files_digest(paths: Iterable[Path | None], salt: str = "") -> str:
    """One digest over files in order (``None``: an absent optional input) and a salt."""
    parts = [salt, *("-" if path is None else file_digest(path) for path in paths)]
    return hashlib.blake2b("|".join(parts).encode(), digest_size=16).hexdigest()


@contextmanager
def reading(path: str | Path, what: str = "file", hint: str | None = None) -> Iterator[None]:
    """Turn an unreadable, empty or malformed input into ``InputError`` naming the file."""
    try:
        yield
    except (OSError, pl.exceptions.PolarsError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0]
        raise InputError(
            f"{path}: not a readable {what} ({reason})", hint=hint or f"give a readable, non-empty {what}"
        ) from None


@contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn a file system refusal (a file where a folder should be, no permission, a full disk)
    into ``InputError`` naming the output."""
    try:
        yield
    except OSError as exc:
        raise InputError(
            f"cannot write {path}: {exc.strerror or exc}",
            hint="choose an output path in a folder you can write",
        ) from None


def output_path(path: str | Path) -> Path:
    """``path`` as a Path whose parent folder exists (created if missing)."""
    path = Path(path)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Call ``write`` on a temporary file beside ``path``, then rename it into place.

    The temporary name is hidden and unique per process and call, so concurrent writers never share
    one; a failed write leaves nothing behind.
    """
    temporary = output_path(path).with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    with writing(path):
        try:
            write(temporary)
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)


def write_parquet_atomic(frame: pl.DataFrame | pl.LazyFrame, path: Path) -> None:
    """Write Parquet atomically (see ``write_atomic``)."""
    if isinstance(frame, pl.LazyFrame):
        write_atomic(path, frame.sink_parquet)
    else:
        write_atomic(path, frame.write_parquet)


def write_text_atomic(text: str, path: Path) -> None:
    """Write UTF-8 text atomically (see ``write_atomic``)."""
    write_atomic(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))
