"""The read-only Cypher console behind ``POST /cypher``.

The guard of ``cosmo_kg.graph.readonly`` (the plan check, then a READ access-mode session),
with a transaction timeout and at most ``row_limit`` rows streamed back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import neo4j
from neo4j.exceptions import ClientError, DriverError, Neo4jError

from cosmo_kg.api.reads import translate_error
from cosmo_kg.errors import CosmoKGError, InputError
from cosmo_kg.graph.connection import session_database
from cosmo_kg.graph.console_output import jsonable
from cosmo_kg.graph.readonly import PROCEDURE_MODES, WriteRefusedError, operator_name, operators, refusal


@dataclass(frozen=True)
class CypherResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    row_limit: int
    notifications: list[str] = field(default_factory=list)


class CypherConsole:
    def __init__(
        self,
        driver: neo4j.AsyncDriver,
        database: str,
        timeout: float,
        row_limit: int,
        bookmarks: Callable[[], neo4j.Bookmarks] = neo4j.Bookmarks,
    ) -> None:
        self.driver = driver
        self.database = database
        self.timeout = timeout
        self.row_limit = row_limit
        self.bookmarks = bookmarks  # where each statement's session starts (the API reader's)
        self._procedure_modes: dict[str, str] | None = None

    def _session(self) -> neo4j.AsyncSession:
        return self.driver.session(
            database=session_database(self.database),
            default_access_mode=neo4j.READ_ACCESS,
            fetch_size=self.row_limit + 1,
            bookmarks=self.bookmarks(),
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
        calls = any(operator_name(op) == "ProcedureCall" for op in operators(summary.plan or {}))
        modes = await self._procedure_mode_table() if calls else {}
        refused = refusal(summary.query_type, summary.plan, lambda name: modes.get(name, "UNKNOWN"))
        if refused is not None:
            raise refused

    async def _procedure_mode_table(self) -> dict[str, str]:
        if self._procedure_modes is None:
            async with self._session() as session:
                result = await session.run(PROCEDURE_MODES)
                self._procedure_modes = {r["name"]: r["mode"] async for r in result}
        return self._procedure_modes

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
