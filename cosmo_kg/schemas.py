"""Parquet contracts of the stage files (SPEC §1) and a row validator that names reasons.

Each stage reads and writes these files; ``FileSchema.check_columns`` rejects a file that
is not what it claims to be, and ``split_rows`` sends every bad row to the rejects side
with the first reason that applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from cosmo_kg.errors import InputError
from cosmo_kg.files import reading

REASON_COLUMN = "reason"


@dataclass(frozen=True)
class FileSchema:
    """Column names and types of one stage file; ``required`` columns may not be null."""

    name: str
    columns: dict[str, pl.DataType]
    required: tuple[str, ...]

    def check_columns(self, frame: pl.LazyFrame | pl.DataFrame, source: str | Path) -> None:
        """Raise ``InputError`` if the file cannot be read or a required column is missing."""
        with reading(source, "Parquet file", hint=f"give the {self.name} file written by cosmo-kg"):
            present = set(frame.collect_schema().names())
        missing = [c for c in self.required if c not in present]
        if missing:
            raise InputError(
                f"{source}: not a {self.name} file, missing column(s) {', '.join(missing)}",
                hint=f"a {self.name} file has columns {', '.join(self.columns)}",
            )

    def conform(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """Add absent optional columns as nulls and cast every column to its contract type."""
        present = set(frame.collect_schema().names())
        return frame.select(
            (pl.col(name) if name in present else pl.lit(None)).cast(dtype, strict=False).alias(name)
            for name, dtype in self.columns.items()
        )

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.columns)


PRODUCTS = FileSchema(
    "products",
    {
        "product_id": pl.String(),
        "title": pl.String(),
        "product_type": pl.String(),
        "domain": pl.String(),
        "brand": pl.String(),
        "description": pl.String(),
        "popularity": pl.Float64(),
    },
    required=("product_id", "title"),
)

PAIRS = FileSchema(
    "pairs",
    {
        "behavior_id": pl.String(),
        "kind": pl.String(),
        "query": pl.String(),
        "product_id": pl.String(),
        "product_id_b": pl.String(),
        "domain": pl.String(),
        "product_type": pl.String(),
        "count": pl.Int64(),
        "weight": pl.Float64(),
    },
    required=("behavior_id", "kind", "product_id"),
)

CANDIDATES = FileSchema(
    "candidates",
    {
        "candidate_id": pl.String(),
        "behavior_id": pl.String(),
        "relation": pl.String(),
        "tail": pl.String(),
        "rank": pl.Int32(),
        "model": pl.String(),
        "prompt_version": pl.String(),
    },
    required=("candidate_id", "behavior_id", "relation", "tail"),
)

KNOWLEDGE = FileSchema(
    "knowledge",
    {
        "behavior_id": pl.String(),
        "kind": pl.String(),
        "query": pl.String(),
        "product_id": pl.String(),
        "product_id_b": pl.String(),
        "relation": pl.String(),
        "tail": pl.String(),
        "tail_type": pl.String(),
        "plausibility": pl.Float64(),
        "typicality": pl.Float64(),
        "support": pl.Int64(),
        "model": pl.String(),
        "run_id": pl.String(),
    },
    required=("kind", "product_id", "relation", "tail", "plausibility", "typicality"),
)

STAGE_FILES: dict[str, FileSchema] = {s.name: s for s in (PRODUCTS, PAIRS, CANDIDATES, KNOWLEDGE)}


@dataclass(frozen=True)
class RowRule:
    """A named check: ``bad`` is a boolean expression that is true for rejected rows."""

    reason: str
    bad: pl.Expr


def reason_expr(rules: Sequence[RowRule]) -> pl.Expr:
    """The first failing rule's reason, or null for a good row (null checks count as failing)."""
    if not rules:
        return pl.lit(None, dtype=pl.String()).alias(REASON_COLUMN)
    # Each rule yields a small number, named once at the end: a chain of text literals would
    # cost a whole text column per rule.
    names = list(dict.fromkeys(rule.reason for rule in rules))
    numbered = [
        (rule.bad.fill_null(True), pl.lit(names.index(rule.reason), dtype=pl.UInt16())) for rule in rules
    ]
    chain: Any = pl.when(numbered[0][0]).then(numbered[0][1])
    for bad, number in numbered[1:]:
        chain = chain.when(bad).then(number)
    return (
        chain.otherwise(None)
        .replace_strict(dict(enumerate(names)), return_dtype=pl.String())
        .alias(REASON_COLUMN)
    )


def split_rows(frame: pl.DataFrame, rules: Sequence[RowRule]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split into (good rows, rejected rows with a ``reason`` column)."""
    tagged = frame.with_columns(reason_expr(rules))
    good = tagged.filter(pl.col(REASON_COLUMN).is_null()).drop(REASON_COLUMN)
    rejected = tagged.filter(pl.col(REASON_COLUMN).is_not_null())
    return good, rejected


def reason_counts(rejected: pl.DataFrame) -> dict[str, int]:
    """Rejected rows per reason, most frequent first."""
    if rejected.is_empty():
        return {}
    counts = rejected.group_by(REASON_COLUMN).len().sort(["len", REASON_COLUMN], descending=[True, False])
    return dict(zip(counts[REASON_COLUMN].to_list(), counts["len"].to_list(), strict=True))
