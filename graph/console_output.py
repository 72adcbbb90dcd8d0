"""How console results look: aligned tables (rich), CSV or JSON lines; Neo4j values as JSON."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping
from typing import Any

from neo4j.graph import Node, Path, Relationship
from rich.console import Console
from rich.table import Table

from cosmo_kg.graph.console import SchemaReport, StatementResult


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


def cell(value: Any) -> str:
    """One value as table or CSV text (strings bare, everything else as JSON)."""
    plain = jsonable(value)
    if isinstance(plain, str):
        return plain
    return json.dumps(plain, ensure_ascii=False)


def summary_line(result: StatementResult) -> str:
    """``3 rows in 12 ms`` (and what a write changed, and when rows were cut)."""
    plural = "s" if result.total_rows != 1 else ""
    text = f"{result.total_rows:,} row{plural}" if result.columns else "done"
    if result.truncated:
        text += f" (first {len(result.rows):,} shown)"
    if result.counters:
        text += "; " + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in result.counters.items())
    return f"{text} in {result.seconds * 1000:,.0f} ms"


def render(result: StatementResult, fmt: str, console: Console) -> None:
    """Print ``result`` in ``fmt`` (table, csv, json); the summary line goes to stderr for csv
    and json so that their output stays machine-readable."""
    if fmt == "csv" and result.columns:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([cell(v) for v in row] for row in result.rows)
        console.out(buffer.getvalue(), end="", highlight=False)
    elif fmt == "json":
        for row in result.rows:
            line = json.dumps(dict(zip(result.columns, jsonable(row), strict=True)), ensure_ascii=False)
            console.out(line, highlight=False)
    elif result.columns:
        console.print(_table(result.columns, [[cell(v) for v in row] for row in result.rows]))
    if fmt == "table":
        console.print(f"[dim]{summary_line(result)}[/dim]")
    else:
        Console(stderr=True).print(f"[dim]{summary_line(result)}[/dim]")


def _table(columns: list[str], rows: list[list[str]], title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row, end_section=False)
    return table


def render_schema(schema: SchemaReport, console: Console) -> None:
    console.print(
        _table(["label", "nodes"], [[k, f"{v:,}"] for k, v in schema.labels.items()], "Node labels")
    )
    console.print(
        _table(
            ["relationship type", "count"],
            [[k, f"{v:,}"] for k, v in schema.relationship_types.items()],
            "Relationship types",
        )
    )
    for title, rows in (("Constraints", schema.constraints), ("Indexes", schema.indexes)):
        columns = list(rows[0]) if rows else ["(none)"]
        console.print(_table(columns, [[cell(r[c]) for c in columns] for r in rows], title))


def render_plan(plan: list[tuple[int, str, str, float]], console: Console) -> None:
    rows = [["  " * depth + name, details, f"{estimate:,.0f}"] for depth, name, details, estimate in plan]
    console.print(_table(["operator", "details", "estimated rows"], rows, "Plan"))


def print_rows(rows: list[dict[str, Any]], *, as_json: bool, title: str | None = None) -> None:
    """Print saved-query rows as a table (or JSON) on stdout."""
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    table = Table(title=title, title_justify="left")
    for column in rows[0] if rows else ["(no rows)"]:
        table.add_column(column, overflow="fold", max_width=60)
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    Console().print(table)
