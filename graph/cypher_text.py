"""Cypher script text: split into statements at ``;`` (never inside strings, quoted names or
comments) and place Neo4j's error positions in the script."""

from __future__ import annotations

import re
from dataclasses import dataclass

_POSITION = re.compile(r"\(line (\d+), column (\d+) \(offset: \d+\)\)")


@dataclass(frozen=True)
class Statement:
    """One statement of a script; ``line`` and ``column`` (1-based) say where its text starts."""

    text: str
    line: int = 1
    column: int = 1


@dataclass
class Splitter:
    """Feeds text in pieces (lines of a prompt, a file) and yields each complete statement."""

    pending: str = ""
    _quote: str = ""
    _comment: str = ""
    _line: int = 1
    _column: int = 1
    _start: tuple[int, int] | None = None

    @property
    def empty(self) -> bool:
        return not self.pending.strip()

    def feed(self, text: str) -> list[Statement]:
        done: list[Statement] = []
        index = 0
        while index < len(text):
            char, following = text[index], text[index + 1 : index + 2]
            step = self._consume(char, following)
            if step == 0:  # the end of a statement
                statement = self._finish()
                if statement is not None:
                    done.append(statement)
                step = 1
            else:
                self.pending += text[index : index + step]
            self._advance(text[index : index + step])
            index += step
        return done

    def flush(self) -> Statement | None:
        """The last statement of a script, which may end without ``;``."""
        return self._finish()

    def reset(self) -> None:
        self.pending, self._quote, self._comment, self._start = "", "", "", None

    def _consume(self, char: str, following: str) -> int:
        """How many characters to take as one piece; 0 means a statement-ending ``;``."""
        if self._start is None and not char.isspace():
            self._start = (self._line, self._column)
        if self._comment == "//":
            self._comment = "" if char == "\n" else self._comment
            return 1
        if self._comment == "/*":
            if char == "*" and following == "/":
                self._comment = ""
                return 2
            return 1
        if self._quote:
            if char == "\\" and self._quote != "`":
                return 2
            if char == self._quote:
                self._quote = ""
            return 1
        if char in "'\"`":
            self._quote = char
        elif char == "/" and following in "/*" and following:
            self._comment = "/" + following
            return 2
        elif char == ";":
            return 0
        return 1

    def _advance(self, piece: str) -> None:
        for char in piece:
            if char == "\n":
                self._line, self._column = self._line + 1, 1
            else:
                self._column += 1

    def _finish(self) -> Statement | None:
        text, start = self.pending.strip(), self._start or (self._line, self._column)
        self.pending, self._start = "", None
        if not text:
            return None
        return Statement(text, *start)


def split_statements(script: str) -> list[Statement]:
    """Every statement of ``script`` with where it starts (the last one needs no ``;``)."""
    splitter = Splitter()
    statements = splitter.feed(script)
    last = splitter.flush()
    return statements + ([last] if last else [])


def place_error(message: str, statement: Statement, prefix: int = 0) -> tuple[int, int] | None:
    """The script line and column of the position in Neo4j's error ``message``, if it gives one
    (``prefix``: characters put before the statement's first line, e.g. ``EXPLAIN ``)."""
    match = _POSITION.search(message)
    if match is None or int(match.group(1)) < 1:
        return None
    line, column = int(match.group(1)), int(match.group(2))
    if line == 1:
        return statement.line, statement.column + max(column - prefix, 1) - 1
    return statement.line + line - 1, column
