"""The ingest runs: a file (or an adapter's format) → validated increment in the behaviour store
→ optionally the graph, through the bulk loader.

Entry points, one per command: ``run_products``, ``run_search_buy``, ``run_co_buy``,
``run_events``. Each takes an ``IngestConfig`` and returns an ``IngestReport``; pass a
``GraphTarget`` to also load the increment (products, queries, SEARCH_BUY / CO_BUY edges with
the merged counts) into Neo4j.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from cosmo_kg.errors import ConfigError
from cosmo_kg.ingest import events
from cosmo_kg.ingest.config import GraphTarget, IngestConfig, IngestReport, IngestSettings, increment_id
from cosmo_kg.ingest.export import export_increment
from cosmo_kg.ingest.formats import ROW_NR, ColumnSet
from cosmo_kg.ingest.rules import (
    CO_BUY_COLUMNS,
    EVENT_COLUMNS,
    PRODUCT_COLUMNS,
    SEARCH_BUY_COLUMNS,
    TextLimits,
    co_buy_columns,
    co_buy_rules,
    event_columns,
    event_rules,
    mark_duplicates,
    product_columns,
    product_rules,
    search_buy_columns,
    search_buy_rules,
)
from cosmo_kg.ingest.sources import EventLog, open_log
from cosmo_kg.ingest.store import CO_BUY_KEY, SEARCH_BUY_KEY, BehaviourStore
from cosmo_kg.ingest.validation import (
    Source,
    Validated,
    finish_rejects,
    open_source,
    rejects_view,
    validate_source,
    validated_frame,
)
from cosmo_kg.schemas import REASON_COLUMN, RowRule

Progress = Callable[[str, int, int], None]


def _products_part(frame: pl.LazyFrame, limits: TextLimits) -> pl.LazyFrame:
    validated = validated_frame(frame, PRODUCT_COLUMNS.names, product_columns(), product_rules(limits))
    values = [c for c in PRODUCT_COLUMNS.names if c != "product_id"]
    return mark_duplicates(validated, ["product_id"], values, "duplicate_product_id")


def _products_view(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.select(PRODUCT_COLUMNS.names).sort("product_id")


def _pairs_view(key: tuple[str, ...]) -> Callable[[pl.LazyFrame], pl.LazyFrame]:
    def view(frame: pl.LazyFrame) -> pl.LazyFrame:
        return frame.group_by(*key).agg(pl.col("count").sum()).sort(*key)

    return view


class _Run:
    """Bookkeeping shared by the four commands: store, ids, timing, report, graph load."""

    def __init__(self, command: str, config: IngestConfig, options: dict[str, Any]) -> None:
        if config.more_files and command != "events":
            raise ConfigError(f"ingest {command} reads one file; only events take several")
        self.started = time.perf_counter()
        self.command = command
        self.config = config
        self.store = BehaviourStore(config.workspace_dir)
        self.catalog = self.store.catalog_ids()
        self.increment_id = increment_id(command, config, options)
        self.staging = self.store.staging_dir(self.increment_id)
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir(parents=True)
        described = {"path": str(config.source.path)} if config.adapter else config.source.describe()
        described |= {"adapter": config.adapter, "day": config.day}
        if config.more_files:
            described["files"] = [str(spec.path) for spec in config.sources]
        self.report = IngestReport(
            command,
            described,
            self.increment_id,
            replaced_increment=self.store.find(self.increment_id) is not None,
            unknown_products_checked=self.catalog is not None,
        )

    def lap(self, name: str) -> None:
        spent = time.perf_counter() - self.started - sum(self.report.timings.values())
        self.report.timings[name] = round(spent, 3)

    def record(self, checked: Validated, prefix: str = "") -> None:
        """Count a validated input; an adapter's catalog rows count only as prefixed rejects."""
        if not prefix:
            self.report.rows_in += checked.rows_in
            self.report.rows_kept += checked.kept
        for reason, count in checked.rejected.items():
            self.report.rejected[prefix + reason] = self.report.rejected.get(prefix + reason, 0) + count
        if checked.rejects_file:
            self.report.rejects_files.append(checked.rejects_file)

    def commit(self, parts: dict[str, pl.DataFrame], graph: GraphTarget | None) -> IngestReport:
        source = ", ".join(str(spec.path) for spec in self.config.sources)
        self.store.commit(self.increment_id, self.command, source, parts)
        self.report.written = {part: frame.height for part, frame in parts.items()}
        self.lap("commit")
        if graph is not None:
            self.report.load = export_increment(
                self.store, self.increment_id, parts, graph, self.config.rejects_dir
            )
            self.lap("load")
        self.report.store = self.store.totals()
        shutil.rmtree(self.staging, ignore_errors=True)
        self.report.seconds = round(time.perf_counter() - self.started, 3)
        self.report.rows_per_second = round(self.report.rows_in / max(self.report.seconds, 1e-9), 1)
        return self.report


