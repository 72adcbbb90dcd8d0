"""First loads into an empty local Neo4j through the offline importer (``neo4j-admin database import``).

Neo4j's own bulk importer writes the store files directly and is an order of magnitude faster
than transactional MERGE, but it only builds a database from nothing, with the server stopped.
So it serves exactly one case: the first load of a local server (``cosmo-kg neo4j start``)
whose database is still empty. It imports the same ``PreparedGraph`` tables the online loader
writes, stamped with the same ``seen_at``, so the result is the graph an online load of the
same files into the empty database gives; the schema and the ``:LoadRun`` record are applied
afterwards through Bolt as usual.

A marker file in the server's home makes the switch safe to kill: while it exists the database
holds nothing but this unfinished import, and the next load imports again over it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import neo4j
import polars as pl

from cosmo_kg.errors import GraphError
from cosmo_kg.graph import jvm, local_auth, server, statements
from cosmo_kg.graph.connection import session_database
from cosmo_kg.graph.prepare import PreparedGraph, checked_knowledge_edges
from cosmo_kg.graph.server import LocalNeo4jSettings
from cosmo_kg.schemas import PRODUCTS
from cosmo_kg.vocabulary import NodeLabel

ADMIN_TOOL = "org.neo4j.cli.AdminTool"
ARRAY_DELIMITER = "\x1f"  # unit separator: never inside a tail type
PENDING_MARKER = "bulk-import.pending"


@dataclass(frozen=True)
class ImportFile:
    """One CSV of the import: ``kind`` is ``nodes`` or ``relationships``; ``name`` is its label,
    or None when a ``:TYPE`` column names each row's relationship type."""

    kind: str
    name: str | None
    path: Path
    rows: int

    @property
    def argument(self) -> str:
        return f"--{self.kind}={self.name}={self.path}" if self.name else f"--{self.kind}={self.path}"


LOCAL_DEFAULT_DATABASE = "neo4j"  # the local server's default database (an empty name means it)


def serves(local: LocalNeo4jSettings, uri: str) -> bool:
    """Whether ``uri`` names the Bolt port of this local server (the only one we may stop)."""
    return local_auth.is_loopback_port(uri, local.bolt_port)


def pending(local: LocalNeo4jSettings) -> bool:
    """An import was interrupted: the database holds only its partial result."""
    return (local.home_path / PENDING_MARKER).exists()


def database_is_empty(driver: neo4j.Driver, database: str) -> bool:
    with driver.session(database=session_database(database)) as session:
        return session.run(statements.GRAPH_IS_EMPTY).single(strict=True)["empty"]


def _typed_header(frame: pl.DataFrame, types: dict[str, str]) -> dict[str, str]:
    """Importer header names for the property columns of ``frame`` (``name:type``)."""
    return {c: f"{c}:{types.get(c) or _csv_type(frame.schema[c])}" for c in frame.columns}


def _csv_type(dtype: pl.DataType) -> str:
    if dtype.is_integer():
        return "long"
    if dtype.is_float():
        return "double"
    return "string"


