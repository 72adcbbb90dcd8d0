"""Export the graph as Parquet files, and import such an export into a graph.

``export_graph`` streams each table out of Neo4j (the driver fetches records in pages) and
writes it ``batch_size`` rows per Parquet row group, so memory stays flat whatever the size:
- ``products.parquet`` and ``pairs.parquet`` in the SPEC contracts (``cosmo_kg.schemas``), the
  pairs being the SEARCH_BUY / CO_BUY behaviour edges with their counts;
- ``queries.parquet`` (``text``) and ``intentions.parquet`` (``text, tail_types``);
- ``knowledge_edges.parquet``: one row per knowledge edge, ``head_label, head, relation, tail``
  and the edge's ``plausibility, typicality, support, model, run_id, first_seen, last_seen``.
  It is edge-level on purpose: a knowledge.parquet row stands for a pair and makes an edge at
  both of its heads, so per-pair rows cannot give back a graph whose edges were retracted or
  merged one head at a time. ``import_graph`` writes these tables back as they are.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import neo4j
import polars as pl
import pyarrow.parquet as pq

from cosmo_kg.errors import InputError
from cosmo_kg.files import write_atomic
from cosmo_kg.graph import statements
from cosmo_kg.graph.connection import graph_errors, session_database
from cosmo_kg.graph.prepare import knowledge_edge_groups
from cosmo_kg.graph.version import completing_write, recorded_bookmarks
from cosmo_kg.ingest.rules import behavior_id_column
from cosmo_kg.schemas import PAIRS, PRODUCTS
from cosmo_kg.vocabulary import BehaviorKind

EDGE_COLUMNS: dict[str, pl.DataType] = {
    "head_label": pl.String(),
    "head": pl.String(),
    "relation": pl.String(),
    "tail": pl.String(),
    "plausibility": pl.Float64(),
    "typicality": pl.Float64(),
    "support": pl.Int64(),
    "model": pl.String(),
    "run_id": pl.String(),
    "first_seen": pl.Datetime("us", "UTC"),
    "last_seen": pl.Datetime("us", "UTC"),
}
_PRODUCT_FIELDS = ", ".join(f"p.{c} AS {c}" for c in PRODUCTS.columns)


@dataclass(frozen=True)
class Table:
    """One exported file: the statement that streams its rows and the columns it has."""

    name: str
    statement: str
    columns: dict[str, pl.DataType]


TABLES = (
    Table(
        "products", f"MATCH (p:Product) RETURN {_PRODUCT_FIELDS} ORDER BY product_id", dict(PRODUCTS.columns)
    ),
    Table("queries", "MATCH (q:Query) RETURN q.text AS text ORDER BY text", {"text": pl.String()}),
    Table(
        "intentions",
        "MATCH (i:Intention) RETURN i.text AS text, i.tail_types AS tail_types ORDER BY text",
        {"text": pl.String(), "tail_types": pl.List(pl.String())},
    ),
    Table(
        "knowledge_edges",
        """
MATCH (h)-[e]->(i:Intention) WHERE h:Product OR h:Query
RETURN CASE WHEN h:Product THEN 'Product' ELSE 'Query' END AS head_label,
       coalesce(h.product_id, h.text) AS head, type(e) AS relation, i.text AS tail,
       e.plausibility AS plausibility, e.typicality AS typicality, e.support AS support,
       e.model AS model, e.run_id AS run_id, e.first_seen AS first_seen, e.last_seen AS last_seen
""",
        EDGE_COLUMNS,
    ),
    Table(
        "pairs",
        """
CALL () {
  MATCH (q:Query)-[s:SEARCH_BUY]->(p:Product)
  RETURN 'search_buy' AS kind, q.text AS query, p AS product, null AS product_id_b, s.count AS count
  UNION ALL
  MATCH (p:Product)-[c:CO_BUY]->(b:Product)
  RETURN 'co_buy' AS kind, null AS query, p AS product, b.product_id AS product_id_b, c.count AS count
}
RETURN kind, query, product.product_id AS product_id, product_id_b, product.domain AS domain,
       product.product_type AS product_type, count