def run_products(config: IngestConfig, graph: GraphTarget | None = None) -> IngestReport:
    """Ingest a catalog (products.parquet columns); the latest increment wins per product.

    Raises ``InputError`` when the file is not a catalog (missing columns, wrong delimiter, binary).
    """
    run = _Run("products", config, {})
    limits = config.settings.limits
    with open_source(config, PRODUCT_COLUMNS, run.staging, run.store, None) as source:
        checked, run.report.tolerant_parse = validate_source(
            config,
            "",
            source,
            PRODUCT_COLUMNS.names,
            lambda frame: _products_part(frame, limits),
            _products_view,
            run.staging,
        )
    run.record(checked)
    run.lap("validate")
    return run.commit({"products": checked.good}, graph)


def _run_pairs(
    command: str,
    config: IngestConfig,
    graph: GraphTarget | None,
    wanted: ColumnSet,
    key: tuple[str, ...],
    normal: Callable[[bool], list[pl.Expr]],
    rules: Callable[[bool, TextLimits, pl.Series | None], list[RowRule]],
) -> IngestReport:
    run = _Run(command, config, {})
    limits = config.settings.limits
    parts: dict[str, pl.DataFrame] = {}
    with open_source(config, wanted, run.staging, run.store, run.catalog) as source:
        catalog = run.catalog
        if source.products is not None:
            products, _ = validate_source(
                config,
                "-products",
                Source(source.products, None, True, source.path),
                PRODUCT_COLUMNS.names,
                lambda f: _products_part(f, limits),
                _products_view,
                run.staging,
            )
            run.record(products, prefix="product:")
            parts["products"] = products.good
            known = products.good["product_id"]
            catalog = known if catalog is None else pl.concat([catalog, known]).unique()
            run.report.unknown_products_checked = True

        def build(frame: pl.LazyFrame) -> pl.LazyFrame:
            validated = validated_frame(
                frame, wanted.names, normal(source.has_count), rules(source.has_count, limits, catalog)
            )
            if not source.has_count:
                return validated
            return mark_duplicates(validated, list(key), ["count"], "duplicate_pair")

        checked, run.report.tolerant_parse = validate_source(
            config, "", source, wanted.names, build, _pairs_view(key), run.staging
        )
    run.record(checked)
    run.lap("validate")
    parts[command.replace("-", "_")] = checked.good
    return run.commit(parts, graph)


def run_search_buy(config: IngestConfig, graph: GraphTarget | None = None) -> IngestReport:
    """Ingest search-buy rows (``query, product_id[, count]``; without count, one row per event).

    Rows naming products missing from the ingested catalog are rejected as ``unknown_product``.
    """
    return _run_pairs(
        "search-buy", config, graph, SEARCH_BUY_COLUMNS, SEARCH_BUY_KEY, search_buy_columns, search_buy_rules
    )


def run_co_buy(config: IngestConfig, graph: GraphTarget | None = None) -> IngestReport:
    """Ingest co-buy rows (``product_id_a, product_id_b[, count]``), stored in canonical order."""
    return _run_pairs("co-buy", config, graph, CO_BUY_COLUMNS, CO_BUY_KEY, co_buy_columns, co_buy_rules)


