"""Counts per node label and relationship type (from Neo4j's count store: cheap on any size)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import neo4j

from cosmo_kg.graph.connection import session_database
from cosmo_kg.graph.version import recorded_bookmarks

LABELS = "CALL db.labels() YIELD label RETURN label"
TYPES = "CALL db.relationshipTypes() YIELD relationshipType RETURN relationshipType"


@dataclass(frozen=True)
class GraphStats:
    nodes: dict[str, int]
    relationships: dict[str, int]

    @property
    def total_nodes(self) -> int:
        return sum(self.nodes.values())

    @property
    def total_relationships(self) -> int:
        return sum(self.relationships.values())


def count_statement(labels: Sequence[str], types: Sequence[str]) -> str:
    """One statement counting nodes per label and relationships per type, each a count-store
    lookup: rows ``kind`` (node or edge), ``i`` (the position in ``labels`` / ``types``), ``n``."""
    parts = [
        f"MATCH (n:{_quoted(label)}) RETURN 'node' AS kind, {i} AS i, count(n) AS n"
        for i, label in enumerate(labels)
    ]
    parts += [
        f"MATCH ()-[r:{_quoted(t)}]->() RETURN 'edge' AS kind, {i} AS i, count(r) AS n"
        for i, t in enumerate(types)
    ]
    if not parts:
        return "RETURN 'node' AS kind, 0 AS i, 0 AS n LIMIT 0"
    return "CALL () {\n  " + "\n  UNION ALL\n  ".join(parts) + "\n}\nRETURN kind, i, n"


def graph_stats(driver: neo4j.Driver, database: str = "neo4j") -> GraphStats:
    """Count nodes per label and relationships per type (those with none are left out), as of
    at least the writes recorded on this host (a cluster may route the read to a follower)."""
    with driver.session(
        database=session_database(database),
        default_access_mode=neo4j.READ_ACCESS,
        bookmarks=recorded_bookmarks(driver, database),
    ) as session:
        labels = sorted(r["label"] for r in session.run(LABELS))
        types = sorted(r["relationshipType"] for r in session.run(TYPES))
        # Labels and types come from the database's own catalogue, quoted as identifiers.
        rows = list(session.run(count_statement(labels, types)))
    names = {"node": labels, "edge": types}
    counts: dict[str, dict[str, int]] = {"node": {}, "edge": {}}
    for row in rows:
        if row["n"]:
            counts[row["kind"]][names[row["kind"]][row["i"]]] = int(row["n"])
    return GraphStats(dict(sorted(counts["node"].items())), dict(sorted(counts["edge"].items())))


def _quoted(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"
