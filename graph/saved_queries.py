"""The saved Cypher queries of ``cypher/queries``: parse their headers, run them read-only.

Each file starts with comment lines ``// name:``, ``// answers:`` and ``// params:``; a
parameter reads ``name (type)`` or ``name (type, default VALUE)`` with type string, integer
or float.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import neo4j
from neo4j.exceptions import Neo4jError

from cosmo_kg.errors import GraphError, InputError
from cosmo_kg.graph.connection import session_database
from cosmo_kg.graph.version import recorded_bookmarks

_PARAM = re.compile(r"(\w+)\s*\(\s*(string|integer|float)\s*(?:,\s*default\s+(.+?))?\s*\)")
_TYPES: dict[str, type] = {"string": str, "integer": int, "float": float}


@dataclass(frozen=True)
class QueryParam:
    name: str
    type: str
    default: Any = None

    @property
    def required(self) -> bool:
        return self.default is None

    def convert(self, raw: str) -> Any:
        try:
            return _TYPES[self.type](raw)
        except ValueError:
            raise InputError(f"parameter {self.name} must be a {self.type}, got {raw!r}") from None


@dataclass(frozen=True)
class SavedQuery:
    name: str
    answers: str
    params: tuple[QueryParam, ...]
    text: str

    def bind(self, given: dict[str, str]) -> dict[str, Any]:
        """Typed parameters from ``name=value`` strings, defaults filled in."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise InputError(
                f"query {self.name} has no parameter {', '.join(unknown)}",
                hint=f"its parameters: {', '.join(known) or 'none'}",
            )
        bound = {}
        for param in self.params:
            if param.name in given:
                bound[param.name] = param.convert(given[param.name])
            elif param.required:
                raise InputError(
                    f"query {self.name} needs parameter {param.name}", hint=f"add --param {param.name}=VALUE"
                )
            else:
                bound[param.name] = param.default
        return bound


def parse_assignments(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``NAME=VALUE`` strings as a dict; ``InputError`` for one without ``=``."""
    parsed = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InputError(f"parameter {pair!r} is not NAME=VALUE")
        parsed[name.strip()] = value
    return parsed


def _header(text: str, key: str, source: str) -> str:
    match = re.search(rf"^//\s*{key}:\s*(.*)$", text, re.MULTILINE)
    if not match:
        raise ValueError(f"saved query {source} has no '// {key}:' header")
    return match.group(1).strip()


def _parse_params(spec: str) -> tuple[QueryParam, ...]:
    params = []
    for name, kind, default in _PARAM.findall(spec):
        value = _TYPES[kind](json.loads(default)) if default else None
        params.append(QueryParam(name, kind, value))
    return tuple(params)


def parse_saved_query(text: str, source: str) -> SavedQuery:
    return SavedQuery(
        name=_header(text, "name", source),
        answers=_header(text, "answers", source),
        params=_parse_params(_header(text, "params", source)),
        text=text,
    )


def saved_queries() -> dict[str, SavedQuery]:
    """Every shipped saved query by name, in name order."""
    folder = resources.files("cosmo_kg.cypher").joinpath("queries")
    found = [
        parse_saved_query(f.read_text(encoding="utf-8"), f.name)
        for f in folder.iterdir()
        if f.name.endswith(".cypher")
    ]
    return {q.name: q for q in sorted(found, key=lambda q: q.name)}


def get_saved_query(name: str) -> SavedQuery:
    queries = saved_queries()
    if name not in queries:
        raise InputError(f"no saved query named {name!r}", hint="`cosmo-kg graph query --list` shows them")
    return queries[name]


def run_saved_query(
    driver: neo4j.Driver, query: SavedQuery, params: dict[str, Any], database: str = "neo4j"
) -> list[dict[str, Any]]:
    """Run a saved query in a READ session (starting from the writes recorded on this host) and
    return its rows as dicts."""
    try:
        after = neo4j.GraphDatabase.bookmark_manager(initial_bookmarks=recorded_bookmarks(driver, database))
        records, _, _ = driver.execute_query(
            query.text,
            params,
            database_=session_database(database),
            routing_=neo4j.RoutingControl.READ,
            bookmark_manager_=after,
        )
    except Neo4jError as exc:
        raise GraphError(f"query {query.name} failed: {exc.message}") from exc
    return [_plain(record.data()) for record in records]


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.iso_format() if hasattr(v, "iso_format") else v) for k, v in row.items()}
