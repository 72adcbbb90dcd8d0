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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import neo4j
import polars as pl

from cosmo_kg.errors import GraphError
from cosmo_kg.graph import server
from cosmo_kg.graph.prepare import PreparedGraph, knowledge_edge_groups
from cosmo_kg.graph.server import LocalNeo4jSettings
from cosmo_kg.vocabulary import NodeLabel

ADMIN_TOOL = "org.neo4j.cli.AdminTool"
ARRAY_DELIMITER = "\x1f"  # unit separator: never inside a tail type
PENDING_MARKER = "bulk-import.pending"


@dataclass(frozen=True)
class ImportFile:
    """One CSV of the import: ``kind`` is ``nodes`` or ``relationships``, ``name`` its label or type."""

    kind: str
    name: str
    path: Path

    @property
    def argument(self) -> str:
        return f"--{self.kind}={self.name}={self.path}"


def serves(local: LocalNeo4jSettings, uri: str) -> bool:
    """Whether ``uri`` names the Bolt port of this local server (the only one we may stop)."""
    parts = urlsplit(uri)
    return parts.hostname in {"127.0.0.1", "localhost"} and parts.port == local.bolt_port


def pending(local: LocalNeo4jSettings) -> bool:
    """An import was interrupted: the database holds only its partial result."""
    return (local.home_path / PENDING_MARKER).exists()


def database_is_empty(driver: neo4j.Driver, database: str) -> bool:
    with driver.session(database=database) as session:
        return session.run("MATCH (n) RETURN count(n) = 0 AS empty").single(strict=True)["empty"]


def _node_file(frame: pl.DataFrame, label: NodeLabel, key: str, types: dict[str, str],
               directory: Path, stem: str) -> ImportFile:
    header = {key: f"{key}:ID({label.value})"}
    header |= {column: f"{column}:{kind}" for column, kind in types.items()}
    path = directory / f"{stem}.csv"
    frame.rename({c: h for c, h in header.items() if c in frame.columns}).write_csv(path)
    return ImportFile("nodes", label.value, path)


def _edge_file(frame: pl.DataFrame, start: NodeLabel, end: NodeLabel, rel_type: str,
               directory: Path, stem: str, types: dict[str, str] | None = None) -> ImportFile:
    columns = {frame.columns[0]: f":START_ID({start.value})", frame.columns[1]: f":END_ID({end.value})"}
    columns |= {c: f"{c}:{(types or {}).get(c) or _csv_type(frame.schema[c])}" for c in frame.columns[2:]}
    path = directory / f"{stem}.csv"
    frame.rename(columns).write_csv(path)
    return ImportFile("relationships", rel_type, path)


def _csv_type(dtype: pl.DataType) -> str:
    if dtype.is_integer():
        return "long"
    if dtype.is_float():
        return "double"
    return "string"


