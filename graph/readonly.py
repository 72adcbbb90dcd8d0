"""The read-only guard of every Cypher console (``cosmo-kg cypher`` and ``POST /cypher``).

Decided by the database, never by matching the statement's text (comments, case, unicode
spaces and ``CALL {...} IN TRANSACTIONS`` cannot hide a write from Neo4j's own planner):
1. the statement is planned (``EXPLAIN``): its query type must be read-only (``r``), and the
   plan may neither load files (``LoadCSV``) nor call a procedure whose declared mode is not
   READ;
2. the console then runs it in a READ access-mode session, so the server itself refuses any
   write that got past the plan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from cosmo_kg.errors import CosmoKGError

FORBIDDEN_OPERATORS = {
    "LoadCSV": "LOAD CSV reads files",
    "TerminateTransactions": "TERMINATE TRANSACTIONS stops other sessions' work",
}
PROCEDURE_MODES = "SHOW PROCEDURES YIELD name, mode RETURN name, mode"
QUERY_TYPES = {"r": "read", "rw": "read-write", "w": "write", "s": "schema"}


class WriteRefusedError(CosmoKGError):
    """A console statement would change the graph, its schema or read files; ``reason`` says
    what it does in a few words (``a write statement``, ``LOAD CSV reads files``)."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None, reason: str = "") -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


def operators(plan: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every operator of an EXPLAIN plan, depth first."""
    yield plan
    for child in plan.get("children", ()):
        yield from operators(child)


def procedure_name(operator: Mapping[str, Any]) -> str:
    details = str(operator.get("args", {}).get("Details", ""))
    return details.split("(", 1)[0].strip()


def operator_name(operator: Mapping[str, Any]) -> str:
    return str(operator.get("operatorType", "")).split("@")[0]


def refusal(
    query_type: str | None, plan: Mapping[str, Any] | None, procedure_mode: Callable[[str], str]
) -> WriteRefusedError | None:
    """Why a planned statement is not read-only, or None when it is.

    Args:
        query_type: the summary's query type (``r``, ``rw``, ``w``, ``s``; None for admin commands).
        plan: the summary's plan.
        procedure_mode: the declared mode of a procedure by name (``READ``, ``WRITE``, ...).
    """
    if query_type != "r":
        reason = f"a {QUERY_TYPES.get(query_type or '', 'administration')} statement"
        return WriteRefusedError(
            f"the console is read-only; this statement is {reason} "
            "(writes, schema and admin commands are refused)",
            hint="use MATCH ... RETURN ...",
            reason=reason,
        )
    for operator in operators(plan or {}):
        name = operator_name(operator)
        if name in FORBIDDEN_OPERATORS:
            reason = FORBIDDEN_OPERATORS[name]
            return WriteRefusedError(f"the console is read-only: {reason}", reason=reason)
        if name == "ProcedureCall":
            procedure = procedure_name(operator)
            mode = procedure_mode(procedure)
            if mode != "READ":
                reason = f"procedure {procedure or '?'} has mode {mode}"
                return WriteRefusedError(
                    f"the console is read-only: {reason}",
                    hint="only READ procedures (db.labels, db.schema.visualization, ...) run",
                    reason=reason,
                )
    return None
