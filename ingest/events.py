"""Behaviour from raw events: search-buy and co-buy pairs derived per session, in bounded memory.

Events (``session_id, timestamp, action`` with ``product_id``, ``query``, ``order_id``) are read
in chunks of at most ``chunk_rows`` rows. Each chunk is validated in memory; its bad rows go to a
rejects part and its good rows are spread over session buckets on disk (each session lands in
exactly one bucket, by a hash of its id). Each bucket is then processed alone, so memory follows
the chunk and bucket sizes, never the log size; the next chunk or bucket is read in a thread
while the current one is written or derived:

- search-buy: a click on a product under a query (the click's own query, else the session's
  latest search) followed by a purchase of that product in the same session within the window;
  counted once per session;
- co-buy: products purchased in the same order (``order_id``), else the same session; counted
  once per basket. Baskets larger than ``max_basket`` (resellers, bulk orders) are skipped and
  counted in the report.

Sessions are joined across the files of one ingest (``cosmo-kg ingest events day1 day2 …``),
which are read as one log: a click in one file and its purchase in the next pair, and ties in
time keep the log order (file order, then row order; see ``sources.py``). Separately ingested
increments are still derived apart: a session split between two ingests is derived as two.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import polars as pl

from cosmo_kg.ingest.formats import ROW_NR
from cosmo_kg.ingest.rules import CLICK, PURCHASE, SEARCH
from cosmo_kg.ingest.store import CO_BUY_SCHEMA, SEARCH_BUY_SCHEMA
from cosmo_kg.schemas import REASON_COLUMN
from cosmo_kg.text import text_key_expr

EVENT_KEY = ["session_id", "timestamp", "action", "product_id", "query", "order_id"]
BUCKET = "bucket"
SESSION_NR = "session_nr"
SESSION_SEED = 0
T = TypeVar("T")


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


def spread_chunk(
    validated: pl.DataFrame,
    number: int,
    buckets: int,
    bucket_dir: Path,
    rejects_dir: Path,
    rejects_view: Callable[[pl.LazyFrame], pl.LazyFrame],
) -> dict[str | None, int]:
    """Write one validated chunk: good events into session buckets, bad rows into a rejects part.

    Returns the rows of the chunk per reason (``None``: good rows).
    """
    reasons = validated.get_column(REASON_COLUMN)
    rejected = reasons.drop_nulls()
    if rejected.len():
        rejects_dir.mkdir(parents=True, exist_ok=True)
        rejects_view(validated.lazy()).collect().write_ipc(rejects_dir / f"{number:06d}.ipc")
    for bucket_nr, part in _good_by_bucket(validated, buckets):
        folder = bucket_dir / f"{bucket_nr:06d}"
        folder.mkdir(parents=True, exist_ok=True)
        part.write_ipc(folder / f"{number:06d}.ipc")
    counts: dict[str | None, int] = dict(rejected.value_counts().iter_rows())
    return {None: validated.height - rejected.len(), **counts}


def _good_by_bucket(validated: pl.DataFrame, buckets: int) -> list[tuple[int, pl.DataFrame]]:
    good = pl.col(REASON_COLUMN).is_null()
    if buckets == 1:
        return [(0, validated.select(ROW_NR, *EVENT_KEY).filter(validated.select(good).to_series()))]
    # Bad rows fall in a null bucket, so one partition both drops them and spreads the rest.
    bucket = pl.when(good).then(pl.col("session_id").hash(SESSION_SEED) % buckets).alias(BUCKET)
    parts = validated.select(ROW_NR, *EVENT_KEY, bucket).partition_by(BUCKET, as_dict=True, include_key=False)
    return [(int(key[0]), part) for key, part in parts.items() if key[0] is not None]


def read_ahead(load: Callable[[int], T], last: Callable[[int, T], bool]) -> Iterator[T]:
    """``load(0)``, ``load(1)``, … up to the one ``last`` says ends it; each is loaded in a thread
    while the caller works on the one before (polars releases the GIL), so the two overlap and at
    most two are in memory."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        number, pending = 0, pool.submit(load, 0)
        while True:
            item = pending.result()
            done = last(number, item)
            if not done:
                pending = pool.submit(load, number + 1)
            yield item
            if done:
                return
            number += 1


def reset(*folders: Path) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def bucket_files(bucket_dir: Path) -> list[list[Path]]:
    """The files of each bucket, in chunk order."""
    return [sorted(folder.glob("*.ipc")) for folder in sorted(bucket_dir.glob("*")) if folder.is_dir()]


