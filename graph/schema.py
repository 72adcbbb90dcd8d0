"""Apply ``cypher/schema.cypher`` (constraints and indexes) idempotently."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import neo4j


@dataclass(frozen=True)
class SchemaReport:
    statements: int
    constraints: int
    indexes: int


def schema_statements() -> list[str]:
    """The statements of the shipped schema file, comments removed."""
    text = resources.files("cosmo_kg.cypher").joinpath("schema.cypher").read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
    return [s.strip() for s in body.split(";") if s.strip()]


def apply_schema(driver: neo4j.Driver, database: str = "neo4j") -> SchemaReport:
    """Create every constraint and index that is missing, then wait until all are online."""
    statements = schema_statements()
    with driver.session(database=database) as session:
        with session.begin_transaction() as tx:  # one transaction: indexes populate in one store scan
            for statement in statements:
                tx.run(statement).consume()
            tx.commit()
        session.run("CALL db.awaitIndexes(300)").consume()
        constraints = session.run("SHOW CONSTRAINTS YIELD name RETURN count(*) AS n").single(strict=True)
        indexes = session.run("SHOW INDEXES YIELD name RETURN count(*) AS n").single(strict=True)
    return SchemaReport(len(statements), int(constraints["n"]), int(indexes["n"]))
