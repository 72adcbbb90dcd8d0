"""Validation and normalisation of ingested rows: one column set and one rule list per input kind.

Rows arrive as text (see ``formats``); here they are normalised (NFKC, white space, lower-cased
query keys, canonical co-buy order) and every bad row gets the first reason that applies. The
rules are polars expressions, so they run inside the streaming scan.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from cosmo_kg.ingest.formats import PARSE_ERROR, ColumnSet
from cosmo_kg.schemas import REASON_COLUMN, RowRule, reason_expr
from cosmo_kg.text import clean_text_expr, text_key_expr
from cosmo_kg.vocabulary import BehaviorKind, normalize_domain_expr

PRODUCT_COLUMNS = ColumnSet(
    "products", ("product_id", "title"), ("product_type", "domain", "brand", "description", "popularity")
)
SEARCH_BUY_COLUMNS = ColumnSet("search-buy", ("query", "product_id"), ("count",))
CO_BUY_COLUMNS = ColumnSet(
    "co-buy", ("product_id_a", "product_id_b"), ("count",), aliases={"product_id": "product_id_a"}
)
EVENT_COLUMNS = ColumnSet(
    "events", ("session_id", "timestamp", "action"), ("product_id", "query", "order_id")
)

# Control characters (other than tab and line breaks) and U+FFFD, which the readers put where
# the bytes were not UTF-8: both mean the text was damaged before it reached us.
_DAMAGED = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F\x{FFFD}]"
_HAS_WORD = r"[\p{L}\p{N}]"

SEARCH = "search"
CLICK = "click"
PURCHASE = "purchase"
ACTION_ALIASES = {
    "search": SEARCH,
    "query": SEARCH,
    "click": CLICK,
    "view": CLICK,
    "purchase": PURCHASE,
    "buy": PURCHASE,
    "order": PURCHASE,
}
# One byte per event in the session buckets instead of the action's text.
ACTION_TYPE = pl.Enum([SEARCH, CLICK, PURCHASE])


@dataclass(frozen=True)
class TextLimits:
    """Bounds beyond which a value is absurd rather than text."""

    max_id_chars: int = 128
    max_query_chars: int = 200
    max_title_chars: int = 1000
    max_description_chars: int = 20_000
    max_count: int = 1_000_000_000


def behavior_id(kind: BehaviorKind, members: Sequence[str | None]) -> str:
    """Stable id of a behaviour: hash of its kind and normalised members (co-buy in canonical order)."""
    text = "\x1f".join([kind.value, *(m or "" for m in members)])
    return hashlib.blake2b(text.encode("utf-8"), digest_size=10).hexdigest()


def behavior_id_column(kind: BehaviorKind, first: pl.Series, second: pl.Series) -> pl.Series:
    """``behavior_id`` for aligned member columns (query/product or product/product)."""
    # The text to hash is built by polars; only the hash itself runs per row in Python.
    texts = pl.select(
        pl.concat_str(
            [pl.lit(kind.value), pl.lit(first).fill_null(""), pl.lit(second).fill_null("")], separator="\x1f"
        ).cast(pl.Binary())
    ).to_series()
    blake2b = hashlib.blake2b
    return pl.Series(
        "behavior_id",
        [blake2b(text, digest_size=10).hexdigest() for text in texts.to_list()],
        dtype=pl.String(),
    )


def _blank(column: str) -> pl.Expr:
    return pl.col(column).is_null() | (pl.col(column) == "")


def _damaged(columns: Sequence[str]) -> pl.Expr:
    return pl.any_horizontal(pl.col(c).str.contains(_DAMAGED).fill_null(False) for c in columns)


def _too_long(column: str, limit: int) -> pl.Expr:
    return (pl.col(column).str.len_chars() > limit).fill_null(False)


def _absurd_text(column: str, limit: int) -> pl.Expr:
    return (pl.col(column).str.len_chars() > limit) | ~pl.col(column).str.contains(_HAS_WORD)


def _text(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.String(), strict=False)


def with_reasons(frame: pl.LazyFrame, rules: Sequence[RowRule]) -> pl.LazyFrame:
    """Add the ``reason`` column: the reader's parse error, else the first failing rule."""
    return frame.with_columns(pl.coalesce(pl.col(PARSE_ERROR), reason_expr(rules)).alias(REASON_COLUMN))