def write_import_files(graph: PreparedGraph, seen_at: datetime, directory: Path) -> list[ImportFile]:
    """Write every node and relationship table of ``graph`` as importer CSV under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = pl.lit(seen_at.isoformat())
    catalog = graph.products
    files = [
        _node_file(graph.domains, NodeLabel.DOMAIN, "name", {}, directory, "domains"),
        _node_file(graph.product_types, NodeLabel.PRODUCT_TYPE, "name", {}, directory, "product_types"),
        _node_file(catalog.select("product_id", "title", "product_type", "domain", "brand",
                                  "description", "popularity"),
                   NodeLabel.PRODUCT, "product_id", {"popularity": "double"}, directory, "products"),
        _node_file(graph.product_keys, NodeLabel.PRODUCT, "product_id", {}, directory, "product_keys"),
        _node_file(graph.queries, NodeLabel.QUERY, "text", {}, directory, "queries"),
        _node_file(graph.intentions.with_columns(pl.col("tail_types").list.join(ARRAY_DELIMITER)),
                   NodeLabel.INTENTION, "text", {"tail_types": "string[]"}, directory, "intentions"),
        _edge_file(catalog.select("product_id", "domain"), NodeLabel.PRODUCT, NodeLabel.DOMAIN,
                   "IN_DOMAIN", directory, "in_domain"),
        _edge_file(catalog.select("product_id", "product_type").drop_nulls(), NodeLabel.PRODUCT,
                   NodeLabel.PRODUCT_TYPE, "OF_TYPE", directory, "of_type"),
        _edge_file(graph.search_buy_edges.select("query", "product_id", "count"), NodeLabel.QUERY,
                   NodeLabel.PRODUCT, "SEARCH_BUY", directory, "search_buy"),
        _edge_file(graph.co_buy_edges.select("product_id", "product_id_b", "count"), NodeLabel.PRODUCT,
                   NodeLabel.PRODUCT, "CO_BUY", directory, "co_buy"),
    ]
    edges = graph.knowledge_edges.with_columns(first_seen=stamp, last_seen=stamp)
    for head, relation, rows in knowledge_edge_groups(edges):
        files.append(_edge_file(
            rows.select("head", "tail", "plausibility", "typicality", "support", "model", "run_id",
                        "first_seen", "last_seen"),
            head, NodeLabel.INTENTION, relation, directory, f"{head.value}-{relation}",
            {"first_seen": "datetime", "last_seen": "datetime"}))
    return files


def import_command(local: LocalNeo4jSettings, files: list[ImportFile], database: str) -> list[str]:
    lib = server.ensure_jars(local)
    return ["java", f"-Xmx{local.heap}", "-cp", f"{lib}/*", ADMIN_TOOL,
            "database", "import", "full", database,
            f"--array-delimiter=U+{ord(ARRAY_DELIMITER):04X}", "--overwrite-destination=true",
            "--skip-bad-relationships=false", "--bad-tolerance=0",
            f"--report-file={local.home_path / 'logs' / 'import.report'}",
            *(f.argument for f in files if _has_rows(f.path))]


def _has_rows(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.readline()
        return bool(handle.readline())


def run_import(local: LocalNeo4jSettings, files: list[ImportFile], database: str) -> None:
    """Stop the local server, import ``files`` as ``database`` and start the server again (with
    the memory settings it ran with)."""
    local = server.settings_in_use(local)
    marker = local.home_path / PENDING_MARKER
    marker.write_text(database, encoding="utf-8")
    server.stop(local)
    (local.home_path / "conf" / "neo4j.conf").write_text(server.render_conf(local), encoding="utf-8")
    env = {**os.environ, "NEO4J_HOME": str(local.home_path), "NEO4J_CONF": str(local.home_path / "conf")}
    log = local.home_path / "logs" / "import.log"
    with log.open("w", encoding="utf-8") as output:
        result = subprocess.run(import_command(local, files, database), env=env, stdout=output,
                                stderr=subprocess.STDOUT, check=False, cwd=local.home_path)
    if result.returncode != 0:
        tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:])
        raise GraphError(f"neo4j-admin import failed:\n{tail}",
                         hint=f"see {log}; running the same load again rolls the failed import back "
                              "and retries")
    server.start(local)


def recover(local: LocalNeo4jSettings, database: str) -> bool:
    """Undo an interrupted import: the database goes back to the empty one it started from (a
    bulk import only ever starts from an empty database). Returns whether there was one."""
    if not pending(local):
        return False
    local = server.settings_in_use(local)
    server.stop(local)
    for store in ("databases", "transactions"):
        shutil.rmtree(local.home_path / "data" / store / database, ignore_errors=True)
    (local.home_path / PENDING_MARKER).unlink()
    server.start(local)
    return True


def finish(local: LocalNeo4jSettings, directory: Path) -> None:
    """The import is complete and recorded: drop its files and the marker."""
    shutil.rmtree(directory, ignore_errors=True)
    (local.home_path / PENDING_MARKER).unlink(missing_ok=True)