class _ImportWriter:
    """Writes the importer CSVs with ``--id-type=actual``: each node table takes the next block
    of node ids and relationship ends are looked up by (label, key) in polars, so the importer
    keeps no string id map. Knowledge edges of every type share one file with a ``:TYPE`` column:
    the importer samples each input file before it starts, one file per type cost seconds."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files: list[ImportFile] = []
        self._ids: list[pl.DataFrame] = []
        self._next_id = 0

    def nodes(
        self, frame: pl.DataFrame, label: NodeLabel, key: str, stem: str, types: dict[str, str] | None = None
    ) -> None:
        ids = pl.int_range(self._next_id, self._next_id + frame.height, dtype=pl.Int64)
        self._next_id += frame.height
        self._ids.append(
            frame.select(pl.lit(label.value).alias("label"), pl.col(key).alias("key"), ids.alias("id"))
        )
        self._write(
            "nodes",
            label.value,
            stem,
            frame.select(ids.alias(":ID"), pl.all()).rename(_typed_header(frame, types or {})),
        )

    def relationships(
        self,
        frame: pl.DataFrame,
        ends: list[pl.Expr],
        properties: list[str],
        stem: str,
        rel_type: str | None = None,
        types: dict[str, str] | None = None,
    ) -> None:
        """Relationships of ``rel_type`` (or of each row's ``:TYPE`` among ``ends``) between the
        nodes that ``ends`` (see ``_ends``) name by label and key, with ``properties`` of ``frame``."""
        ids = pl.concat(self._ids)
        located = (
            frame.select(ends)
            .join(
                ids.rename({"label": "start_label", "key": "start_key", "id": ":START_ID"}),
                on=["start_label", "start_key"],
                how="left",
                maintain_order="left",
            )
            .join(
                ids.rename({"label": "end_label", "key": "end_key", "id": ":END_ID"}),
                on=["end_label", "end_key"],
                how="left",
                maintain_order="left",
            )
        )
        values = frame.select(properties)
        self._write(
            "relationships",
            rel_type,
            stem,
            pl.concat(
                [
                    located.select(":START_ID", ":END_ID", *([] if rel_type else [":TYPE"])),
                    values.rename(_typed_header(values, types or {})),
                ],
                how="horizontal",
            ),
        )

    def _write(self, kind: str, name: str | None, stem: str, frame: pl.DataFrame) -> None:
        path = self.directory / f"{stem}.csv"
        frame.write_csv(path)
        self.files.append(ImportFile(kind, name, path, frame.height))


def _ends(start_label: str | pl.Expr, start_key: str, end_label: str, end_key: str) -> list[pl.Expr]:
    """The (label, key) of both ends of a relationship, as ``_ImportWriter.relationships`` wants them."""
    label = pl.lit(start_label) if isinstance(start_label, str) else start_label
    return [
        label.alias("start_label"),
        pl.col(start_key).alias("start_key"),
        pl.lit(end_label).alias("end_label"),
        pl.col(end_key).alias("end_key"),
    ]


def write_import_files(graph: PreparedGraph, seen_at: datetime, directory: Path) -> list[ImportFile]:
    """Write every node and relationship table of ``graph`` as importer CSV under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = pl.lit(seen_at.isoformat())
    catalog = graph.products
    writer = _ImportWriter(directory)
    product, intention = NodeLabel.PRODUCT.value, NodeLabel.INTENTION.value
    writer.nodes(graph.domains, NodeLabel.DOMAIN, "name", "domains")
    writer.nodes(graph.product_types, NodeLabel.PRODUCT_TYPE, "name", "product_types")
    writer.nodes(catalog.select(list(PRODUCTS.columns)), NodeLabel.PRODUCT, "product_id", "products")
    writer.nodes(graph.product_keys, NodeLabel.PRODUCT, "product_id", "product_keys")
    writer.nodes(graph.queries, NodeLabel.QUERY, "text", "queries")
    writer.nodes(
        graph.intentions.with_columns(pl.col("tail_types").list.join(ARRAY_DELIMITER)),
        NodeLabel.INTENTION,
        "text",
        "intentions",
        {"tail_types": "string[]"},
    )
    writer.relationships(
        catalog, _ends(product, "product_id", NodeLabel.DOMAIN.value, "domain"), [], "in_domain", "IN_DOMAIN"
    )
    writer.relationships(
        catalog.drop_nulls("product_type"),
        _ends(product, "product_id", NodeLabel.PRODUCT_TYPE.value, "product_type"),
        [],
        "of_type",
        "OF_TYPE",
    )
    writer.relationships(
        graph.search_buy_edges,
        _ends(NodeLabel.QUERY.value, "query", product, "product_id"),
        ["count"],
        "search_buy",
        "SEARCH_BUY",
    )
    writer.relationships(
        graph.co_buy_edges,
        _ends(product, "product_id", product, "product_id_b"),
        ["count"],
        "co_buy",
        "CO_BUY",
    )
    writer.relationships(
        checked_knowledge_edges(graph.knowledge_edges).with_columns(first_seen=stamp, last_seen=stamp),
        [*_ends(pl.col("head_label"), "head", intention, "tail"), pl.col("relation").alias(":TYPE")],
        ["plausibility", "typicality", "support", "model", "run_id", "first_seen", "last_seen"],
        "knowledge",
        types={"first_seen": "datetime", "last_seen": "datetime"},
    )
    return writer.files


def import_command(local: LocalNeo4jSettings, files: list[ImportFile], database: str) -> list[str]:
    lib = server.ensure_jars(local)
    return [
        "java",
        f"-Xmx{local.heap}",
        *jvm.class_sharing_flags(local),
        "-cp",
        f"{lib}/*",
        ADMIN_TOOL,
        "database",
        "import",
        "full",
        database,
        "--id-type=actual",
        f"--array-delimiter=U+{ord(ARRAY_DELIMITER):04X}",
        "--overwrite-destination=true",
        "--skip-bad-relationships=false",
        "--bad-tolerance=0",
        f"--report-file={local.home_path / 'logs' / 'import.report'}",
        *(f.argument for f in files if f.rows),
    ]


def imported_count(files: list[ImportFile], kind: str) -> int:
    """How many nodes or relationships (``kind``) the import writes."""
    return sum(f.rows for f in files if f.kind == kind)


def run_import(
    local: LocalNeo4jSettings,
    files: list[ImportFile],
    database: str,
    step: Callable[[str], AbstractContextManager[object]] = lambda _: nullcontext(),
) -> None:
    """Stop the local server, import ``files`` as ``database`` and start the server again (with
    the memory settings it ran with). ``step(name)`` wraps each part: ``stop_server``,
    ``import``, ``start_server`` (the loader times them)."""
    local = server.settings_in_use(local)
    marker = local.home_path / PENDING_MARKER
    marker.write_text(database, encoding="utf-8")
    with step("stop_server"):
        server.stop(local)
    (local.home_path / "conf" / "neo4j.conf").write_text(server.render_conf(local), encoding="utf-8")
    env = {**os.environ, "NEO4J_HOME": str(local.home_path), "NEO4J_CONF": str(local.home_path / "conf")}
    log = local.home_path / "logs" / "import.log"
    with step("import"), log.open("w", encoding="utf-8") as output:
        result = subprocess.run(
            import_command(local, files, database),
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
            cwd=local.home_path,
        )
    if result.returncode != 0:
        tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:])
        raise GraphError(
            f"neo4j-admin import failed:\n{tail}",
            hint=f"see {log}; running the same load again rolls the failed import back and retries",
        )
    with step("start_server"):
        server.start(local)


def recover(local: LocalNeo4jSettings, database: str) -> bool:
    """Undo an interrupted import: the database goes back to the empty one it started from (a
    bulk import only ever starts from an empty database). Returns whether there was one."""
    if not pending(local):
        return False
    # The marker names the database imported; an empty name must never reach the paths below.
    imported = (local.home_path / PENDING_MARKER).read_text(encoding="utf-8").strip()
    imported = imported or database or LOCAL_DEFAULT_DATABASE
    local = server.settings_in_use(local)
    server.stop(local)
    for store in ("databases", "transactions"):
        shutil.rmtree(local.home_path / "data" / store / imported, ignore_errors=True)
    (local.home_path / PENDING_MARKER).unlink()
    server.start(local)
    return True


def finish(local: LocalNeo4jSettings, directory: Path) -> None:
    """The import is complete and recorded: drop its files and the marker."""
    shutil.rmtree(directory, ignore_errors=True)
    (local.home_path / PENDING_MARKER).unlink(missing_ok=True)
