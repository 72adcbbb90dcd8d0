"""Opened inputs: one checked file ready to read, or the files of one event log read as one.

An event log often comes as many files (daily dumps, Spark's ``part-00000.parquet`` …) with one
session's events spread over several. ``EventLog`` reads them in the order given as if they were
one file: chunks of a fixed number of rows run across file boundaries, and each row carries its
position in the log (file number, then row number, as one integer), so ties keep the log order
while rejects still name their file and row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import polars as pl

from cosmo_kg.errors import InputError
from cosmo_kg.ingest.events import read_ahead
from cosmo_kg.ingest.formats import (
    ROW_NR,
    ColumnSet,
    Format,
    SourceSpec,
    check_source,
    confirm_whole,
    plain_file,
    scan,
    tolerant_csv,
)

FILE_COLUMN = "file"
# A row's position in the log is its file's number * FILE_STRIDE + its row number: one integer
# that sorts in log order, and for the first file simply the row number.
FILE_STRIDE = 10**12
T = TypeVar("T")


@dataclass(frozen=True)
class OpenedSource:
    """A checked file ready to read: the fast scan and, for CSV/TSV, the tolerant re-read."""

    spec: SourceSpec
    plain: Path
    renames: dict[str, str]
    frame: pl.LazyFrame
    tolerant: Callable[[], pl.LazyFrame] | None


@contextmanager
def opened(
    spec: SourceSpec, renames: dict[str, str], wanted: ColumnSet, staging: Path
) -> Iterator[OpenedSource]:
    """Open a file ``check_source`` accepted (``renames``: what it returned); a gzip file is
    decompressed under ``staging`` while open."""
    with plain_file(spec, staging) as plain:
        tolerant = None
        if spec.format in (Format.CSV, Format.TSV):

            def tolerant() -> pl.LazyFrame:
                return tolerant_csv(spec, plain, renames, wanted, staging / "tolerant")

        yield OpenedSource(spec, plain, renames, scan(spec, plain, renames, wanted), tolerant)


@contextmanager
def open_log(specs: list[SourceSpec], wanted: ColumnSet, staging: Path) -> Iterator[EventLog]:
    """The files of one log, each checked before any is read (``InputError`` names the file)."""
    checked = [(spec, check_source(spec, wanted)) for spec in specs]
    with ExitStack() as stack:
        yield EventLog(
            [
                stack.enter_context(opened(spec, renames, wanted, staging / f"file-{number:06d}"))
                for number, (spec, renames) in enumerate(checked)
            ]
        )


class _Unreadable(Exception):
    def __init__(self, number: int, error: pl.exceptions.ComputeError) -> None:
        super().__init__(str(error))
        self.number = number
        self.reason = str(error).splitlines()[0]


@contextmanager
def _reading(number: int) -> Iterator[None]:
    try:
        yield
    except pl.exceptions.ComputeError as exc:
        raise _Unreadable(number, exc) from exc


@dataclass
class _Cursor:
    file: int = 0
    row: int = 0


class EventLog:
    """The files of one event log, read in the order given as one log."""

    def __init__(self, files: list[OpenedSource]) -> None:
        self.files = files
        self.frames = [file.frame for file in files]
        self.tolerant: set[int] = set()

    @property
    def tolerant_parse(self) -> bool:
        return bool(self.tolerant)

    def estimated_rows(self) -> int:
        return sum(_estimated_rows(file.spec, file.plain) for file in self.files)

    def read(
        self,
        validate: Callable[[pl.LazyFrame], pl.LazyFrame],
        rows: int,
        consume: Callable[[Iterator[pl.DataFrame]], T],
    ) -> T:
        """``consume`` the log in chunks of ``rows`` rows (the last one shorter), each
        ``validate``d and read ahead in a thread; ``row_nr`` holds each row's position in the log.

        If polars cannot parse a CSV/TSV file, that file is re-read tolerantly and ``consume``
        starts again. Raises ``InputError`` naming any other file that cannot be read.
        """
        while True:
            try:
                return consume(self._chunks(validate, rows))
            except _Unreadable as failed:
                self._read_tolerantly(failed)

    def located(self, rejects: pl.LazyFrame) -> pl.LazyFrame:
        """``rejects`` (``row_nr``: positions in the log) with each row's file and its row number
        there; the rejects of a one-file log are left as they are."""
        if len(self.files) == 1:
            return rejects
        paths = {number: str(file.spec.path) for number, file in enumerate(self.files)}
        position = pl.col(ROW_NR)
        return rejects.select(
            (position // FILE_STRIDE).replace_strict(paths, return_dtype=pl.String()).alias(FILE_COLUMN),
            position % FILE_STRIDE,
            pl.exclude(ROW_NR),
        )

    def _chunks(self, validate: Callable[[pl.LazyFrame], pl.LazyFrame], rows: int) -> Iterator[pl.DataFrame]:
        frames = [
            frame.with_columns(pl.col(ROW_NR) + number * FILE_STRIDE) if number else frame
            for number, frame in enumerate(self.frames)
        ]
        at = _Cursor()
        # One query per file in a chunk: the readers skip to the slice cheaply, and unlike a
        # stream of batches, nothing runs more than one chunk ahead of the consumer, so memory
        # stays bounded. On a chunk the in-memory engine spends less CPU than the streaming one.
        # Validated once per chunk, not per file: the rules cost a fixed time per query.
        return read_ahead(
            lambda _: self._chunk(frames, at, rows, validate), last=lambda _, chunk: chunk.height < rows
        )

    def _chunk(
        self,
        frames: list[pl.LazyFrame],
        at: _Cursor,
        rows: int,
        validate: Callable[[pl.LazyFrame], pl.LazyFrame],
    ) -> pl.DataFrame:
        pieces: list[pl.DataFrame] = []
        while True:
            wanted = rows - sum(piece.height for piece in pieces)
            with _reading(at.file):
                piece = frames[at.file].slice(at.row, wanted).collect(engine="in-memory")
            pieces.append(piece)
            at.row += piece.height
            if piece.height == wanted:
                break
            self._confirm_whole(at.file, at.row)
            if at.file == len(frames) - 1:
                break
            at.file, at.row = at.file + 1, 0
        return validate(_joined(pieces).lazy()).collect(engine="in-memory")

    def _confirm_whole(self, number: int, rows: int) -> None:
        file = self.files[number]
        if file.tolerant is not None and number not in self.tolerant:
            with _reading(number):
                confirm_whole(file.spec, file.plain, file.frame, rows)

    def _read_tolerantly(self, failed: _Unreadable) -> None:
        file = self.files[failed.number]
        if file.tolerant is None or failed.number in self.tolerant:
            raise InputError(
                f"{file.spec.path}: cannot read the input ({failed.reason})",
                hint="check the file format and encoding",
            ) from failed
        self.tolerant.add(failed.number)
        self.frames[failed.number] = file.tolerant()


def _joined(pieces: list[pl.DataFrame]) -> pl.DataFrame:
    if len(pieces) == 1:
        return pieces[0]
    # Files may type a column differently (text in a CSV, times in Parquet): the joined column
    # takes a type that holds both, text if need be. Times in a time zone are first made UTC,
    # as the events keep them, since zoned and plain times have no common type.
    zoned = pl.col(pl.Datetime(time_zone="*"))
    return pl.concat(
        [
            piece.with_columns(zoned.dt.convert_time_zone("UTC").dt.replace_time_zone(None))
            for piece in pieces
        ],
        how="diagonal_relaxed",
    )


def _estimated_rows(spec: SourceSpec, plain: Path) -> int:
    if spec.format is Format.PARQUET:
        return int(pl.scan_parquet(plain).select(pl.len()).collect().item())
    with plain.open("rb") as handle:
        head = handle.read(1 << 16)
    lines = max(head.count(b"\n"), 1)
    return int(plain.stat().st_size / (len(head) / lines)) + 1