def mark_duplicates(
    frame: pl.LazyFrame, key: Sequence[str], values: Sequence[str], conflict_reason: str
) -> pl.LazyFrame:
    """Among rows still good, a repeated key is a ``duplicate_row`` (same ``values`` too) or a
    ``conflict_reason`` (different values); the first occurrence wins."""
    good = pl.col(REASON_COLUMN).is_null()
    same_row = ~pl.struct(*key, *values).is_first_distinct().over(good)
    same_key = ~pl.struct(*key).is_first_distinct().over(good)
    return frame.with_columns(
        pl.when(~good)
        .then(pl.col(REASON_COLUMN))
        .when(same_row)
        .then(pl.lit("duplicate_row"))
        .when(same_key)
        .then(pl.lit(conflict_reason))
        .otherwise(None)
        .alias(REASON_COLUMN)
    )


def product_columns() -> list[pl.Expr]:
    return [
        clean_text_expr(_text("product_id")).alias("product_id"),
        clean_text_expr(_text("title")).alias("title"),
        clean_text_expr(_text("product_type")).replace("", None).alias("product_type"),
        normalize_domain_expr(_text("domain")).alias("domain"),
        clean_text_expr(_text("brand")).replace("", None).alias("brand"),
        clean_text_expr(_text("description")).replace("", None).alias("description"),
        _text("popularity").alias("popularity_raw"),
        _text("popularity").str.strip_chars().cast(pl.Float64(), strict=False).alias("popularity"),
    ]


def product_rules(limits: TextLimits) -> list[RowRule]:
    popularity = pl.col("popularity")
    return [
        RowRule("missing_product_id", _blank("product_id")),
        RowRule("bad_encoding", _damaged(["product_id", "title", "product_type", "brand", "description"])),
        RowRule("bad_product_id", _too_long("product_id", limits.max_id_chars)),
        RowRule("missing_title", _blank("title")),
        RowRule("absurd_title", _absurd_text("title", limits.max_title_chars)),
        RowRule(
            "text_too_long",
            _too_long("description", limits.max_description_chars)
            | _too_long("product_type", limits.max_query_chars)
            | _too_long("brand", limits.max_query_chars),
        ),
        RowRule(
            "bad_popularity",
            pl.col("popularity_raw").is_not_null()
            & (popularity.is_null() | popularity.is_nan() | (popularity < 0)),
        ),
    ]


def count_expr(has_count: bool) -> pl.Expr:
    """The count column as Int64; a file without one is one row per event (count 1)."""
    if not has_count:
        return pl.lit(1, dtype=pl.Int64()).alias("count")
    return _text("count").str.strip_chars().str.to_integer(strict=False).alias("count")


def _count_rules(has_count: bool, limits: TextLimits) -> list[RowRule]:
    if not has_count:
        return []
    count = pl.col("count")
    return [RowRule("bad_count", count.is_null() | (count < 1) | (count > limits.max_count))]


def _unknown(columns: Sequence[str], catalog: pl.Series | None) -> list[RowRule]:
    if catalog is None:
        return []
    known = catalog.implode()
    return [RowRule("unknown_product", pl.any_horizontal(~pl.col(c).is_in(known) for c in columns))]


def search_buy_columns(has_count: bool) -> list[pl.Expr]:
    return [
        text_key_expr(_text("query")).alias("query"),
        clean_text_expr(_text("product_id")).alias("product_id"),
        count_expr(has_count),
    ]


