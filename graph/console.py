"""The engine of ``cosmo-kg cypher``: run statements read-only (or, asked to, writes), explain
them, describe the schema, keep parameters, cancel a running statement.

Read-only by default with the guard the API's ``POST /cypher`` uses (``graph.readonly``): the
plan check, then a READ access-mode session. With ``write`` a statement that writes asks
``confirm`` first and runs in a WRITE session. Cancelling terminates the statement's
transaction on the server (found by its metadata), so the console stays usable.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import neo4j
from neo4j.exceptions import ClientError, DriverError, Neo4jError

from cosmo_kg.errors import CosmoKGError, GraphError, InputError
from cosmo_kg.graph.connection import session_database
from cosmo_kg.graph.cypher_text import Statement, place_error
from cosmo_kg.graph.readonly import PROCEDURE_MODES, WriteRefusedError, operator_name, operators, refusal
from cosmo_kg.graph.stats import graph_stats
from cosmo_kg.settings import SettingsGroup, setting

FORMATS = ("table", "csv", "json")
EXPLAIN = "EXPLAIN "
_POSITION_SUFFIX = re.compile(r"\s*\(line \d+, column \d+ \(offset: \d+\)\)")
CONSTRAINTS = "SHOW CONSTRAINTS YIELD name, type, labelsOrTypes, properties RETURN * ORDER BY name"
INDEXES = "SHOW INDEXES YIELD name, type, labelsOrTypes, properties, state RETURN * ORDER BY name"
FIND_OWN = (
    "SHOW TRANSACTIONS YIELD transactionId, metaData "
    "WHERE metaData.cosmo_console = $token RETURN transactionId"
)


@dataclass(frozen=True)
class ConsoleSettings(SettingsGroup):
    section = "console"

    history_file: str = setting(
        "",
        "history of `cosmo-kg cypher` (default: cypher_history in the workspace)",
        env="COSMO_CONSOLE_HISTORY_FILE",
    )
    row_limit: int = setting(
        1000,
        "rows a statement shows at most (the rest are counted, not shown)",
        env="COSMO_CONSOLE_ROW_LIMIT",
    )
    timeout: float = setting(
        0.0, "seconds a statement may run (0: no limit; Ctrl-C cancels)", env="COSMO_CONSOLE_TIMEOUT"
    )
    format: str = setting("table", "result format: table, csv or json", env="COSMO_CONSOLE_FORMAT")

    def validate(self) -> None:
        if self.format not in FORMATS:
            raise self.bad_value("format", "use table, csv or json", InputError)
        if self.row_limit < 1:
            raise self.bad_value("row_limit", "use a positive number", InputError)


class StatementError(CosmoKGError):
    """A statement failed; ``position`` is its (line, column) in the script when Neo4j gave one."""

    def __init__(
        self, message: str, *, position: tuple[int, int] | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.position = position


class CancelledError(CosmoKGError):
    """The user cancelled a running statement (Ctrl-C)."""


@dataclass
class StatementResult:
    columns: list[str]
    rows: list[list[Any]]
    seconds: float
    total_rows: int
    query_type: str = "r"
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def truncated(self) -> bool:
        return self.total_rows > len(self.rows)


@dataclass(frozen=True)
class SchemaReport:
    labels: dict[str, int]
    relationship_types: dict[str, int]
    constraints: list[dict[str, Any]]
    indexes: list[dict[str, Any]]


class CypherSession:
    """One console session over an open driver.

    Args:
        driver: an open driver (``graph.connection.connect``).
        database: the database every statement runs against.
        settings: row limit and time limit.
        write: allow writes, each after ``confirm(statement, reason)`` says yes (``reason``:
            what it does, e.g. ``a write statement``).
        confirm: asked before a write; the default refuses.
    """

    def __init__(
        self,
        driver: neo4j.Driver,
        database: str,
        settings: ConsoleSettings,
        *,
        write: bool = False,
        confirm: Callable[[Statement, str], bool] | None = None,
    ) -> None:
        self.driver = driver
        self.database = database
        self.settings = settings
        self.write = write
        self.confirm = confirm or (lambda statement, kind: False)
        self.params: dict[str, Any] = {}
        self._modes: dict[str, str] | None = None

    def run(self, statement: Statement, params: Mapping[str, Any] | None = None) -> StatementResult:
        """Check and run one statement; Ctrl-C (``KeyboardInterrupt``) cancels it on the server.

        Raises ``WriteRefusedError`` (a write while read-only, or declined), ``StatementError``
        (Neo4j refused it; with its position) or ``CancelledError``.
        """
        values = {**self.params, **(params or {})}
        refused = self._guard(statement, values)
        if refused is not None:
            if not self.write:
                raise refused
            if not self.confirm(statement, refused.reason):
                raise WriteRefusedError("not run: the write was not confirmed")
        mode = neo4j.WRITE_ACCESS if refused is not None else neo4j.READ_ACCESS
        return self._run_cancellable(statement, values, mode)

    def explain(self, statement: Statement) -> list[tuple[int, str, str, float]]:
        """The plan as (depth, operator, details, estimated rows) rows, root first."""
        summary = self._plan(statement, self.params)
        found: list[tuple[int, str, str, float]] = []
        self._walk(summary.plan or {}, 0, found)
        return found

    def schema(self) -> SchemaReport:
        """Labels and relationship types with counts, constraints and indexes."""
        stats = graph_stats(self.driver, self.database)
        with self._session(neo4j.READ_ACCESS) as session:
            constraints = [r.data() for r in session.run(CONSTRAINTS)]
            indexes = [r.data() for r in session.run(INDEXES)]
        return SchemaReport(stats.nodes, stats.relationships, constraints, indexes)

    def _walk(self, plan: Mapping[str, Any], depth: int, found: list[tuple[int, str, str, float]]) -> None:
        args = plan.get("args", {})
        found.append(
            (
                depth,
                str(plan.get("operatorType", "")).split("@")[0],
                str(args.get("Details", "")),
                float(args.get("EstimatedRows", 0.0)),
            )
        )
        for child in plan.get("children", ()):
            self._walk(child, depth + 1, found)

    def _session(self, mode: str) -> neo4j.Session:
        return self.driver.session(
            database=session_database(self.database),
            default_access_mode=mode,
            fetch_size=min(self.settings.row_limit + 1, 10_000),
        )

    def _plan(self, statement: Statement, params: dict[str, Any]) -> neo4j.ResultSummary:
        try:
            with self._session(neo4j.READ_ACCESS) as session:
                return session.run(neo4j.Query(EXPLAIN + statement.text), params).consume()
        except Neo4jError as exc:
            raise _statement_error(exc, statement, explained=True) from exc
        except (DriverError, OSError) as exc:
            raise GraphError(f"Neo4j failed: {exc}") from exc

    def _guard(self, statement: Statement, params: dict[str, Any]) -> WriteRefusedError | None:
        summary = self._plan(statement, params)
        if any(operator_name(op) == "ProcedureCall" for op in operators(summary.plan or {})):
            self._load_modes()
        modes = self._modes or {}
        return refusal(summary.query_type, summary.plan, lambda name: modes.get(name, "UNKNOWN"))

    def _load_modes(self) -> None:
        if self._modes is None:
            with self._session(neo4j.READ_ACCESS) as session:
                self._modes = {r["name"]: r["mode"] for r in session.run(PROCEDURE_MODES)}

    def _run_cancellable(self, statement: Statement, params: dict[str, Any], mode: str) -> StatementResult:
        token = uuid.uuid4().hex
        outcome: dict[str, Any] = {}
        worker = threading.Thread(
            target=self._execute_into, daemon=True, args=(statement, params, mode, token, outcome)
        )
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.05)
        except KeyboardInterrupt:
            if not self._terminate(token):
                raise CancelledError(
                    "cancelled here, but the server may finish the statement",
                    hint="stopping it needs the TERMINATE TRANSACTION privilege",
                ) from None
            worker.join(30)
            raise CancelledError("cancelled: the statement was stopped on the server") from None
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]

    def _execute_into(
        self, statement: Statement, params: dict[str, Any], mode: str, token: str, outcome: dict[str, Any]
    ) -> None:
        try:
            outcome["result"] = self._execute(statement, params, mode, token)
        except Neo4jError as exc:
            outcome["error"] = _statement_error(exc, statement)
        except (DriverError, OSError) as exc:
            outcome["error"] = GraphError(f"Neo4j failed: {exc}")
        except (OverflowError, TypeError, ValueError) as exc:
            outcome["error"] = InputError(f"a parameter cannot be sent to Neo4j: {exc}")

    def _execute(
        self, statement: Statement, params: dict[str, Any], mode: str, token: str
    ) -> StatementResult:
        started = time.perf_counter()
        query = neo4j.Query(
            statement.text, metadata={"cosmo_console": token}, timeout=self.settings.timeout or None
        )
        with self._session(mode) as session:
            result = session.run(query, params)
            columns = list(result.keys())
            rows: list[list[Any]] = []
            total = 0
            for record in result:
                total += 1
                if len(rows) < self.settings.row_limit:
                    rows.append(list(record.values()))
            summary = result.consume()
        counters = {
            k: v
            for k, v in vars(summary.counters).items()
            if isinstance(v, int) and v and not k.startswith("_")
        }
        return StatementResult(
            columns, rows, time.perf_counter() - started, total, summary.query_type or "", counters
        )

    def _terminate(self, token: str) -> bool:
        """Stop this console's running transaction on the server; False if that was refused."""
        try:
            with self._session(neo4j.WRITE_ACCESS) as session:
                ids = [r["transactionId"] for r in session.run(FIND_OWN, token=token)]
                if ids:
                    session.run("TERMINATE TRANSACTIONS $ids", ids=ids).consume()
        except (Neo4jError, DriverError, OSError):
            return False
        return True


def _statement_error(exc: Neo4jError, statement: Statement, *, explained: bool = False) -> CosmoKGError:
    code, message = exc.code or "", exc.message or str(exc)
    if isinstance(exc, ClientError) and ("AccessMode" in code or "Forbidden" in code):
        return WriteRefusedError(f"the console is read-only: {message}")
    if "Terminated" in code:
        return CancelledError("cancelled: the statement was stopped on the server")
    if "TransactionTimedOut" in code:
        return StatementError(
            "the statement ran past its time limit", hint="raise --console-timeout, or 0 for none"
        )
    if explained and "conflicting values for execution mode" in message:
        return StatementError(
            "PROFILE runs the statement and is not available here", hint="use :explain STATEMENT for its plan"
        )
    first = message.strip().splitlines()[0] if message.strip() else code
    first = _POSITION_SUFFIX.sub("", first).strip()
    prefix = len(EXPLAIN) if explained else 0
    return StatementError(first, position=place_error(message, statement, prefix))