def run_events(
    config: IngestConfig, graph: GraphTarget | None = None, progress: Progress | None = None
) -> IngestReport:
    """Ingest raw events (``session_id, timestamp, action`` + ``product_id, query, order_id``) and
    derive search-buy and co-buy counts per session; the increment merges into the store.

    ``config.source`` and ``config.more_files`` are one log, read in that order as if they were
    one file, so sessions run across the files. It is read in chunks of ``bucket_rows`` rows and
    derived in session buckets of about as many, so memory does not grow with the log. Raises
    ``InputError`` naming the file when a file is not an event log.
    """
    settings = config.settings
    options = events.DeriveOptions(
        window_ms=round(settings.window_minutes * 60_000),
        max_basket=settings.max_basket,
        bucket_rows=settings.bucket_rows,
    )
    run = _Run("events", config, {"window_ms": options.window_ms, "max_basket": options.max_basket})
    bucket_dir, rejects_dir = run.staging / "buckets", run.staging / "rejects"
    with open_log(config.sources, EVENT_COLUMNS, run.staging) as log:
        estimated = log.estimated_rows()
        chunks = _EventChunks(
            run,
            log,
            events.bucket_count(estimated, options.bucket_rows),
            bucket_dir,
            rejects_dir,
            -(-estimated // options.bucket_rows),
            progress,
        )
        counts = log.read(chunks.validated, options.bucket_rows, chunks.spread)
        run.report.tolerant_parse = log.tolerant_parse
    run.lap("validate")
    duplicates = run.staging / "duplicates.parquet"
    on_bucket = (lambda done, total: progress("deriving session buckets", done, total)) if progress else None
    search_buy, co_buy, stats = events.derive(bucket_dir, options, duplicates, on_bucket)
    run.lap("derive")
    _merge_event_rejects(run, log, rejects_dir, duplicates, counts, stats)
    run.report.derive = asdict(stats)
    return run.commit({"search_buy": search_buy, "co_buy": co_buy}, graph)


@dataclass
class _EventChunks:
    """Validate an event log chunk by chunk into session buckets and rejects parts."""

    run: _Run
    log: EventLog
    buckets: int
    bucket_dir: Path
    rejects_dir: Path
    expected_chunks: int
    progress: Progress | None
    rules: list[RowRule] = field(init=False)

    def __post_init__(self) -> None:
        self.rules = event_rules(self.run.config.settings.limits, self.run.catalog)

    def validated(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        return validated_frame(
            frame, EVENT_COLUMNS.names, event_columns(frame.collect_schema()["timestamp"]), self.rules
        )

    def rejects_view(self, chunk: pl.LazyFrame) -> pl.LazyFrame:
        return self.log.located(rejects_view(chunk, EVENT_COLUMNS.names))

    def spread(self, chunks: Iterator[pl.DataFrame]) -> dict[str | None, int]:
        events.reset(self.bucket_dir, self.rejects_dir)
        totals: dict[str | None, int] = {}
        for number, chunk in enumerate(chunks):
            counts = events.spread_chunk(
                chunk, number, self.buckets, self.bucket_dir, self.rejects_dir, self.rejects_view
            )
            for reason, rows in counts.items():
                totals[reason] = totals.get(reason, 0) + rows
            if self.progress:
                self.progress("validating events", number + 1, max(self.expected_chunks, number + 1))
        return totals


def _merge_event_rejects(
    run: _Run,
    log: EventLog,
    rejects_dir: Path,
    duplicates: Path,
    counts: dict[str | None, int],
    stats: events.DeriveStats,
) -> None:
    parts = [pl.scan_ipc(path) for path in sorted(rejects_dir.glob("*.ipc"))]
    if stats.duplicates:
        parts.append(
            log.located(
                pl.scan_parquet(duplicates).select(
                    pl.col(ROW_NR),
                    *(pl.col(c).cast(pl.String()) for c in events.EVENT_KEY),
                    pl.col(REASON_COLUMN),
                )
            )
        )
    rejected = {reason: rows for reason, rows in counts.items() if reason is not None}
    if stats.duplicates:
        rejected["duplicate_row"] = rejected.get("duplicate_row", 0) + stats.duplicates
    run.report.rejected = dict(sorted(rejected.items(), key=lambda kv: (-kv[1], kv[0])))
    final = run.config.rejects_dir / f"{run.increment_id}.rejects.parquet"
    merged = run.staging / "rejects-all.parquet"
    if parts:
        pl.concat(parts, how="diagonal_relaxed").sink_parquet(merged)
    written = finish_rejects(merged, final, run.report.rejected)
    run.report.rejects_files = [written] if written else []
    run.report.rows_kept = stats.events
    run.report.rows_in = stats.events + sum(rejected.values())


__all__ = [
    "GraphTarget",
    "IngestConfig",
    "IngestReport",
    "IngestSettings",
    "run_co_buy",
    "run_events",
    "run_products",
    "run_search_buy",
]
