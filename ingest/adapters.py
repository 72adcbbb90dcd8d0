"""Adapters for public formats: they read a file as published and yield our columns.

Each adapter returns the same shape as the generic readers (text columns, ``row_nr``,
``parse_error``), so the same validation rules and rejects apply:

- ``folkscope`` (co-buy): FolkScope annotation CSV, two items per row (columns ``*_1``, ``*_2``);
- ``intentionqa`` (co-buy): IntentionQA JSON Lines, one co-buy pair with titles per line;
- ``wands`` (search-buy): WANDS ``query.csv`` (tab-separated ``query_id, query, query_class``);
  each query is paired with the catalog products whose ``product_type`` is its query class.

An annotation file is not a purchase log: a pair counts 1 each time it appears, and a pair seen
again (another relation, another assertion) is a ``duplicate_row`` in the rejects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from cosmo_kg.errors import InputError
from cosmo_kg.ingest.formats import (
    PARSE_ERROR,
    ROW_NR,
    ColumnSet,
    Format,
    SourceSpec,
    check_source,
    scan,
)
from cosmo_kg.ingest.rules import CO_BUY_COLUMNS, PRODUCT_COLUMNS, SEARCH_BUY_COLUMNS


@dataclass(frozen=True)
class AdapterOutput:
    """Pairs in the columns of the adapter's kind, and the products the file describes (if any)."""

    pairs: pl.LazyFrame
    products: pl.LazyFrame | None


@dataclass(frozen=True)
class Adapter:
    name: str
    kind: str
    fmt: Format
    description: str
    read: Callable[[Path, pl.Series | None, pl.LazyFrame], AdapterOutput]


def _text_product(id_col: str, title_col: str, domain_col: str | None) -> pl.Expr:
    return pl.struct(
        pl.col(id_col).alias("product_id"),
        pl.col(title_col).alias("title"),
        (pl.col(domain_col) if domain_col else pl.lit(None, dtype=pl.String())).alias("domain"),
    )


def _products_of(frame: pl.LazyFrame, slots: list[tuple[str, str, str | None]]) -> pl.LazyFrame:
    items = pl.concat([frame.select(_text_product(*slot).alias("item")).unnest("item") for slot in slots])
    missing = [c for c in PRODUCT_COLUMNS.names if c not in ("product_id", "title", "domain")]
    return (
        items.filter(pl.col("product_id").is_not_null())
        .unique("product_id", keep="first", maintain_order=True)
        .with_row_index(ROW_NR, offset=1)
        .with_columns(
            pl.col(ROW_NR).cast(pl.Int64()),
            *(pl.lit(None, dtype=pl.String()).alias(c) for c in missing),
            pl.lit(None, dtype=pl.String()).alias(PARSE_ERROR),
        )
    )


def _pairs_of(frame: pl.LazyFrame, slots: list[tuple[str, str]]) -> pl.LazyFrame:
    return pl.concat(
        [
            frame.select(
                pl.col(ROW_NR).cast(pl.Int64()),
                pl.col(a).alias("product_id_a"),
                pl.col(b).alias("product_id_b"),
                pl.lit("1").alias("count"),
                pl.lit(None, dtype=pl.String()).alias(PARSE_ERROR),
            )
            for a, b in slots
        ]
    )


def _checked_scan(spec: SourceSpec, columns: tuple[str, ...]) -> pl.LazyFrame:
    wanted = ColumnSet(spec.path.name, columns)
    renames = check_source(spec, wanted)
    return scan(spec, spec.path, renames, wanted)


def read_folkscope(path: Path, catalog: pl.Series | None, _: pl.LazyFrame) -> AdapterOutput:
    slots = ("1", "2")
    columns = tuple(
        f"{c}_{s}"
        for s in slots
        for c in ("id_a", "id_b", "Product_a", "Product_b", "item_a_cate", "item_b_cate")
    )
    frame = _checked_scan(SourceSpec(path, fmt=Format.CSV), columns)
    products = _products_of(
        frame,
        [
            (f"id_{side}_{s}", f"Product_{side}_{s}", f"item_{side}_cate_{s}")
            for s in slots
            for side in ("a", "b")
        ],
    )
    return AdapterOutput(_pairs_of(frame, [(f"id_a_{s}", f"id_b_{s}") for s in slots]), products)


def read_intentionqa(path: Path, catalog: pl.Series | None, _: pl.LazyFrame) -> AdapterOutput:
    columns = ("item_a_id", "item_b_id", "item_a_name", "item_b_name")
    frame = _checked_scan(SourceSpec(path, fmt=Format.JSONL), columns)
    products = _products_of(frame, [("item_a_id", "item_a_name", None), ("item_b_id", "item_b_name", None)])
    pairs = frame.select(
        pl.col(ROW_NR),
        pl.col("item_a_id").alias("product_id_a"),
        pl.col("item_b_id").alias("product_id_b"),
        pl.lit("1").alias("count"),
        pl.col(PARSE_ERROR),
    )
    return AdapterOutput(pairs, products)


def read_wands(path: Path, catalog: pl.Series | None, products: pl.LazyFrame) -> AdapterOutput:
    if catalog is None:
        raise InputError(
            "the wands adapter pairs each query with catalog products of its query class, "
            "but no catalog was ingested",
            hint="ingest products first, e.g. cosmo-kg ingest products wands_products.parquet",
        )
    frame = _checked_scan(SourceSpec(path, fmt=Format.TSV), ("query", "query_class"))
    by_class = products.select(pl.col("product_type").str.to_lowercase().alias("class_key"), "product_id")
    pairs = (
        frame.with_columns(pl.col("query_class").str.strip_chars().str.to_lowercase().alias("class_key"))
        .join(by_class, on="class_key", how="left", maintain_order="left")
        .select(
            pl.col(ROW_NR),
            "query",
            "product_id",
            pl.lit("1").alias("count"),
            pl.coalesce(
                pl.col(PARSE_ERROR),
                pl.when(pl.col("product_id").is_null()).then(pl.lit("no_product_for_query_class")),
            ).alias(PARSE_ERROR),
        )
    )
    return AdapterOutput(pairs, None)


ADAPTERS: dict[str, Adapter] = {
    a.name: a
    for a in (
        Adapter(
            "folkscope",
            CO_BUY_COLUMNS.kind,
            Format.CSV,
            "FolkScope co-buy annotation CSV (two items per row)",
            read_folkscope,
        ),
        Adapter(
            "intentionqa",
            CO_BUY_COLUMNS.kind,
            Format.JSONL,
            "IntentionQA JSON Lines (co-buy pairs with titles)",
            read_intentionqa,
        ),
        Adapter(
            "wands",
            SEARCH_BUY_COLUMNS.kind,
            Format.TSV,
            "WANDS query.csv, paired with catalog products by query class",
            read_wands,
        ),
    )
}


def adapter(name: str, kind: str) -> Adapter:
    """Look up an adapter for one input kind; raise ``InputError`` naming the valid ones."""
    found = ADAPTERS.get(name)
    if found is None or found.kind != kind:
        valid = [a.name for a in ADAPTERS.values() if a.kind == kind]
        raise InputError(f"no {kind} adapter named {name!r}", hint=f"use one of: {', '.join(valid)}")
    return found
