"""The read-only Cypher console behind ``POST /cypher``.

Two guards, both decided by the database, never by matching the statement's text:
1. the statement is planned (``EXPLAIN``) in a READ session: its query type must be read-only
   (``r``), and the plan may not load files (``LoadCSV``) nor call a procedure whose declared
   mode is not READ;
2. it then runs in a READ access-mode session, so the server itself refuses any write that
   got past the plan, with a transaction timeout and at most ``row_limit`` rows streamed back.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import neo4j
from neo4j.exceptions import ClientError, DriverError, Neo4jError
from neo4j.graph import Node, Path, Relationship

from cosmo_kg.api.reads import translate_error
from cosmo_kg.errors import CosmoKGError, InputError

FORBIDDEN_OPERATORS = {"LoadCSV": "LOAD CSV reads files"}
PROCEDURE_MODES = "SHOW PROCEDURES YIELD name, mode RETURN name, mode"


class WriteRefusedError(CosmoKGError):
    """A console statement would change the graph, its schema or read files."""

    exit_code = 2


@dataclass(frozen=True)
class CypherResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    row_limit: int
    notifications: list[str] = field(default_factory=list)


def jsonable(value: Any) -> Any:
    """Neo4j values as JSON: nodes and relationships become maps with their labels / type."""
    if isinstance(value, Node):
        return {"labels": sorted(value.labels), "properties": jsonable(dict(value))}
    if isinstance(value, Relationship):
        return {"type": value.type, "properties": jsonable(dict(value))}
    if isinstance(value, Path):
        return {
            "nodes": [jsonable(n) for n in value.nodes],
            "relationships": [jsonable(r) for r in value.relationships],
        }
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _operators(plan: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield plan
    for child in plan.get("children", ()):
        yield from _operators(child)


def _procedure_name(operator: Mapping[str, Any]) -> str:
    details = str(operator.get("args", {}).get("Details", ""))
    return details.split("(", 1)[0].strip()


class CypherConsole:
    def __init__(self, driver: neo4j.AsyncDriver, database: str, timeout: float, row_limit: int) -> None:
        self.driver = driver
        self.database = database
        self.timeout = timeout
        self.row_limit = row_limit
        self._procedure_modes: dict[str, str] | None = None

    def _session(self) -> neo4j.AsyncSession:
        return self.driver.session(
            database=self.database, default_access_mode=neo4j.READ_ACCESS, fetch_size=self.row_limit + 1
        )

    async def run(self, statement: str, parameters: Mapping[str, Any] | None = None) -> CypherResult:
        """Plan, check and run one read-only statement.

        Raises ``WriteRefusedError`` for anything that writes, ``InputError`` for a statement
        Neo4j cannot parse, ``GraphError`` when Neo4j fails or the time limit passes.
        """
        if not statement.strip():
            raise InputError("the statement is empty", hint='send {"statement": "MATCH (n) RETURN n"}')
        params = dict(parameters or {})
        try:
            await self._check_plan(statement, params)
            return await self._execute(statement, params)
        except ClientError as exc:
            raise _client_error(exc) from exc
        except (OverflowError, TypeError, ValueError) as exc:
            raise InputError(
                f"a parameter cannot be sent to Neo4j: {exc}", hint="integers must fit in 64 bits"
            ) from exc
        except (Neo4jError, DriverError, OSError) as exc:
            raise translate_error(exc) from exc

    async def _check_plan(self, statement: str, params: dict[str, Any]) -> None:
        async with self._session() as session:
            result = await session.run(neo4j.Query("EXPLAIN " + statement, timeout=self.timeout), params)
            summary = await result.consume()
        if summary.query_type != "r":
            raise WriteRefusedError(
                f"the console is read-only; this statement is of type {summary.query_type!r} "
                "(writes, schema and admin commands are refused)",
                hint="use MATCH ... RETURN ...",
            )
        for operator in _operators(summary.plan or {}):
            name = str(operator.get("operatorType", "")).split("@")[0]
            if name in FORBIDDEN_OPERATORS:
                raise WriteRefusedError(f"the console is read-only: {FORBIDDEN_OPERATORS[name]}")
            if name == "ProcedureCall":
                await self._check_procedure(_procedure_name(operator))

    async def _check_procedure(self, name: str) -> None:
        if self._procedure_modes is None:
            async with self._session() as session:
                result = await session.run(PROCEDURE_MODES)
                self._procedure_modes = {r["name"]: r["mode"] async for r in result}
        mode = self._procedure_modes.get(name, "UNKNOWN")
        if mode != "READ":
            raise WriteRefusedError(
                f"the console is read-only: procedure {name or '?'} has mode {mode}",
                hint="only READ procedures (db.labels, db.schema.visualization, ...) run",
            )

    async def _execute(self, statement: str, params: dict[str, Any]) -> CypherResult:
        async with self._session() as session:
            result = await session.run(neo4j.Query(statement, timeout=self.timeout), params)
            columns = list(result.keys())
            rows: list[list[Any]] = []
            async for record in result:
                if len(rows) == self.row_limit:
                    await result.consume()
                    return CypherResult(columns, rows, True, self.row_limit)
                rows.append([jsonable(v) for v in record.values()])
        return CypherResult(columns, rows, False, self.row_limit)


def _client_error(exc: ClientError) -> CosmoKGError:
    code = exc.code or ""
    message = exc.message or str(exc)
    if "AccessMode" in code or "Forbidden" in code:
        return WriteRefusedError(f"the console is read-only: {message}")
    if "Syntax" in code or "ParameterMissing" in code or "Statement" in code:
        return InputError(f"Neo4j cannot run this statement: {message}")
    return translate_error(exc)
