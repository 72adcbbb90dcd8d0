"""The bulk loader: prepared tables → Neo4j in parameterised ``UNWIND`` batches with MERGE.

Idempotent and resumable by construction:
- every write is a MERGE on a constrained key, and every property value comes from the input
  or from the load's ``seen_at``, so applying a batch twice changes nothing;
- a load is identified by the hash of its inputs and batch size (``load_id``); a ``:LoadRun``
  node records its ``seen_at`` and how many batches are committed, updated in the same
  transaction as each batch. A killed load run again skips the committed batches and reuses
  the same ``seen_at``, so it ends in exactly the graph an uninterrupted load gives;
- a load whose ``:LoadRun`` is complete is not applied again unless forced.

A first load into the empty local server goes through Neo4j's offline importer instead
(``cosmo_kg.graph.bulk_import``): same tables, same graph, several times faster.

Every write is a write transaction in a write session of the configured database, so through a
``neo4j://`` URI a cluster runs it on that database's leader (and the driver retries it there
after a leader change). The completion transaction's bookmarks go into the report and the
host's write signal, where serving APIs pick them up to read their own writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import neo4j
import polars as pl

from cosmo_kg.files import files_digest
from cosmo_kg.graph import bulk_import, server, statements
from cosmo_kg.graph.connection import connect, graph_errors, session_database
from cosmo_kg.graph.prepare import PreparedGraph, knowledge_edge_groups, prepare_graph, read_inputs
from cosmo_kg.graph.schema import apply_schema
from cosmo_kg.graph.server import LocalNeo4jSettings
from cosmo_kg.graph.version import completing_write
from cosmo_kg.schemas import PRODUCTS, reason_counts
from cosmo_kg.settings import SettingsGroup, setting
from cosmo_kg.vocabulary import NodeLabel

LOADER_VERSION = "2"  # bump when the batch plan changes: resumes count batches


@dataclass(frozen=True)
class LoaderSettings(SettingsGroup):
    section = "loader"

    batch_size: int = setting(10_000, "rows per UNWIND transaction", env="COSMO_LOAD_BATCH_SIZE")
    max_tail_chars: int = setting(
        200, "longest intention text accepted; longer tails are rejected", env="COSMO_MAX_TAIL_CHARS"
    )
    bulk_import_min_edges: int = setting(
        100_000,
        "a first load of at least this many knowledge edges into the empty local Neo4j "
        "(`cosmo-kg neo4j start`) uses the offline importer (neo4j-admin database import; the "
        "server restarts); 0 = always load through transactions",
        env="COSMO_BULK_IMPORT_MIN_EDGES",
    )

    def validate(self) -> None:
        if self.batch_size < 1:
            raise self.bad_value("batch_size", "use a positive number of rows, e.g. 10000")


@dataclass(frozen=True)
class LoadConfig:
    """What to load. ``seen_at`` pins the time stamped on edges (default: when the load began);
    ``force`` re-applies a load that already completed (it then changes nothing but a product's
    catalog placement, which the re-applied file sets again)."""

    rejects_dir: Path
    knowledge: Path | None = None
    products: Path | None = None
    pairs: Path | None = None
    database: str = ""  # empty: the server's default database
    seen_at: datetime | None = None
    force: bool = False


@dataclass(frozen=True)
class Step:
    """One kind of write: a statement and the table whose rows it UNWINDs.

    A first load into an empty graph runs ``first_load_statement`` (a CREATE variant) when the
    step has one, and skips the step when ``needless_on_first_load`` (nothing there to change)."""

    name: str
    statement: str
    rows: pl.DataFrame
    first_load_statement: str | None = None
    needless_on_first_load: bool = False

    def statement_for(self, first_load: bool) -> str:
        return (self.first_load_statement or self.statement) if first_load else self.statement


@dataclass
class LoadReport:
    load_id: str
    seen_at: str
    rows_in: dict[str, int]
    rejected: dict[str, dict[str, int]]
    rejects_files: dict[str, str]
    rows_written: dict[str, int]
    batches_total: int = 0
    batches_skipped: int = 0
    nodes_created: int = 0
    relationships_created: int = 0
    properties_set: int = 0
    seconds: float = 0.0
    knowledge_edges: int = 0
    edges_per_second: float = 0.0
    resumed: bool = False
    first_load: bool = False
    already_loaded: bool = False
    method: str = "transactions"
    timings: dict[str, float] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)
    bookmarks: list[str] = field(default_factory=list)  # reads starting from these see the load


def plan_steps(graph: PreparedGraph) -> list[Step]:
    """The ordered writes of one load: nodes first, then the edges that MATCH them."""
    create = statements.create_nodes_statement
    steps = [
        Step("domains", statements.DOMAINS, graph.domains, create(NodeLabel.DOMAIN, ("name",))),
        Step(
            "product_types",
            statements.PRODUCT_TYPES,
            graph.product_types,
            create(NodeLabel.PRODUCT_TYPE, ("name",)),
        ),
        Step(
            "products",
            statements.PRODUCTS,
            graph.products,
            create(NodeLabel.PRODUCT, tuple(PRODUCTS.columns)),
        ),
        Step(
            "product_moves",
            statements.PRODUCT_MOVES,
            graph.products.select("product_id", "domain", "product_type"),
            needless_on_first_load=True,
        ),
        Step(
            "in_domain",
            statements.IN_DOMAIN_EDGES,
            graph.products.select("product_id", "domain"),
            statements.IN_DOMAIN_EDGES_FIRST_LOAD,
        ),
        Step(
            "of_type",
            statements.OF_TYPE_EDGES,
            graph.products.select("product_id", "product_type").drop_nulls(),
            statements.OF_TYPE_EDGES_FIRST_LOAD,
        ),
        Step(
            "product_keys",
            statements.PRODUCT_KEYS,
            graph.product_keys,
            create(NodeLabel.PRODUCT, ("product_id",)),
        ),
        Step("queries", statements.QUERIES, graph.queries, create(NodeLabel.QUERY, ("text",))),
        Step(
            "intentions",
            statements.INTENTIONS,
            graph.intentions,
            create(NodeLabel.INTENTION, ("text", "tail_types")),
        ),
    ]
    for head, relation, rows in knowledge_edge_groups(graph.knowledge_edges):
        steps.append(
            Step(
                f"{head.value}-{relation}",
                statements.knowledge_edge_statement(head, relation),
                rows.select("head", "tail", "plausibility", "typicality", "support", "model", "run_id"),
                statements.knowledge_edge_statement(head, relation, first_load=True),
            )
        )
    steps += [
        Step(
            "SEARCH_BUY",
            statements.SEARCH_BUY_EDGES,
            graph.search_buy_edges,
            statements.SEARCH_BUY_EDGES_FIRST_LOAD,
        ),
        Step("CO_BUY", statements.CO_BUY_EDGES, graph.co_buy_edges, statements.CO_BUY_EDGES_FIRST_LOAD),
    ]
    return [s for s in steps if s.rows.height]


def _batches(steps: list[Step], batch_size: int) -> Iterator[tuple[Step, pl.DataFrame]]:
    for step in steps:
        yield from ((step, chunk) for chunk in step.rows.iter_slices(batch_size))


def count_batches(steps: list[Step], batch_size: int) -> int:
    return sum(-(-s.rows.height // batch_size) for s in steps)


def load_id_of(paths: list[Path | None], batch_size: int) -> str:
    """Same inputs and batch size → same id, so a rerun resumes or re-applies the same load."""
    return files_digest(paths, salt=f"loader-{LOADER_VERSION}-{batch_size}")[:24]


def _write_rejects(graph: PreparedGraph, load_id: str, rejects_dir: Path) -> dict[str, str]:
    written = {}
    for name, frame in graph.rejects.items():
        rejects_dir.mkdir(parents=True, exist_ok=True)
        path = rejects_dir / f"{name}-{load_id}.rejects.parquet"
        frame.write_parquet(path)
        written[name] = str(path)
    return written


def _reject_counts(graph: PreparedGraph) -> dict[str, dict[str, int]]:
    return {name: reason_counts(frame) for name, frame in graph.rejects.items()}


def _load_run(session: neo4j.Session, load_id: str) -> neo4j.Record | None:
    record = session.run(statements.LOAD_RUN_GET, load_id=load_id).single()
    return record if record is not None and record["seen_at"] is not None else None


def _begin(
    session: neo4j.Session,
    run: neo4j.Record | None,
    load_id: str,
    seen_at: datetime | None,
    source: str,
    total: int,
) -> tuple[datetime, int, bool]:
    """Record the load's start; returns its ``seen_at``, the batches already done and whether it
    is a first load (the graph was empty: edges may be created without MERGE)."""
    if run is None:
        stamp = seen_at or datetime.now(UTC)
        empty = session.execute_write(_record_begin, load_id, stamp, source, total)
        return stamp, 0, empty
    stamp = seen_at or run["seen_at"].to_native()
    done = 0 if run["completed"] else int(run["batches_done"] or 0)
    return stamp, done, False


def load(
    config: LoadConfig,
    driver: neo4j.Driver,
    settings: LoaderSettings,
    progress: Callable[[int, int], None] | None = None,
    local: LocalNeo4jSettings | None = None,
) -> LoadReport:
    """Load knowledge (and optionally a catalog and behaviour pairs) into the graph.

    Args:
        config: the input files, target database and an optional pinned ``seen_at``.
        driver: an open driver (see ``cosmo_kg.graph.connection.connect``).
        settings: batch size, tail length bound and when to use the offline importer.
        progress: called with (batches done, batches total) after each batch.
        local: the local server ``driver`` talks to, if it does: a big first load into its
            empty database then goes through the offline importer (the server restarts).

    Returns the ``LoadReport``; bad rows are in its rejects files, never silently dropped.
    Raises ``InputError`` for unreadable inputs and ``GraphError`` if Neo4j fails.
    """
    with graph_errors("the load"):
        return _load(config, driver, settings, progress, local)


def _load(
    config: LoadConfig,
    driver: neo4j.Driver,
    settings: LoaderSettings,
    progress: Callable[[int, int], None] | None,
    local: LocalNeo4jSettings | None,
) -> LoadReport:
    started = time.perf_counter()
    paths = [config.knowledge, config.products, config.pairs]
    load_id = load_id_of(paths, settings.batch_size)
    with driver.session(database=session_database(config.database)) as session:
        run = _load_run(session, load_id)
    if run is not None and run["completed"] and not config.force:
        return LoadReport(
            load_id=load_id,
            seen_at=run["seen_at"].to_native().isoformat(),
            rows_in={},
            rejected={},
            rejects_files={},
            rows_written={},
            already_loaded=True,
            seconds=round(time.perf_counter() - started, 3),
        )
    knowledge, products, pairs = read_inputs(config.knowledge, config.products, config.pairs)
    graph = prepare_graph(knowledge, products, pairs, max_tail_chars=settings.max_tail_chars)
    prepared = time.perf_counter()
    steps = plan_steps(graph)
    report = LoadReport(
        load_id=load_id,
        seen_at="",
        rows_in=graph.rows_in,
        rejected=_reject_counts(graph),
        rejects_files=_write_rejects(graph, load_id, config.rejects_dir),
        rows_written={s.name: s.rows.height for s in steps},
        batches_total=count_batches(steps, settings.batch_size),
        knowledge_edges=graph.knowledge_edges.height,
    )
    source = ", ".join(str(p) for p in paths if p)
    if local is not None and _bulk_import_applies(driver, config, settings, graph):
        _bulk_load(graph, report, config, local, source)
    else:
        _write_steps(steps, report, config, driver, settings, run, source, progress)
    finished = time.perf_counter()
    report.seconds = round(finished - started, 3)
    report.timings = {"prepare": round(prepared - started, 3), "write": round(finished - prepared, 3)}
    report.edges_per_second = round(report.knowledge_edges / max(finished - prepared, 1e-9), 1)
    return report


def _write_steps(
    steps: list[Step],
    report: LoadReport,
    config: LoadConfig,
    driver: neo4j.Driver,
    settings: LoaderSettings,
    run: neo4j.Record | None,
    source: str,
    progress: Callable[[int, int], None] | None,
) -> None:
    """The transactional load: every step in ``batch_size`` UNWIND batches, checkpointed."""
    total = report.batches_total
    with driver.session(database=session_database(config.database)) as session:
        seen_at, done, report.first_load = _begin(session, run, report.load_id, config.seen_at, source, total)
        report.seen_at = seen_at.isoformat()
        report.batches_skipped = done
        report.resumed = done > 0
        for number, (step, rows) in enumerate(_batches(steps, settings.batch_size), start=1):
            if number <= done or (report.first_load and step.needless_on_first_load):
                continue
            with _timed(report, step.name):
                counters = session.execute_write(
                    _write_batch,
                    step.statement_for(report.first_load),
                    rows.to_dicts(),
                    seen_at,
                    report.load_id,
                    number,
                )
            report.nodes_created += counters.nodes_created
            report.relationships_created += counters.relationships_created
            report.properties_set += counters.properties_set
            if progress:
                progress(number, total)
        _complete(session, report)


def _bulk_import_applies(
    driver: neo4j.Driver, config: LoadConfig, settings: LoaderSettings, graph: PreparedGraph
) -> bool:
    return (
        0 < settings.bulk_import_min_edges <= graph.knowledge_edges.height
        and bulk_import.database_is_empty(driver, config.database)
    )


def _bulk_load(
    graph: PreparedGraph, report: LoadReport, config: LoadConfig, local: LocalNeo4jSettings, source: str
) -> None:
    """Import ``graph`` offline into the empty local database, then apply the schema and record
    the load as complete (through a fresh driver: the server has restarted)."""
    seen_at = config.seen_at or datetime.now(UTC)
    database = config.database or bulk_import.LOCAL_DEFAULT_DATABASE
    directory = local.home_path / "import" / f"bulk-{report.load_id}"
    with _timed(report, "write_import_files"):
        files = bulk_import.write_import_files(graph, seen_at, directory)
    bulk_import.run_import(local, files, database, step=lambda name: _timed(report, name))
    restarted_settings = server.client_settings(local, database=database)
    with _timed(report, "schema_and_record"), connect(restarted_settings) as restarted:
        apply_schema(restarted, database)
        with restarted.session(database=database) as session:
            session.execute_write(_record_begin, report.load_id, seen_at, source, report.batches_total)
            _complete(session, report)
        bulk_import.finish(local, directory)
    report.method = "bulk-import"
    report.seen_at = seen_at.isoformat()
    report.nodes_created = bulk_import.imported_count(files, "nodes")
    report.relationships_created = bulk_import.imported_count(files, "relationships")


@contextmanager
def _timed(report: LoadReport, name: str) -> Iterator[None]:
    """Add the seconds the block takes to ``report.step_seconds[name]``."""
    started = time.perf_counter()
    yield
    report.step_seconds[name] = round(report.step_seconds.get(name, 0.0) + time.perf_counter() - started, 3)


def _record_begin(
    tx: neo4j.ManagedTransaction, load_id: str, seen_at: datetime, source: str, total: int
) -> bool:
    """Record a load's start; return whether the graph was empty before it."""
    empty = bool(tx.run(statements.GRAPH_IS_EMPTY).single(strict=True)["empty"])
    tx.run(statements.LOAD_RUN_BEGIN, load_id=load_id, seen_at=seen_at, source=source, batches_total=total)
    return empty


def _complete(session: neo4j.Session, report: LoadReport) -> None:
    """Mark the load complete (signalled to this host's APIs) and keep its bookmarks."""
    with completing_write(session):
        session.execute_write(_record_complete, report.load_id, report.batches_total)
    report.bookmarks = sorted(session.last_bookmarks().raw_values)
    session.run(statements.FULLTEXT_REFRESH).consume()


def _record_complete(tx: neo4j.ManagedTransaction, load_id: str, batches_done: int) -> None:
    tx.run(statements.LOAD_RUN_COMPLETE, load_id=load_id, batches_done=batches_done).consume()


def _write_batch(
    tx: neo4j.ManagedTransaction,
    statement: str,
    rows: list[dict[str, Any]],
    seen_at: datetime,
    load_id: str,
    number: int,
) -> Any:
    summary = tx.run(statement, rows=rows, seen_at=seen_at).consume()
    tx.run(statements.LOAD_RUN_PROGRESS, load_id=load_id, batches_done=number).consume()
    return summary.counters
