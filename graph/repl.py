"""``cosmo-kg cypher``: the interactive console (prompt-toolkit line editing and history) and
the script runner (``-e``, ``-f``, stdin), over ``graph.console.CypherSession``.

Statements end with ``;`` and may span lines; a line starting with ``:`` (between statements)
is a console command. A script stops at its first error (exit status 1, with the line and
column); the interactive console reports the error and carries on.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from cosmo_kg.errors import CosmoKGError, InputError
from cosmo_kg.graph.connection import Neo4jSettings, connect
from cosmo_kg.graph.console import FORMATS, ConsoleSettings, CypherSession
from cosmo_kg.graph.console_output import render, render_plan, render_schema
from cosmo_kg.graph.cypher_text import Splitter, Statement
from cosmo_kg.graph.saved_queries import get_saved_query, parse_assignments, saved_queries

HELP = """\
Statements end with ; and may span several lines. Read-only unless started with --write.
  :help                    this help
  :schema                  labels and relationship types with counts, constraints, indexes
  :saved                   list the saved queries of cypher/queries
  :saved NAME k=v ...      run a saved query with its parameters
  :param NAME VALUE        set $NAME (VALUE as JSON if it parses, else as text)
  :param NAME              forget $NAME
  :params [clear]          list (or forget) the parameters
  :explain STATEMENT       show the plan without running it
  :format table|csv|json   how results are printed
  :exit, :quit, Ctrl-D     leave
Ctrl-C cancels a running statement (or the statement being typed) without leaving."""


@dataclass(frozen=True)
class CypherConfig:
    """What one ``cosmo-kg cypher`` run does: statements (``-e``), a script file, or stdin /
    the interactive console when neither is given."""

    statements: tuple[str, ...] = ()
    file: Path | None = None
    write: bool = False
    yes: bool = False
    history_file: Path | None = None


@dataclass
class CypherReport:
    statements: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    interactive: bool = False

    @property
    def exit_code(self) -> int:
        """1 when a script failed; an interactive session reported its errors as they came."""
        return 1 if self.failed and not self.interactive else 0


class Shell:
    """Console commands and statement running with their output; shared by both modes."""

    def __init__(self, session: CypherSession, fmt: str, out: Console, err: Console) -> None:
        self.session, self.fmt, self.out, self.err = session, fmt, out, err
        self.report = CypherReport()

    def statement(self, statement: Statement) -> bool:
        """Run one statement and print its result; False (after printing why) if it failed."""
        self.report.statements += 1
        try:
            render(self.session.run(statement), self.fmt, self.out)
        except CosmoKGError as exc:
            self.fail(exc)
            return False
        return True

    def fail(self, exc: CosmoKGError) -> None:
        position = getattr(exc, "position", None)
        where = f"line {position[0]}, column {position[1]}: " if position else ""
        text = f"Error: {where}{exc.message}"
        self.report.failed += 1
        self.report.errors.append(text)
        self.err.print(escape(text), style="red", highlight=False)
        if exc.hint:
            self.err.print(escape(f"Hint: {exc.hint}"), highlight=False)

    def command(self, line: str) -> bool:
        """Run a ``:command`` line; False when it asks to leave."""
        name, _, rest = line.strip()[1:].partition(" ")
        rest = rest.strip()
        handlers: dict[str, Callable[[str], None]] = {
            "help": lambda _: self.out.print(escape(HELP), highlight=False),
            "schema": lambda _: render_schema(self.session.schema(), self.out),
            "saved": self._saved,
            "param": self._param,
            "params": self._params,
            "explain": self._explain,
            "format": self._format,
        }
        if name in {"exit", "quit", "q"}:
            return False
        try:
            if name not in handlers:
                raise InputError(f"unknown command :{name}", hint="type :help")
            handlers[name](rest)
        except CosmoKGError as exc:
            self.fail(exc)
        return True

    def _saved(self, rest: str) -> None:
        if not rest:
            for query in saved_queries().values():
                names = " ".join(f"{p.name}=" + ("?" if p.required else str(p.default)) for p in query.params)
                self.out.print(escape(f"{query.name} {names}\n    {query.answers}"), highlight=False)
            return
        name, *pairs = rest.split()
        query = get_saved_query(name)
        bound = query.bind(parse_assignments(pairs))
        self.report.statements += 1
        render(self.session.run(Statement(query.text), bound), self.fmt, self.out)

    def _param(self, rest: str) -> None:
        name, _, raw = rest.partition(" ")
        if not name:
            raise InputError("usage: :param NAME VALUE", hint="e.g. :param product_id B00000J1U8")
        if not raw.strip():
            self.session.params.pop(name, None)
            return
        try:
            self.session.params[name] = json.loads(raw)
        except json.JSONDecodeError:
            self.session.params[name] = raw.strip()

    def _params(self, rest: str) -> None:
        if rest == "clear":
            self.session.params.clear()
            return
        for name, value in sorted(self.session.params.items()):
            self.out.print(escape(f"${name} = {json.dumps(value, ensure_ascii=False)}"), highlight=False)

    def _explain(self, rest: str) -> None:
        text = rest.rstrip().removesuffix(";")
        if not text:
            raise InputError("usage: :explain STATEMENT")
        render_plan(self.session.explain(Statement(text)), self.out)

    def _format(self, rest: str) -> None:
        if rest not in FORMATS:
            raise InputError(f"unknown format {rest!r}", hint="use table, csv or json")
        self.fmt = rest


def run_script(shell: Shell, lines: Iterable[str]) -> CypherReport:
    """Run a script's lines, stopping at the first error."""
    splitter = Splitter()
    for line in lines:
        if splitter.empty and line.strip().startswith(":"):
            splitter.feed(line)
            splitter.reset()
            if not shell.command(line) or shell.report.failed:
                return shell.report
            continue
        for statement in splitter.feed(line):
            if not shell.statement(statement):
                return shell.report
    last = splitter.flush()
    if last is not None:
        shell.statement(last)
    return shell.report