""",
        {c: t for c, t in PAIRS.columns.items() if c not in ("behavior_id", "weight")},
    ),
)


@dataclass(frozen=True)
class ExportConfig:
    out_dir: Path
    database: str = "neo4j"
    batch_size: int = 50_000


@dataclass
class ExportReport:
    directory: str
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    rows_per_second: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def export_graph(
    config: ExportConfig, driver: neo4j.Driver, progress: Callable[[str, int], None] | None = None
) -> ExportReport:
    """Write every table of the graph under ``config.out_dir`` (each file replaced atomically).

    Raises ``GraphError`` when Neo4j fails (files already finished stay; run again to redo all).
    """
    started = time.perf_counter()
    config.out_dir.mkdir(parents=True, exist_ok=True)
    report = ExportReport(str(config.out_dir))
    with (
        graph_errors("the export", hint="run the same export again"),
        driver.session(
            database=session_database(config.database),
            default_access_mode=neo4j.READ_ACCESS,
            bookmarks=recorded_bookmarks(driver, config.database),
        ) as session,
    ):
        for table in TABLES:
            report.rows[table.name] = _export_table(session, table, config, progress)
    report.seconds = round(time.perf_counter() - started, 3)
    report.rows_per_second = round(sum(report.rows.values()) / max(report.seconds, 1e-9), 1)
    return report


def _export_table(
    session: neo4j.Session, table: Table, config: ExportConfig, progress: Callable[[str, int], None] | None
) -> int:
    written = 0
    schema = _frame([], table).to_arrow().schema

    def stream(tmp: Path) -> None:
        nonlocal written
        with pq.ParquetWriter(tmp, schema) as writer:
            for rows in _chunks(session.run(table.statement), config.batch_size):
                writer.write_table(_frame(rows, table).to_arrow().cast(schema))
                written += len(rows)
                if progress:
                    progress(table.name, len(rows))

    write_atomic(config.out_dir / f"{table.name}.parquet", stream)
    return written


def _chunks(result: neo4j.Result, size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for record in result:
        chunk.append({key: _native(value) for key, value in record.items()})
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _native(value: Any) -> Any:
    return value.to_native() if hasattr(value, "to_native") else value


def _frame(rows: list[dict[str, Any]], table: Table) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema=table.columns)
    if table.name != "pairs":
        return frame
    ids = (
        pl.concat(
            [
                behavior_id_column(
                    BehaviorKind(kind),
                    part["query" if kind == "search_buy" else "product_id"],
                    part["product_id" if kind == "search_buy" else "product_id_b"],
                )
                for kind, part in ((k, frame.filter(pl.col("kind") == k)) for k in ("search_buy", "co_buy"))
            ]
        )
        if rows
        else pl.Series("behavior_id", [], dtype=pl.String())
    )
    ordered = pl.concat([frame.filter(pl.col("kind") == k) for k in ("search_buy", "co_buy")])
    return ordered.with_columns(ids, pl.lit(None, dtype=pl.Float64()).alias("weight")).select(
        list(PAIRS.columns)
    )


@dataclass
class ImportReport:
    directory: str
    rows: dict[str, int] = field(default_factory=dict)
    import_id: str = ""
    seconds: float = 0.0


def import_graph(
    directory: Path, driver: neo4j.Driver, database: str = "neo4j", batch_size: int = 10_000
) -> ImportReport:
    """Write an export back into a graph (MERGE: into an empty graph it gives the exported one).
    Recorded as a completed write run, so serving APIs see a new graph version.

    Raises ``InputError`` for a missing or unreadable export and ``GraphError`` when Neo4j fails.
    """
    started = time.perf_counter()
    files = {table.name: directory / f"{table.name}.parquet" for table in TABLES}
    for path in files.values():
        if not path.exists():
            raise InputError(
                f"{path}: no such file", hint="give a directory written by cosmo-kg graph export"
            )
    report = ImportReport(str(directory), import_id=_import_id(files))
    with (
        graph_errors("the import", hint="run the same import again: it MERGEs, so what is there stays"),
        driver.session(database=session_database(database)) as session,
    ):
        for name, statement, rows in _import_steps(files, batch_size):
            session.execute_write(_write, statement, rows)
            report.rows[name] = report.rows.get(name, 0) + len(rows)
        with completing_write(session):
            _record(session, report.import_id, str(directory))
    report.seconds = round(time.perf_counter() - started, 3)
    return report


_KNOWLEDGE_EDGE = """
UNWIND $rows AS row
MATCH (h:{label} {{{key}: row.head}})
MATCH (i:Intention {{text: row.tail}})
MERGE (h)-[e:{rel_type}]->(i)
SET e.plausibility = row.plausibility, e.typicality = row.typicality, e.support = row.support,
    e.model = row.model, e.run_id = row.run_id, e.first_seen = row.first_seen, e.last_seen = row.last_seen
