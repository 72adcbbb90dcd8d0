"""Readers: CSV / TSV / Parquet / JSON Lines (gzip too) → a lazy frame in our column names.

Every reader yields text columns as written (no type inference: a bad value becomes a rejected
row later, never a failed run), a ``row_nr`` (1-based data row) and a ``parse_error`` column that
is null for rows the format parser understood. The file is checked before it is read, so a file
that is not what the user said (binary, wrong delimiter, no header) stops with an ``InputError``
naming the file and the fix.

CSV is scanned by polars (streaming). If polars cannot parse the file (broken quoting, ragged
lines) the tolerant reader takes over: each physical line is parsed alone and lines that do not
parse become rows with a ``parse_error`` reason, so every line is accounted for.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import polars as pl

from cosmo_kg.errors import InputError
from cosmo_kg.files import reading

ROW_NR = "row_nr"
PARSE_ERROR = "parse_error"
RAW_LINE = "raw_line"
SNIFF_BYTES = 64 * 1024
TOLERANT_CHUNK_LINES = 100_000
DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"


class Format(StrEnum):
    CSV = "csv"
    TSV = "tsv"
    PARQUET = "parquet"
    JSONL = "jsonl"


_SUFFIX_FORMATS = {
    ".csv": Format.CSV,
    ".tsv": Format.TSV,
    ".tab": Format.TSV,
    ".txt": Format.TSV,
    ".parquet": Format.PARQUET,
    ".pq": Format.PARQUET,
    ".jsonl": Format.JSONL,
    ".ndjson": Format.JSONL,
    ".json": Format.JSONL,
}


def parse_delimiter(value: str) -> str:
    """Accept a delimiter character or its name (``tab``, ``comma``, ``semicolon``, ``pipe``)."""
    by_name = {name: char for char, name in DELIMITER_NAMES.items()}
    char = by_name.get(value.lower(), value.replace("\\t", "\t"))
    if len(char) != 1:
        raise InputError(
            f"delimiter {value!r} is not one character",
            hint="use one of: comma, tab, semicolon, pipe, or a single character",
        )
    return char


def parse_mapping(pairs: Sequence[str]) -> dict[str, str]:
    """``["asin=product_id", ...]`` → ``{"asin": "product_id"}`` (their name → our name)."""
    mapping = {}
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise InputError(
                f"column mapping {pair!r} is not THEIR_NAME=OUR_NAME",
                hint="e.g. --map asin=product_id --map search_term=query",
            )
        mapping[source.strip()] = target.strip()
    return mapping


@dataclass(frozen=True)
class SourceSpec:
    """One input file and how to read it.

    ``fmt`` and ``delimiter`` default from the file name; ``mapping`` renames their columns to
    ours; ``columns`` names the columns of a file without a header line.
    """

    path: Path
    fmt: Format | None = None
    delimiter: str | None = None
    mapping: Mapping[str, str] = field(default_factory=dict)
    columns: tuple[str, ...] = ()

    @property
    def format(self) -> Format:
        if self.fmt is not None:
            return self.fmt
        suffixes = [s.lower() for s in self.path.suffixes if s.lower() != ".gz"]
        if suffixes and suffixes[-1] in _SUFFIX_FORMATS:
            return _SUFFIX_FORMATS[suffixes[-1]]
        raise InputError(
            f"{self.path}: cannot tell the format from the file name",
            hint="pass --format csv|tsv|parquet|jsonl",
        )

    @property
    def separator(self) -> str:
        if self.delimiter:
            return self.delimiter
        return "\t" if self.format is Format.TSV else ","

    def describe(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "format": self.format.value,
            "delimiter": self.separator,
            "mapping": dict(self.mapping),
            "columns": list(self.columns),
        }


@dataclass(frozen=True)
class ColumnSet:
    """The columns one input kind reads: ``required`` must be present, ``optional`` may be."""

    kind: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return self.required + self.optional


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def _head(path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") if _is_gzip(path) else path.open("rb") as handle:
            return handle.read(SNIFF_BYTES)
    except (OSError, EOFError) as exc:
        raise InputError(
            f"{path}: not a readable gzip file ({exc})",
            hint="re-compress it with gzip, or give the uncompressed file",
        ) from exc


def _check_not_binary(spec: SourceSpec, head: bytes) -> None:
    if head.startswith(PARQUET_MAGIC):
        raise InputError(
            f"{spec.path}: is a Parquet file, not {spec.format.value} text", hint="pass --format parquet"
        )
    if b"\x00" in head or head.decode("utf-8", errors="replace").count("\ufffd") > len(head) // 10:
        raise InputError(
            f"{spec.path}: looks like a binary file, not {spec.format.value} text",
            hint="give a CSV, TSV or JSON Lines text file (gzip is fine) or a Parquet file",
        )


def _present_columns(spec: SourceSpec, head: bytes) -> list[str]:
    if spec.columns:
        return list(spec.columns)
    first_line = head.decode("utf-8", errors="replace").splitlines()[0] if head.strip() else ""
    if spec.format is Format.JSONL:
        return _jsonl_keys(spec, first_line)
    return next(csv.reader([first_line], delimiter=spec.separator), [])


def _jsonl_keys(spec: SourceSpec, first_line: str) -> list[str]:
    try:
        first = json.loads(first_line)
    except ValueError:
        first = None
    if not isinstance(first, dict):
        raise InputError(
            f"{spec.path}: the first line is not a JSON object, so this is not JSON Lines",
            hint="give one JSON object per line, or pass --format csv|tsv|parquet",
        )
    return list(first)


def _renamed(names: Sequence[str], spec: SourceSpec, wanted: ColumnSet) -> dict[str, str]:
    """Source column → our column, for the columns we read."""
    renames: dict[str, str] = {}
    for name in names:
        target = spec.mapping.get(name, name)
        if target in wanted.names and target not in renames.values():
            renames[name] = target
    for alias, target in wanted.aliases.items():
        if target not in renames.values() and alias in names and alias not in renames:
            renames[alias] = target
    return renames


def _check_columns(spec: SourceSpec, names: list[str], wanted: ColumnSet) -> dict[str, str]:
    unknown = sorted(set(spec.mapping.values()) - set(wanted.names))
    if unknown:
        raise InputError(
            f"--map names unknown {wanted.kind} column(s) {', '.join(unknown)}",
            hint=f"{wanted.kind} columns are {', '.join(wanted.names)}",
        )
    renames = _renamed(names, spec, wanted)
    missing = [c for c in wanted.required if c not in renames.values()]
    if not missing:
        return renames
    where = f"{spec.path}"
    if spec.format in (Format.CSV, Format.TSV) and not spec.columns:
        _explain_bad_header(spec, names, wanted)
    raise InputError(
        f"{where}: not a {wanted.kind} file, missing column(s) {', '.join(missing)}; "
        f"it has {', '.join(names) or 'no columns'}",
        hint="name their columns with --map THEIR_NAME=OUR_NAME, e.g. --map asin=product_id",
    )


def _explain_bad_header(spec: SourceSpec, names: list[str], wanted: ColumnSet) -> None:
    if len(names) <= 1:
        for char, name in DELIMITER_NAMES.items():
            if char != spec.separator and names and char in names[0]:
                raise InputError(
                    f"{spec.path}: the header has one column, and it contains {name}s: the file is "
                    f"{name}-separated, not {DELIMITER_NAMES.get(spec.separator, spec.separator)}-separated",
                    hint=f"pass --delimiter {name}",
                )
    known = set(wanted.names) | set(spec.mapping) | set(wanted.aliases)
    if not known & set(names):
        raise InputError(
            f"{spec.path}: the first line {spec.separator.join(names)[:80]!r} does not name the "
            f"columns, so the file seems to have no header",
            hint=f"add a header line, or name the columns in order with --columns "
            f"{','.join(wanted.required)},...",
        )


def check_source(spec: SourceSpec, wanted: ColumnSet) -> dict[str, str]:
    """Check the file is what the spec says; return the column renames (theirs → ours)."""
    if not spec.path.is_file():
        raise InputError(f"{spec.path}: no such file", hint="check the path")
    if spec.format is Format.PARQUET:
        return _check_columns(spec, _parquet_columns(spec.path), wanted)
    head = _head(spec.path)
    _check_not_binary(spec, head)
    if not head.strip():
        raise InputError(f"{spec.path}: the file is empty", hint="give a file with a header and rows")
    return _check_columns(spec, _present_columns(spec, head), wanted)


def _parquet_columns(path: Path) -> list[str]:
    with reading(path, "Parquet file"):
        with path.open("rb") as handle:
            if handle.read(4) != PARQUET_MAGIC:
                raise InputError(
                    f"{path}: not a Parquet file", hint="pass --format csv|tsv|jsonl if it is text"
                )
        return pl.scan_parquet(path).collect_schema().names()


@contextmanager
def plain_file(spec: SourceSpec, tmp_dir: Path) -> Iterator[Path]:
    """The file itself, or a decompressed copy of a gzip file (streamed, removed afterwards)."""
    if spec.format is Format.PARQUET or not _is_gzip(spec.path):
        yield spec.path
        return
    tmp_dir.mkdir(parents=True, exist_ok=True)
    target = tmp_dir / f"{spec.path.name}.plain"
    try:
        with gzip.open(spec.path, "rb") as source, target.open("wb") as sink:
            shutil.copyfileobj(source, sink, 1 << 20)
    except (OSError, EOFError) as exc:
        target.unlink(missing_ok=True)
        raise InputError(
            f"{spec.path}: the gzip stream is damaged ({exc})",
            hint="re-compress the file, or give it uncompressed",
        ) from exc
    try:
        yield target
    finally:
        target.unlink(missing_ok=True)


def _select(frame: pl.LazyFrame, renames: dict[str, str], wanted: ColumnSet) -> pl.LazyFrame:
    present = set(renames.values())
    return frame.select(
        pl.col(ROW_NR).cast(pl.Int64()),
        *(pl.col(source).alias(target) for source, target in renames.items()),
        *(pl.lit(None, dtype=pl.String()).alias(c) for c in wanted.names if c not in present),
        pl.lit(None, dtype=pl.String()).alias(PARSE_ERROR),
    )


def scan(spec: SourceSpec, plain: Path, renames: dict[str, str], wanted: ColumnSet) -> pl.LazyFrame:
    """The fast streaming scan of a checked source (``plain``: the file, decompressed)."""
    if spec.format is Format.PARQUET:
        frame = pl.scan_parquet(plain).with_row_index(ROW_NR, offset=1)
        _check_flat(frame, renames)
        return _select(frame, renames, wanted)
    if spec.format is Format.JSONL:
        return _scan_jsonl(plain, renames, wanted)
    frame = pl.scan_csv(
        plain,
        separator=spec.separator,
        has_header=not spec.columns,
        new_columns=list(spec.columns) or None,
        infer_schema=False,
        encoding="utf8-lossy",
        row_index_name=ROW_NR,
        row_index_offset=1,
        missing_columns="insert",
    )
    return _select(frame, renames, wanted)


def confirm_whole(spec: SourceSpec, plain: Path, frame: pl.LazyFrame, rows: int) -> None:
    """Raise ``ComputeError`` unless ``rows``, read from the CSV/TSV ``frame`` in slices, are all its rows.

    Read in slices, polars may stop quietly at a line with an unclosed quote, where a whole read
    fails. With one row per line (the usual case) a count of the lines confirms the rows cheaply;
    otherwise a whole read decides.
    """
    header = 0 if spec.columns else 1
    if rows + header == _line_count(plain):
        return
    whole = frame.select(pl.len().alias("rows"), pl.all().null_count()).collect().item(0, "rows")
    if whole != rows:
        raise pl.exceptions.ComputeError(f"{spec.path}: read {rows} of {whole} rows in slices")


def _line_count(plain: Path) -> int:
    lines = pl.scan_csv(
        plain,
        has_header=False,
        separator="\x01",
        quote_char=None,
        new_columns=["line"],
        infer_schema=False,
        encoding="utf8-lossy",
        truncate_ragged_lines=True,
    )
    return int(lines.select(pl.len()).collect().item())


def _check_flat(frame: pl.LazyFrame, renames: dict[str, str]) -> None:
    """Parquet columns keep numbers and times as they are; nested values cannot be ours."""
    schema = frame.collect_schema()
    nested = [name for name in renames if schema[name].is_nested()]
    if nested:
        raise InputError(
            f"column(s) {', '.join(nested)} hold lists or structs, not values",
            hint="flatten them into one value per row before ingesting",
        )


def _scan_jsonl(plain: Path, renames: dict[str, str], wanted: ColumnSet) -> pl.LazyFrame:
    # One JSON object per physical line: read lines as one text column (a raw control character
    # cannot occur in valid JSON, so \x01 never splits a good line) and pull fields by JSON path,
    # so a malformed line becomes a rejected row instead of a failed run.
    lines = pl.scan_csv(
        plain,
        has_header=False,
        separator="\x01",
        quote_char=None,
        new_columns=[RAW_LINE],
        infer_schema=False,
        encoding="utf8-lossy",
        truncate_ragged_lines=True,
        row_index_name=ROW_NR,
        row_index_offset=1,
    )
    line = pl.col(RAW_LINE)
    fields = [line.str.json_path_match(f"$['{source}']").alias(target) for source, target in renames.items()]
    present = set(renames.values())
    return lines.filter(line.str.strip_chars() != "").select(
        pl.col(ROW_NR).cast(pl.Int64()),
        *fields,
        *(pl.lit(None, dtype=pl.String()).alias(c) for c in wanted.names if c not in present),
        pl.when(line.str.json_path_match("$").is_null() | ~line.str.strip_chars_start().str.starts_with("{"))
        .then(pl.lit("malformed_json"))
        .otherwise(None)
        .alias(PARSE_ERROR),
    )


def tolerant_csv(
    spec: SourceSpec, plain: Path, renames: dict[str, str], wanted: ColumnSet, staging: Path
) -> pl.LazyFrame:
    """Parse a CSV that polars refused, line by line, into Parquet chunks under ``staging``.

    A line that does not parse alone (open quote, wrong number of fields) becomes a row with
    ``parse_error`` set and the line kept in ``raw_line``.
    """
    staging.mkdir(parents=True, exist_ok=True)
    for old in staging.glob("chunk-*.parquet"):
        old.unlink()
    header, chunks = _tolerant_chunks(spec, plain)
    # Typed up front: inferred from the first rows, a column whose first bad line comes late
    # would be typed null and refuse the text.
    schema = {ROW_NR: pl.Int64(), **dict.fromkeys([*header, PARSE_ERROR, RAW_LINE], pl.String())}
    for number, rows in enumerate(chunks):
        frame = pl.DataFrame(rows, schema=schema, orient="row")
        frame.write_parquet(staging / f"chunk-{number:06d}.parquet")
    present = set(renames.values())
    return pl.scan_parquet(staging / "chunk-*.parquet").select(
        pl.col(ROW_NR).cast(pl.Int64()),
        *(pl.col(source).alias(target) for source, target in renames.items()),
        *(pl.lit(None, dtype=pl.String()).alias(c) for c in wanted.names if c not in present),
        pl.col(PARSE_ERROR),
        pl.col(RAW_LINE),
    )


def _tolerant_chunks(spec: SourceSpec, plain: Path) -> tuple[list[str], Iterator[list[list[object]]]]:
    handle = io.TextIOWrapper(plain.open("rb"), encoding="utf-8", errors="replace", newline="")
    header = list(spec.columns) or next(csv.reader([handle.readline()], delimiter=spec.separator))

    def chunks() -> Iterator[list[list[object]]]:
        rows: list[list[object]] = []
        yielded = False
        with handle:
            for number, line in enumerate(handle, start=1):
                rows.append(_tolerant_row(line, number, header, spec.separator))
                if len(rows) == TOLERANT_CHUNK_LINES:
                    yield rows
                    rows, yielded = [], True
        if rows or not yielded:
            yield rows

    return header, chunks()


def _tolerant_row(line: str, number: int, header: list[str], separator: str) -> list[object]:
    text = line.rstrip("\r\n")
    try:
        fields = next(csv.reader([text], delimiter=separator, strict=True), [])
    except csv.Error:
        return [number, *([None] * len(header)), "bad_quoting", text]
    if len(fields) != len(header):
        return [number, *([None] * len(header)), "wrong_field_count", text]
    return [number, *(f if f != "" else None for f in fields), None, None]
