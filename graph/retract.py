"""Retraction: take knowledge back out of the graph (a bad model run, a withdrawn relation).

``retract`` deletes the knowledge edges a filter selects (run id, model, relation, domain; the
filters combine) and then the intentions left with no edge. The deletion is one statement that
commits every ``batch_size`` edges (``CALL ... IN TRANSACTIONS``), so a retraction killed at any
point has deleted whole batches only; run again, it deletes what is left. A ``:LoadRun`` record
(``kind: 'retraction'``) marks it begun, then complete with ``completed_at``: that is a new graph
version (``cosmo_kg.graph.version``), so cached answers computed before it are not served after.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import neo4j

from cosmo_kg.errors import InputError
from cosmo_kg.graph.connection import graph_errors, session_database
from cosmo_kg.graph.version import completing_write
from cosmo_kg.vocabulary import DOMAINS, RELATIONS

# A knowledge edge (h)-[e]->(i) belongs to a domain when its head is a product of that domain, or
# a query whose purchased product of that domain carries the same knowledge (search-buy knowledge
# hangs off both the query and the product, so this names the pairs it came from).
EDGE_IN_DOMAIN = (
    "($domain IS NULL OR (h:Product AND h.domain = $domain) OR (h:Query AND EXISTS { "
    "MATCH (h)-[:SEARCH_BUY]->(p:Product {domain: $domain})-[r]->(i) WHERE type(r) = type(e) }))"
)
_EDGE_FILTER = (
    "type(e) IN $relations AND ($run_id IS NULL OR e.run_id = $run_id) "
    "AND ($model IS NULL OR e.model = $model) AND " + EDGE_IN_DOMAIN
)
_MATCH = "MATCH (h)-[e{rel_type}]->(i:Intention) WHERE " + _EDGE_FILTER

_DELETE_EDGES = (
    _MATCH
    + """
CALL (e, i) {
  WITH e, type(e) AS relation, i.text AS tail
  DELETE e
  RETURN relation, tail
} IN TRANSACTIONS OF $batch_size ROWS
RETURN relation, count(*) AS edges, collect(DISTINCT tail) AS tails
"""
)

_COUNT_EDGES = _MATCH + "\nRETURN type(e) AS relation, count(*) AS edges"

_COUNT_ORPHANS = (
    _MATCH
    + """
WITH i, count(e) AS matched
RETURN count(CASE WHEN COUNT { (i)<--() } = matched THEN 1 END) AS orphans
"""
)

# Intentions with no edge left: of the given texts, or (``$texts`` null, after a resumed run whose
# first attempt may have died between its two steps) of the whole graph.
_DELETE_ORPHANS = """
CALL () {
  UNWIND coalesce($texts, []) AS text
  MATCH (i:Intention {text: text}) RETURN i
  UNION
  WITH 1 AS one WHERE $texts IS NULL
  MATCH (i:Intention) RETURN i
}
WITH i WHERE NOT EXISTS { (i)--() }
CALL (i) { DELETE i } IN TRANSACTIONS OF $batch_size ROWS
RETURN count(*) AS orphans
"""

_RUN_BEGIN = """
OPTIONAL MATCH (old:LoadRun {load_id: $run_id})
WITH coalesce(old.completed = false, false) AS resumed
MERGE (l:LoadRun {load_id: $run_id})
ON CREATE SET l.kind = 'retraction', l.filter = $filter
SET l.completed = false, l.started_at = datetime()
RETURN resumed
"""

_RUN_COMPLETE = """
MATCH (l:LoadRun {load_id: $run_id})
SET l.completed = true, l.completed_at = datetime(), l.edges_deleted = $edges,
    l.intentions_deleted = $intentions