def derive(
    bucket_dir: Path,
    options: DeriveOptions,
    duplicates_path: Path,
    on_bucket: Callable[[int, int], None] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, DeriveStats]:
    """Derive (search-buy counts, co-buy counts, stats) bucket by bucket."""
    stats = DeriveStats()
    search_buy, co_buy, duplicates = [], [], []
    buckets = bucket_files(bucket_dir)
    ordered = (
        read_ahead(
            lambda number: sessions_in_order(_read_once(buckets[number])),
            last=lambda number, _: number == len(buckets) - 1,
        )
        if buckets
        else iter([])
    )
    for number, bucket in enumerate(ordered, start=1):
        if on_bucket:
            on_bucket(number, len(buckets))
        events, repeated = _without_repeats(bucket)
        duplicates.append(repeated)
        stats.buckets += 1
        stats.events += events.height
        stats.duplicates += repeated.height
        search_buy.append(search_buy_counts(events, options.window_ms, stats))
        co_buy.append(co_buy_counts(events, options.max_basket, stats))
    pl.concat(duplicates or [pl.DataFrame()], how="diagonal_relaxed").write_parquet(duplicates_path)
    sb = _summed(search_buy, ["query", "product_id"], SEARCH_BUY_SCHEMA)
    cb = _summed(co_buy, ["product_id_a", "product_id_b"], CO_BUY_SCHEMA)
    stats.counts = {"search_buy_pairs": sb.height, "co_buy_pairs": cb.height}
    return sb, cb, stats


def _read_once(files: list[Path]) -> pl.DataFrame:
    # Removed as soon as read: the disk space is back early, and the removal overlaps the work.
    events = pl.scan_ipc(files).collect()
    for path in files:
        path.unlink()
    return events