def interactive(shell: Shell, history: Path) -> CypherReport:
    """The console: line editing, a history file, multi-line statements ended by ``;``."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    history.parent.mkdir(parents=True, exist_ok=True)
    prompt: PromptSession[str] = PromptSession(history=FileHistory(str(history)))
    shell.session.confirm = lambda statement, why: _ask(prompt, why)
    shell.report.interactive = True
    shell.out.print(
        "cosmo-kg cypher: statements end with ;  (:help for commands, :exit to leave)", highlight=False
    )
    splitter = Splitter()
    while True:
        try:
            line = prompt.prompt("cypher> " if splitter.empty else "   ...> ")
        except KeyboardInterrupt:
            splitter = Splitter()
            continue
        except EOFError:
            return shell.report
        if splitter.empty and line.strip().startswith(":"):
            if not shell.command(line):
                return shell.report
            continue
        for statement in splitter.feed(line + "\n"):
            shell.statement(statement)
        if splitter.empty:
            splitter = Splitter()  # positions in errors count from the next statement's first line


def _ask(prompt: object, why: str) -> bool:
    question = f"This is {why}. Run this write? [y/N] "
    try:
        answer = prompt.prompt(question)  # type: ignore[attr-defined]
    except (KeyboardInterrupt, EOFError):
        return False
    return str(answer).strip().lower() in {"y", "yes"}


def script_lines(config: CypherConfig) -> Iterable[str] | None:
    """The script to run: ``-e`` statements, ``-f`` file or piped stdin; None for the console."""
    if config.statements:
        return [s if s.rstrip().endswith(";") else s + ";\n" for s in config.statements]
    if config.file is not None:
        try:
            return config.file.read_text(encoding="utf-8").splitlines(keepends=True)
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(
                f"cannot read {config.file}: {exc}",
                hint="give a UTF-8 text file of Cypher statements ending in ;",
            ) from exc
    if not sys.stdin.isatty():
        return sys.stdin.read().splitlines(keepends=True)
    return None


def run_console(
    config: CypherConfig,
    neo4j_settings: Neo4jSettings,
    settings: ConsoleSettings,
    out: Console | None = None,
    err: Console | None = None,
) -> CypherReport:
    """Run ``cosmo-kg cypher``: a script when one is given, else the interactive console.

    Raises ``GraphError`` when Neo4j cannot be reached; statement errors are in the report.
    """
    lines = script_lines(config)
    out = out or Console(highlight=False, soft_wrap=lines is not None)
    err = err or Console(stderr=True, highlight=False, soft_wrap=True)
    with connect(neo4j_settings) as driver:
        session = CypherSession(
            driver,
            neo4j_settings.database,
            settings,
            write=config.write,
            confirm=(lambda statement, why: True) if config.yes else None,
        )
        shell = Shell(session, settings.format, out, err)
        if lines is not None:
            if config.write and not config.yes:
                session.confirm = _refuse_unconfirmed
            return run_script(shell, lines)
        return interactive(shell, config.history_file or Path(".cosmo-kg/cypher_history"))


def _refuse_unconfirmed(statement: Statement, why: str) -> bool:
    raise InputError("a script cannot confirm writes", hint="add --yes to run its writes")
