"""A synthetic shop event log with realistic skew, for the ingest benchmark.

Products and queries follow Zipf laws (a few best sellers, a long tail), sessions have
geometric lengths, most purchases follow a click on the same product (so search-buy pairs
exist), and a small share of rows is broken on purpose (missing ids, bad timestamps, unknown
actions) so validation does real work.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from cosmo_kg.vocabulary import DOMAINS

ACTIONS = np.array(["search", "click", "purchase", "add_to_cart"])
WORDS = np.array(
    [
        "red",
        "blue",
        "kids",
        "outdoor",
        "wireless",
        "leather",
        "small",
        "large",
        "organic",
        "steel",
        "wooden",
        "waterproof",
        "cotton",
        "portable",
        "vintage",
        "smart",
    ]
)
NOUNS = np.array(
    [
        "tent",
        "lamp",
        "chair",
        "jacket",
        "shoes",
        "mug",
        "backpack",
        "speaker",
        "desk",
        "blanket",
        "watch",
        "bottle",
        "puzzle",
        "leash",
        "drill",
        "pan",
    ]
)


def _zipf(rng: np.random.Generator, size: int, n: int, a: float) -> np.ndarray:
    return (rng.zipf(a, size) - 1) % n


def catalog(n_products: int, seed: int = 7) -> pl.DataFrame:
    """Products with a product type (Zipf over 400 types) and a domain."""
    rng = np.random.default_rng(seed)
    frame = pl.DataFrame({"i": np.arange(n_products), "t": _zipf(rng, n_products, 400, 1.3)})
    return frame.select(
        pl.format("P{}", pl.col("i").cast(pl.String).str.zfill(7)).alias("product_id"),
        pl.format(
            "{} {} model {}", _pick(WORDS, pl.col("i") % 16), _pick(NOUNS, pl.col("t") % 16), pl.col("i")
        ).alias("title"),
        pl.format("type-{}", pl.col("t")).alias("product_type"),
        _pick(np.array(DOMAINS), pl.col("t") % len(DOMAINS)).alias("domain"),
    )


def _pick(values: np.ndarray, index: pl.Expr) -> pl.Expr:
    return index.replace_strict(dict(enumerate(values.tolist())), return_dtype=pl.String())


def events(n_events: int, n_products: int, seed: int = 11) -> pl.DataFrame:
    """``n_events`` rows of session_id, timestamp, action, product_id, query, order_id."""
    rng = np.random.default_rng(seed)
    lengths = rng.geometric(1 / 8, n_events // 4 + 1)
    session = np.repeat(np.arange(lengths.size), lengths)[:n_events]
    starts = rng.integers(1_714_521_600_000, 1_714_608_000_000, lengths.size)
    gaps = rng.exponential(45_000, n_events).astype(np.int64)
    first = np.r_[True, session[1:] != session[:-1]]
    offset = np.cumsum(gaps) - np.maximum.accumulate(np.where(first, np.cumsum(gaps), 0))
    action = rng.choice(4, n_events, p=[0.33, 0.47, 0.15, 0.05])
    product = _zipf(rng, n_events, n_products, 1.15)
    after_click = np.r_[False, (action[:-1] == 1) & ~first[1:]]
    follows_click = after_click & (action == 2) & (rng.random(n_events) < 0.7)
    product = np.where(follows_click, np.r_[0, product[:-1]], product)
    has_query = (action == 0) | ((action == 1) & (rng.random(n_events) < 0.4))
    broken = rng.random(n_events)
    frame = pl.DataFrame(
        {
            "session": session,
            "timestamp": starts[session] + offset,
            "action": action,
            "product": product,
            "query_id": _zipf(rng, n_events, 60_000, 1.1),
            "has_query": has_query,
            "broken": broken,
        }
    )
    q = pl.col("query_id")
    return frame.select(
        pl.when(pl.col("broken") < 0.001)
        .then(None)
        .otherwise(pl.format("s{}", pl.col("session")))
        .alias("session_id"),
        pl.when((pl.col("broken") >= 0.001) & (pl.col("broken") < 0.002))
        .then(None)
        .otherwise(pl.col("timestamp"))
        .cast(pl.Datetime("ms"))
        .alias("timestamp"),
        _pick(ACTIONS, pl.col("action")).alias("action"),
        pl.when(pl.col("action") == 0)
        .then(None)
        .otherwise(pl.format("P{}", pl.col("product").cast(pl.String).str.zfill(7)))
        .alias("product_id"),
        pl.when(pl.col("has_query"))
        .then(pl.format("{} {} {}", _pick(WORDS, q % 16), _pick(NOUNS, (q // 16) % 16), q // 256))
        .alias("query"),
        pl.lit(None, dtype=pl.String()).alias("order_id"),
    )


def write_events(path: Path, n_events: int, n_products: int, seed: int = 11) -> Path:
    """Write the log as Parquet in slices of 2M events (bounded memory while generating)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    slices = []
    step = 2_000_000
    for number, start in enumerate(range(0, n_events, step)):
        part = path.with_name(f"{path.stem}.part{number}.parquet")
        events(min(step, n_events - start), n_products, seed + number).with_columns(
            (pl.lit(f"d{number}-") + pl.col("session_id")).alias("session_id")
        ).write_parquet(part)
        slices.append(part)
    pl.scan_parquet(slices).sink_parquet(path)
    for part in slices:
        part.unlink()
    return path
