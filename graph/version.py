"""The graph version: which completed write the graph's knowledge is as of.

Every write run (a load, a refresh's load, a retraction) keeps a ``:LoadRun`` record and marks it
complete, with ``completed_at``, in its last transaction. The latest completed record names the
version: its id and completion time. Readers that cache answers stamp them with this tag, so an
answer computed before a write is never served after it. Reading it is one index seek.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import neo4j

# The newest completed write run; the range index on completed_at makes this a seek to its end.
LATEST = """
MATCH (l:LoadRun) WHERE l.completed_at IS NOT NULL
RETURN l.load_id AS run_id, coalesce(l.kind, 'load') AS kind, l.completed_at AS completed_at
ORDER BY l.completed_at DESC LIMIT 1
"""

EMPTY = "empty"


@dataclass(frozen=True)
class GraphVersion:
    """The latest completed write: its run id, kind (load or retraction) and completion time."""

    run_id: str = ""
    kind: str = ""
    completed_at: str = ""

    @property
    def tag(self) -> str:
        """A short string that changes with every completed write (``empty`` before the first)."""
        if not self.run_id:
            return EMPTY
        return f"{self.run_id[:16]}@{self.completed_at}"

    @classmethod
    def of(cls, row: dict[str, Any] | None) -> GraphVersion:
        if not row:
            return cls()
        completed = row["completed_at"]
        stamp = completed.iso_format() if hasattr(completed, "iso_format") else str(completed)
        return cls(str(row["run_id"]), str(row["kind"]), stamp)


def graph_version(driver: neo4j.Driver, database: str = "neo4j") -> GraphVersion:
    """The graph's current version (``GraphError``-free: a plain driver read)."""
    records, _, _ = driver.execute_query(LATEST, database_=database, routing_=neo4j.RoutingControl.READ)
    return GraphVersion.of(dict(records[0].items()) if records else None)
