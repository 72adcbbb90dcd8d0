"""Behaviour from raw events: search-buy and co-buy pairs derived per session, in bounded memory.

Events (``session_id, timestamp, action`` with ``product_id``, ``query``, ``order_id``) are
validated in one streaming pass that spreads good rows over session buckets on disk (each
session lands in exactly one bucket) and writes bad rows to the rejects file. Each bucket is
then processed alone, so memory follows the bucket size, not the log size:

- search-buy: a click on a product under a query (the click's own query, else the session's
  latest search) followed by a purchase of that product in the same session within the window;
  counted once per session;
- co-buy: products purchased in the same order (``order_id``), else the same session; counted
  once per basket. Baskets larger than ``max_basket`` (resellers, bulk orders) are skipped and
  counted in the report.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from cosmo_kg.ingest.rules import CLICK, PURCHASE, SEARCH
from cosmo_kg.ingest.store import CO_BUY_SCHEMA, SEARCH_BUY_SCHEMA
from cosmo_kg.schemas import REASON_COLUMN
from cosmo_kg.text import text_key_expr

EVENT_KEY = ["session_id", "timestamp", "action", "product_id", "query", "order_id"]
BUCKET = "bucket"


@dataclass(frozen=True)
class DeriveOptions:
    window_ms: int
    max_basket: int
    bucket_rows: int


@dataclass
class DeriveStats:
    """What the derivation saw, summed over buckets."""

    buckets: int = 0
    events: int = 0
    duplicates: int = 0
    clicks: int = 0
    purchases: int = 0
    search_buy_sessions: int = 0
    baskets: int = 0
    baskets_oversized: int = 0
    counts: dict[str, int] = field(default_factory=dict)


def bucket_count(estimated_rows: int, bucket_rows: int) -> int:
    return max(1, -(-estimated_rows // max(bucket_rows, 1)))


def spread(validated: pl.LazyFrame, buckets: int, bucket_dir: Path, rejects_path: Path,
           reject_columns: list[str]) -> None:
    """Stream good events into session buckets under ``bucket_dir`` and bad rows to ``rejects_path``."""
    shutil.rmtree(bucket_dir, ignore_errors=True)
    good = pl.col(REASON_COLUMN).is_null()
    to_buckets = (validated.filter(good)
                  .select(*EVENT_KEY, (pl.col("session_id").hash(0) % buckets).alias(BUCKET))
                  .sink_ipc(pl.PartitionBy(bucket_dir, key=BUCKET, include_key=False),
                            compression="lz4", mkdir=True, lazy=True))
    to_rejects = validated.filter(~good).select(reject_columns).sink_parquet(rejects_path, mkdir=True,
                                                                             lazy=True)
    pl.collect_all([to_buckets, to_rejects], engine="streaming")


def bucket_files(bucket_dir: Path) -> list[Path]:
    return sorted(bucket_dir.glob(f"{BUCKET}=*/*"))


def derive(bucket_dir: Path, options: DeriveOptions, duplicates_path: Path,
           on_bucket: Callable[[int, int], None] | None = None
           ) -> tuple[pl.DataFrame, pl.DataFrame, DeriveStats]:
    """Derive (search-buy counts, co-buy counts, stats) bucket by bucket."""
    stats = DeriveStats()
    search_buy, co_buy, duplicates = [], [], []
    files = bucket_files(bucket_dir)
    for number, path in enumerate(files, start=1):
        if on_bucket:
            on_bucket(number, len(files))
        events = pl.read_ipc(path)
        first = _first_occurrences(events)
        duplicates.append(events.filter(~first).with_columns(pl.lit("duplicate_row").alias(REASON_COLUMN)))
        events = events.filter(first).sort("session_id", "timestamp", maintain_order=True)
        stats.buckets += 1
        stats.events += events.height
        stats.duplicates += duplicates[-1].height
        search_buy.append(_search_buy(events, options.window_ms, stats))
        co_buy.append(_co_buy(events, options.max_basket, stats))
    pl.concat(duplicates or [pl.DataFrame()], how="diagonal_relaxed").write_parquet(duplicates_path)
    sb = _summed(search_buy, ["query", "product_id"], SEARCH_BUY_SCHEMA)
    cb = _summed(co_buy, ["product_id_a", "product_id_b"], CO_BUY_SCHEMA)
    stats.counts = {"search_buy_pairs": sb.height, "co_buy_pairs": cb.height}
    return sb, cb, stats


def _first_occurrences(events: pl.DataFrame) -> pl.Series:
    """True for the first of exactly equal events. A cheap 64-bit row hash finds candidates; only
    rows whose hash repeats are compared exactly, so a hash collision never drops an event."""
    row_hash = pl.reduce(lambda acc, h: acc * 1_000_003 ^ h,
                         [pl.col(c).hash(seed=i) for i, c in enumerate(EVENT_KEY)])
    candidate = events.select(row_hash.is_duplicated()).to_series()
    first = pl.Series(pl.repeat(True, events.height, eager=True))
    if candidate.any():
        exact = events.filter(candidate).select(pl.struct(EVENT_KEY).is_first_distinct()).to_series()
        first = first.scatter(candidate.arg_true(), exact)
    return first


def _summed(frames: list[pl.DataFrame], key: list[str], schema: pl.Schema) -> pl.DataFrame:
    if not frames:
        return pl.DataFrame(schema=schema)
    return pl.concat(frames).group_by(key).agg(pl.col("count").sum()).sort(key).cast(schema)


def _search_buy(events: pl.DataFrame, window_ms: int, stats: DeriveStats) -> pl.DataFrame:
    action, query = pl.col("action"), pl.col("query")
    # The query in force at each event: its own (search or click with a query), else the latest
    # one before it in the same session. Events are sorted by session, so a global forward fill
    # plus a check that the filled value came from the same session does it without a group-by.
    has_query = action.is_in([SEARCH, CLICK]) & query.is_not_null()
    with_context = events.with_columns(
        pl.when(has_query).then(query).forward_fill().alias("context"),
        pl.when(has_query).then(pl.col("session_id")).forward_fill().alias("context_session"),
    )
    clicks = with_context.filter((action == CLICK) & (pl.col("context_session") == pl.col("session_id")))
    buys = events.filter(action == PURCHASE).select("session_id", "product_id",
                                                    pl.col("timestamp").alias("bought_at"))
    stats.clicks += clicks.height
    stats.purchases += buys.height
    elapsed = (pl.col("bought_at") - pl.col("timestamp")).dt.total_milliseconds()
    matched = (clicks.select("session_id", "product_id", "timestamp", "context")
               .join(buys, on=["session_id", "product_id"])
               .filter((elapsed >= 0) & (elapsed <= window_ms))
               .select("session_id", text_key_expr("context").alias("query"), "product_id")
               .filter(pl.col("query") != "")
               .unique())
    stats.search_buy_sessions += matched.height
    return matched.group_by("query", "product_id").agg(pl.len().cast(pl.Int64()).alias("count"))


def _co_buy(events: pl.DataFrame, max_basket: int, stats: DeriveStats) -> pl.DataFrame:
    basket = (pl.when(pl.col("order_id").is_not_null()).then(pl.lit("o\x1f") + pl.col("order_id"))
              .otherwise(pl.lit("s\x1f") + pl.col("session_id")))
    items = (events.filter(pl.col("action") == PURCHASE)
             .select(basket.alias("basket"), "product_id").unique())
    sizes = items.group_by("basket").len()
    stats.baskets += sizes.height
    oversized = sizes.filter(pl.col("len") > max_basket)["basket"]
    stats.baskets_oversized += oversized.len()
    items = items.filter(~pl.col("basket").is_in(oversized.implode()))
    pairs = (items.join(items, on="basket", suffix="_b")
             .filter(pl.col("product_id") < pl.col("product_id_b")))
    return (pairs.group_by(pl.col("product_id").alias("product_id_a"), "product_id_b")
            .agg(pl.len().cast(pl.Int64()).alias("count")))