"""


def _import_steps(files: dict[str, Path], batch_size: int) -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    products = pl.scan_parquet(files["products"])
    for name, column, statement in (
        ("domains", "domain", statements.DOMAINS),
        ("product_types", "product_type", statements.PRODUCT_TYPES),
    ):
        names = products.select(pl.col(column).alias("name")).drop_nulls().unique().sort("name").collect()
        yield from ((name, statement, rows) for rows in _batches(names, batch_size))
    for name, statement in (
        ("products", statements.PRODUCTS),
        ("in_domain", statements.IN_DOMAIN_EDGES),
        ("of_type", statements.OF_TYPE_EDGES),
    ):
        yield from ((name, statement, rows) for rows in _file_batches(files["products"], batch_size))
    yield from (("queries", statements.QUERIES, rows) for rows in _file_batches(files["queries"], batch_size))
    yield from (
        ("intentions", statements.INTENTIONS, rows) for rows in _file_batches(files["intentions"], batch_size)
    )
    for batch in pq.ParquetFile(files["knowledge_edges"]).iter_batches(batch_size):
        edges = cast(pl.DataFrame, pl.from_arrow(batch))
        for head, relation, group in knowledge_edge_groups(edges):
            statement = _KNOWLEDGE_EDGE.format(
                label=head.value, key=statements.HEAD_KEYS[head], rel_type=relation
            )
            yield "knowledge_edges", statement, group.drop("head_label", "relation").to_dicts()
    for rows in _file_batches(files["pairs"], batch_size):
        for kind, statement in (
            ("search_buy", statements.SEARCH_BUY_EDGES),
            ("co_buy", statements.CO_BUY_EDGES),
        ):
            picked = [row for row in rows if row["kind"] == kind]
            if picked:
                yield "pairs", statement, picked


def _write(tx: neo4j.ManagedTransaction, statement: str, rows: list[dict[str, Any]]) -> None:
    tx.run(statement, rows=rows).consume()


def _file_batches(path: Path, size: int) -> Iterator[list[dict[str, Any]]]:
    for batch in pq.ParquetFile(path).iter_batches(size):
        yield batch.to_pylist()


def _batches(frame: pl.DataFrame, size: int) -> Iterator[list[dict[str, Any]]]:
    yield from (chunk.to_dicts() for chunk in frame.iter_slices(size))


def _import_id(files: dict[str, Path]) -> str:
    digest = hashlib.sha256(b"import")
    for path in files.values():
        digest.update(f"|{path.stat().st_size}:{path.stat().st_mtime_ns}".encode())
    return f"import-{digest.hexdigest()[:20]}"


def _record(session: neo4j.Session, import_id: str, source: str) -> None:
    session.run(
        """
MERGE (l:LoadRun {load_id: $id})
SET l.kind = 'import', l.source = $source, l.completed = true, l.completed_at = datetime()
""",
        id=import_id,
        source=source,
    ).consume()
