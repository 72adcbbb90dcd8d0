"""Counts per node label and relationship type (from Neo4j's count store: cheap on any size)."""

from __future__ import annotations

from dataclasses import dataclass

import neo4j


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


def graph_stats(driver: neo4j.Driver, database: str = "neo4j") -> GraphStats:
    """Count nodes per label and relationships per type."""
    with driver.session(database=database, default_access_mode=neo4j.READ_ACCESS) as session:
        labels = [r["label"] for r in session.run("CALL db.labels() YIELD label RETURN label")]
        types = [r["relationshipType"] for r in
                 session.run("CALL db.relationshipTypes() YIELD relationshipType "
                             "RETURN relationshipType")]
        # Labels and types come from the database's own catalogue, quoted as identifiers.
        nodes = {label: _count(session, f"MATCH (n:{_quoted(label)}) RETURN count(n) AS n")
                 for label in sorted(labels)}
        rels = {t: _count(session, f"MATCH ()-[r:{_quoted(t)}]->() RETURN count(r) AS n")
                for t in sorted(types)}
    return GraphStats({k: v for k, v in nodes.items() if v},
                      {k: v for k, v in rels.items() if v})


def _quoted(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


def _count(session: neo4j.Session, query: str) -> int:
    return int(session.run(query).single(strict=True)["n"])
