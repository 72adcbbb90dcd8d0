"""Validating one ingest source: read it (fast scan, tolerant re-read when polars cannot parse
it), normalise, tag each row with the first failing rule, and split it into the good rows and a
rejects file that keeps the values as read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from cosmo_kg.errors import InputError
from cosmo_kg.ingest import adapters
from cosmo_kg.ingest.config import IngestConfig
from cosmo_kg.ingest.formats import RAW_LINE, ROW_NR, ColumnSet, SourceSpec, check_source, plain_file
from cosmo_kg.ingest.rules import with_reasons
from cosmo_kg.ingest.sources import opened
from cosmo_kg.ingest.store import BehaviourStore
from cosmo_kg.schemas import REASON_COLUMN, RowRule


@dataclass
class Source:
    """A checked input: the fast lazy scan, and how to re-read it tolerantly if that fails."""

    frame: pl.LazyFrame
    tolerant: Callable[[], pl.LazyFrame] | None
    has_count: bool
    path: Path
    products: pl.LazyFrame | None = None


@contextmanager
def open_source(
    config: IngestConfig, wanted: ColumnSet, staging: Path, store: BehaviourStore, catalog: pl.Series | None
) -> Iterator[Source]:
    if config.adapter:
        found = adapters.adapter(config.adapter, wanted.kind)
        spec = SourceSpec(config.source.path, fmt=found.fmt)
        with plain_file(spec, staging) as plain:
            out = found.read(plain, catalog, store.catalog())
            yield Source(out.pairs, None, has_count=True, path=plain, products=out.products)
        return
    spec = config.source
    with opened(spec, check_source(spec, wanted), wanted, staging) as source:
        yield Source(
            source.frame, source.tolerant, has_count="count" in source.renames.values(), path=source.plain
        )


def with_raw(frame: pl.LazyFrame, names: tuple[str, ...]) -> pl.LazyFrame:
    # The values as read, kept beside the normalised ones for the rejects file.
    return frame.with_columns(pl.col(c).alias(f"raw_{c}") for c in names)


def rejects_view(frame: pl.LazyFrame, names: tuple[str, ...]) -> pl.LazyFrame:
    present = frame.collect_schema().names()
    extra = [pl.col(RAW_LINE)] if RAW_LINE in present else []
    return frame.filter(pl.col(REASON_COLUMN).is_not_null()).select(
        pl.col(ROW_NR),
        *(pl.col(f"raw_{c}").cast(pl.String(), strict=False).alias(c) for c in names),
        *extra,
        pl.col(REASON_COLUMN),
    )


def validated_frame(
    frame: pl.LazyFrame, names: tuple[str, ...], normal: list[pl.Expr], rules: list[RowRule]
) -> pl.LazyFrame:
    return with_reasons(with_raw(frame, names).with_columns(normal), rules)


def run_with_fallback(source: Source, run: Callable[[pl.LazyFrame], Any]) -> tuple[Any, bool]:
    """Run on the fast scan; if polars cannot parse the text, re-read it tolerantly and run again."""
    try:
        return run(source.frame), False
    except pl.exceptions.ComputeError as exc:
        if source.tolerant is None:
            raise InputError(
                f"cannot read the input ({str(exc).splitlines()[0]})",
                hint="check the file format and encoding",
            ) from exc
        return run(source.tolerant()), True


def reason_counts(counts: pl.DataFrame) -> tuple[int, int, dict[str, int]]:
    rows = dict(zip(counts[REASON_COLUMN].to_list(), counts["len"].to_list(), strict=True))
    kept = rows.pop(None, 0)
    rejected = dict(sorted(rows.items(), key=lambda kv: (-kv[1], kv[0])))
    return kept + sum(rejected.values()), kept, rejected


def finish_rejects(tmp: Path, final: Path, rejected: dict[str, int]) -> str | None:
    if not rejected:
        tmp.unlink(missing_ok=True)
        return None
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp.replace(final)
    return str(final)


@dataclass
class Validated:
    good: pl.DataFrame
    rows_in: int
    kept: int
    rejected: dict[str, int]
    rejects_file: str | None


def validate_all(
    frame: pl.LazyFrame,
    names: tuple[str, ...],
    good_view: Callable[[pl.LazyFrame], pl.LazyFrame],
    rejects_tmp: Path,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    rejects_tmp.parent.mkdir(parents=True, exist_ok=True)
    good, counts, _ = pl.collect_all(
        [
            good_view(frame.filter(pl.col(REASON_COLUMN).is_null())),
            frame.group_by(REASON_COLUMN).len(),
            rejects_view(frame, names).sink_parquet(rejects_tmp, lazy=True),
        ]
    )
    return good, counts


def validate_source(
    config: IngestConfig,
    suffix: str,
    source: Source,
    names: tuple[str, ...],
    build: Callable[[pl.LazyFrame], pl.LazyFrame],
    good_view: Callable[[pl.LazyFrame], pl.LazyFrame],
    staging: Path,
) -> tuple[Validated, bool]:
    tmp = staging / "rejects.parquet"
    (good, counts), tolerant = run_with_fallback(
        source, lambda frame: validate_all(build(frame), names, good_view, tmp)
    )
    rows_in, kept, rejected = reason_counts(counts)
    final = config.rejects_dir / f"{staging.name}{suffix}.rejects.parquet"
    return Validated(good, rows_in, kept, rejected, finish_rejects(tmp, final, rejected)), tolerant