def _without_repeats(events: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(events without exact repeats, the repeats as ``duplicate_row`` rejects)."""
    first = first_occurrences(events)
    repeated = (
        events.filter(~first).drop(SESSION_NR).with_columns(pl.lit("duplicate_row").alias(REASON_COLUMN))
    )
    return (events if repeated.is_empty() else events.filter(first)), repeated


def sessions_in_order(events: pl.DataFrame) -> pl.DataFrame:
    """Events sorted by session, time and log order (``row_nr``), numbered per session.

    The number (``session_nr``) replaces the session text in later joins. Sorting by a hash of
    the session text is much cheaper than by the text; two sessions sharing a hash would
    interleave, which the count of text changes reveals, and then the text decides.
    """
    hashed = events.with_columns(pl.col("session_id").hash(SESSION_SEED).alias(SESSION_NR))
    ordered = _numbered(_ordered(hashed, SESSION_NR), SESSION_NR)
    if ordered.height and ordered[SESSION_NR][-1] != ordered.select(_starts("session_id").sum()).item():
        ordered = _numbered(_ordered(events, "session_id"), "session_id")
    return ordered


def _ordered(events: pl.DataFrame, session: str) -> pl.DataFrame:
    # A stable sort by session keeps the log order within each session, which for a log written
    # in time order (the usual case) is already time order; otherwise sort by time too.
    if events[ROW_NR].is_sorted():
        by_session = events.sort(session, maintain_order=True)
        in_time = (pl.col("timestamp") >= pl.col("timestamp").shift(1)) | _starts(session)
        if by_session.select(in_time.all()).item():
            return by_session
    return events.sort(session, "timestamp", ROW_NR)


def _starts(column: str) -> pl.Expr:
    return pl.col(column).ne_missing(pl.col(column).shift(1))


def _numbered(ordered: pl.DataFrame, session: str) -> pl.DataFrame:
    # Sessions are contiguous in ``ordered``, so a change of key starts the next number.
    return ordered.with_columns(_starts(session).cum_sum().cast(pl.UInt32()).alias(SESSION_NR))


def first_occurrences(events: pl.DataFrame) -> pl.Series:
    """True for the first of exactly equal events (``events`` in session order).

    Equal events share session and time, so they sit in one run of rows with the same
    (session, time); only rows of runs longer than one are compared column by column.
    """
    same_moment = (pl.col(SESSION_NR) == pl.col(SESSION_NR).shift(1)) & (
        pl.col("timestamp") == pl.col("timestamp").shift(1)
    )
    candidate = events.select((same_moment | same_moment.shift(-1)).fill_null(False)).to_series()
    first = pl.Series(pl.repeat(True, events.height, eager=True))
    if candidate.any():
        exact = events.filter(candidate).select(pl.struct(EVENT_KEY).is_first_distinct()).to_series()
        first = first.scatter(candidate.arg_true(), exact)
    return first


def _summed(frames: list[pl.DataFrame], key: list[str], schema: pl.Schema) -> pl.DataFrame:
    if not frames:
        return pl.DataFrame(schema=schema)
    # Unsorted: the store's merged views sort, and sorting here cost more than the sum.
    return pl.concat(frames).group_by(key).agg(pl.col("count").sum()).cast(schema)


def search_buy_counts(events: pl.DataFrame, window_ms: int, stats: DeriveStats) -> pl.DataFrame:
    """(query, product_id, count) of one bucket, ``events`` from ``sessions_in_order``."""
    action, session = pl.col("action"), pl.col(SESSION_NR)
    # The query in force at each event: its own (search or click with a query), else the latest
    # one before it in the same session. Events are sorted by session, so a global forward fill
    # of the row that carries it, plus a check that this row is in the same session, does it
    # without a group-by; the text is looked up only for the matches.
    has_query = action.is_in([SEARCH, CLICK]) & pl.col("query").is_not_null()
    clicks = events.select(
        SESSION_NR,
        "product_id",
        "timestamp",
        (action == CLICK).alias("is_click"),
        pl.when(has_query)
        .then(pl.int_range(pl.len(), dtype=pl.UInt32()))
        .forward_fill()
        .alias("context_row"),
        pl.when(has_query).then(session).forward_fill().alias("context_session"),
    ).filter(pl.col("is_click") & (pl.col("context_session") == session))
    buys = (
        events.select(SESSION_NR, "product_id", pl.col("timestamp").alias("bought_at"), action)
        .filter(action == PURCHASE)
        .drop("action")
    )
    stats.clicks += clicks.height
    stats.purchases += buys.height
    elapsed = (pl.col("bought_at") - pl.col("timestamp")).dt.total_milliseconds()
    matched = (
        clicks.join(buys, on=[SESSION_NR, "product_id"])
        .filter((elapsed >= 0) & (elapsed <= window_ms))
        .select(SESSION_NR, "context_row", "product_id")
        .unique()
    )
    contexts = matched.with_columns(events["query"].gather(matched["context_row"]).alias("context"))
    # Queries repeat a lot: normalise each distinct text once (NFKC is the costly part).
    keys = contexts.select(pl.col("context").unique()).with_columns(text_key_expr("context").alias("query"))
    keyed = (
        contexts.join(keys, on="context")
        .select(SESSION_NR, "query", "product_id")
        .filter(pl.col("query") != "")
        .unique()
    )
    stats.search_buy_sessions += keyed.height
    return keyed.group_by("query", "product_id").agg(pl.len().cast(pl.Int64()).alias("count"))


def co_buy_counts(events: pl.DataFrame, max_basket: int, stats: DeriveStats) -> pl.DataFrame:
    """(product_id_a, product_id_b, count) of one bucket, ``events`` from ``sessions_in_order``."""
    # A basket is its order, else its session, numbered: sessions keep their number and orders
    # follow (numbers join faster than text).
    purchases = events.select("order_id", SESSION_NR, "product_id", "action").filter(
        pl.col("action") == PURCHASE
    )
    after_sessions = int(events[SESSION_NR].max() or 0)  # type: ignore[arg-type]
    basket = (
        pl.when(pl.col("order_id").is_null())
        .then(pl.col(SESSION_NR).cast(pl.UInt64()))
        .otherwise(pl.col("order_id").rank("dense").cast(pl.UInt64()) + after_sessions)
        .alias("basket")
    )
    items = purchases.select(basket, "product_id").unique()
    sizes = items.group_by("basket").len("size")
    stats.baskets += sizes.height
    stats.baskets_oversized += sizes.filter(pl.col("size") > max_basket).height
    paired = sizes.filter((pl.col("size") > 1) & (pl.col("size") <= max_basket))
    items = items.join(paired, on="basket", how="semi")
    pairs = items.join(items, on="basket", suffix="_b").filter(pl.col("product_id") < pl.col("product_id_b"))
    return pairs.group_by(pl.col("product_id").alias("product_id_a"), "product_id_b").agg(
        pl.len().cast(pl.Int64()).alias("count")
    )