def search_buy_rules(has_count: bool, limits: TextLimits, catalog: pl.Series | None) -> list[RowRule]:
    return [
        RowRule("missing_product_id", _blank("product_id")),
        RowRule("missing_query", _blank("query")),
        RowRule("bad_encoding", _damaged(["query", "product_id"])),
        RowRule("bad_product_id", _too_long("product_id", limits.max_id_chars)),
        RowRule("absurd_query", _absurd_text("query", limits.max_query_chars)),
        *_count_rules(has_count, limits),
        *_unknown(["product_id"], catalog),
    ]


def co_buy_columns(has_count: bool) -> list[pl.Expr]:
    a = clean_text_expr(_text("product_id_a"))
    b = clean_text_expr(_text("product_id_b"))
    in_order = b.is_null() | (a <= b)
    return [
        pl.when(in_order).then(a).otherwise(b).alias("product_id_a"),
        pl.when(in_order).then(b).otherwise(a).alias("product_id_b"),
        count_expr(has_count),
    ]


def co_buy_rules(has_count: bool, limits: TextLimits, catalog: pl.Series | None) -> list[RowRule]:
    return [
        RowRule("missing_product_id", _blank("product_id_a") | _blank("product_id_b")),
        RowRule("bad_encoding", _damaged(["product_id_a", "product_id_b"])),
        RowRule(
            "bad_product_id",
            _too_long("product_id_a", limits.max_id_chars) | _too_long("product_id_b", limits.max_id_chars),
        ),
        RowRule("self_pair", pl.col("product_id_a") == pl.col("product_id_b")),
        *_count_rules(has_count, limits),
        *_unknown(["product_id_a", "product_id_b"], catalog),
    ]


def timestamp_expr(dtype: pl.DataType) -> pl.Expr:
    """Event time as naive UTC milliseconds from a datetime, epoch seconds/ms, or ISO 8601 text."""
    column = pl.col("timestamp")
    if dtype.is_temporal():
        return column.cast(pl.Datetime("ms"), strict=False)
    text = _text("timestamp").str.strip_chars()
    number = text.str.to_integer(strict=False)
    return pl.coalesce(
        pl.when(number < 100_000_000_000).then(number * 1000).otherwise(number).cast(pl.Datetime("ms")),
        text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%#z", strict=False, time_unit="ms")
        .dt.convert_time_zone("UTC")
        .dt.replace_time_zone(None),
        text.str.replace("T", " ", literal=True).str.to_datetime(
            "%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="ms"
        ),
    )


def event_columns(timestamp_dtype: pl.DataType) -> list[pl.Expr]:
    return [
        _text("session_id").str.strip_chars().alias("session_id"),
        timestamp_expr(timestamp_dtype).alias("timestamp"),
        _text("action")
        .str.strip_chars()
        .str.to_lowercase()
        .replace_strict(ACTION_ALIASES, default=None, return_dtype=ACTION_TYPE)
        .alias("action"),
        _text("product_id").str.strip_chars().alias("product_id"),
        _text("query").alias("query"),
        _text("order_id").str.strip_chars().alias("order_id"),
    ]


def event_rules(limits: TextLimits, catalog: pl.Series | None) -> list[RowRule]:
    action = pl.col("action")
    needs_product = action.is_in([CLICK, PURCHASE])
    query_given = pl.col("query").is_not_null() & (pl.col("query").str.strip_chars() != "")
    rules = [
        RowRule("missing_session_id", _blank("session_id")),
        RowRule("bad_timestamp", pl.col("timestamp").is_null()),
        RowRule("unknown_action", action.is_null()),
        RowRule("missing_product_id", needs_product & _blank("product_id")),
        RowRule("missing_query", (action == SEARCH) & ~query_given),
        RowRule("bad_encoding", _damaged(["product_id", "query"])),
        RowRule("bad_product_id", _too_long("product_id", limits.max_id_chars)),
        RowRule("absurd_query", query_given & _absurd_text("query", limits.max_query_chars)),
    ]
    if catalog is not None:
        known = catalog.implode()
        rules.append(RowRule("unknown_product", needs_product & ~pl.col("product_id").is_in(known)))
    return rules