"""


@dataclass(frozen=True)
class RetractConfig:
    """Which knowledge edges to retract; at least one of ``run_id``, ``model``, ``relation``."""

    run_id: str | None = None
    model: str | None = None
    relation: str | None = None
    domain: str | None = None
    dry_run: bool = False
    database: str = ""  # empty: the server's default database
    batch_size: int = 10_000

    def validate(self) -> None:
        if not (self.run_id or self.model or self.relation):
            raise InputError(
                "nothing to retract: no filter given",
                hint="pass --run-id, --model or --relation (and optionally --domain)",
            )
        if self.relation is not None and self.relation not in RELATIONS:
            raise InputError(
                f"unknown relation {self.relation!r}", hint=f"use one of: {', '.join(RELATIONS)}"
            )
        if self.domain is not None and self.domain not in DOMAINS:
            raise InputError(f"unknown domain {self.domain!r}", hint=f"use one of: {'; '.join(DOMAINS)}")
        if self.batch_size < 1:
            raise InputError(f"batch size {self.batch_size} is not positive", hint="use e.g. 10000")

    def filter(self) -> dict[str, str]:
        return {
            name: value
            for name, value in (
                ("run_id", self.run_id),
                ("model", self.model),
                ("relation", self.relation),
                ("domain", self.domain),
            )
            if value is not None
        }

    def params(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "model": self.model,
            "domain": self.domain,
            "relations": [self.relation] if self.relation else list(RELATIONS),
            "batch_size": self.batch_size,
        }

    @property
    def record_id(self) -> str:
        """The id of this retraction's run record: the same filter resumes or repeats one record."""
        digest = hashlib.sha256(json.dumps(self.filter(), sort_keys=True).encode()).hexdigest()
        return f"retract-{digest[:20]}"


@dataclass
class RetractReport:
    retraction_id: str
    filter: dict[str, str]
    dry_run: bool
    edges: dict[str, int] = field(default_factory=dict)
    edges_total: int = 0
    intentions_removed: int = 0
    resumed: bool = False
    seconds: float = 0.0
    edges_per_second: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def normalize_domain_name(value: str | None) -> str | None:
    """The vocabulary spelling of a domain typed in any case; unknown names are kept (and refused)."""
    if value is None:
        return None
    return {d.casefold(): d for d in DOMAINS}.get(value.strip().casefold(), value)


def _statement(template: str, relation: str | None) -> str:
    # The only text spliced in: a relationship type checked against the vocabulary.
    return template.replace("{rel_type}", f":{relation}" if relation in RELATIONS else "", 1)


def retract(config: RetractConfig, driver: neo4j.Driver) -> RetractReport:
    """Delete the knowledge edges ``config`` selects and the intentions left without an edge.

    With ``dry_run`` nothing changes: the report counts what would go. Raises ``InputError`` for
    a bad filter and ``GraphError`` when Neo4j fails (what was committed stays deleted; run the
    same retraction again to finish it).
    """
    config.validate()
    started = time.perf_counter()
    report = RetractReport(config.record_id, config.filter(), config.dry_run)
    with (
        graph_errors("the retraction", hint="run the same retraction again: it deletes what is left"),
        driver.session(database=session_database(config.database)) as session,
    ):
        if config.dry_run:
            _count(session, config, report)
        else:
            _delete(session, config, report)
    report.edges_total = sum(report.edges.values())
    report.seconds = round(time.perf_counter() - started, 3)
    report.edges_per_second = round(report.edges_total / max(report.seconds, 1e-9), 1)
    return report


def _count(session: neo4j.Session, config: RetractConfig, report: RetractReport) -> None:
    params = config.params()
    rows = session.run(_statement(_COUNT_EDGES, config.relation), params)
    report.edges = {row["relation"]: int(row["edges"]) for row in rows}
    orphans = session.run(_statement(_COUNT_ORPHANS, config.relation), params).single(strict=True)
    report.intentions_removed = int(orphans["orphans"])


def _delete(session: neo4j.Session, config: RetractConfig, report: RetractReport) -> None:
    begun = session.run(
        _RUN_BEGIN, run_id=report.retraction_id, filter=json.dumps(report.filter, sort_keys=True)
    ).single(strict=True)
    report.resumed = bool(begun["resumed"])
    tails: set[str] = set()
    for row in session.run(_statement(_DELETE_EDGES, config.relation), config.params()):
        report.edges[row["relation"]] = int(row["edges"])
        tails.update(row["tails"])
    texts = None if report.resumed else sorted(tails)
    orphans = session.run(_DELETE_ORPHANS, texts=texts, batch_size=config.batch_size).single(strict=True)
    report.intentions_removed = int(orphans["orphans"])
    with completing_write(session):
        session.run(
            _RUN_COMPLETE,
            run_id=report.retraction_id,
            edges=sum(report.edges.values()),
            intentions=report.intentions_removed,
        ).consume()
