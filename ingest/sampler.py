"""Behaviour sampling (SPEC §1.2): the store's noisy pairs → a diverse, representative pairs.parquet.

In order, a pair is dropped for the first reason that applies:

- ``below_min_count``: seen fewer times than the minimum for its kind;
- ``near_duplicate_products`` (co-buy): the two titles are nearly the same (rapidfuzz
  token-set ratio), i.e. variants of one product, not a complementary purchase;
- ``random_co_buy`` (co-buy): PMI of the two products at or below the threshold — bought together
  no more often than their popularity alone predicts;
- ``query_too_broad`` (search-buy): the query's purchases spread over many product types
  (entropy in bits above the threshold);
- ``query_is_title`` (search-buy): the query is (nearly) the product's title — too narrow to
  carry an intention;
- ``over_type_cap``: the pair's stratum (kind, domain, product type) is already full.

Strata are filled by a seeded weighted draw (weight = count), so every domain and product type
with a surviving pair keeps at least one, and the same store and seed give the same file.

Pairs are scored in chunks of ``chunk_rows`` (labels and drop reasons, see ``scoring``) into
staging files; only the draw keys of the kept pairs and the chosen pairs are held in memory.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from cosmo_kg.errors import InputError
from cosmo_kg.files import write_parquet_atomic
from cosmo_kg.ingest.rules import behavior_id_column
from cosmo_kg.ingest.scoring import (
    DROP,
    NO_TYPE,
    PairScorer,
    Thresholds,
    co_buy_margins,
    product_info,
    query_entropy,
)
from cosmo_kg.ingest.store import BehaviourStore
from cosmo_kg.schemas import PAIRS, PRODUCTS
from cosmo_kg.settings import SettingsGroup, bad_value, setting
from cosmo_kg.vocabulary import BehaviorKind

STRATUM = ["kind", "domain", "stratum_type"]


@dataclass(frozen=True)
class SampleSettings(SettingsGroup):
    section = "sample"

    seed: int = setting(
        13, "random seed of the stratified draw (same seed → same sample)", env="COSMO_SAMPLE_SEED"
    )
    min_search_buy_count: int = setting(
        1, "search-buy pairs seen fewer times are dropped", env="COSMO_SAMPLE_MIN_SEARCH_BUY_COUNT"
    )
    min_co_buy_count: int = setting(
        1, "co-buy pairs seen fewer times are dropped", env="COSMO_SAMPLE_MIN_CO_BUY_COUNT"
    )
    max_title_similarity: float = setting(
        90.0,
        "co-buy titles this similar (0-100, token-set ratio) are near-duplicate products",
        env="COSMO_SAMPLE_MAX_TITLE_SIMILARITY",
    )
    min_pmi: float = setting(
        0.0, "co-buy pairs with PMI (bits) at or below this are random co-buys", env="COSMO_SAMPLE_MIN_PMI"
    )
    max_query_entropy: float = setting(
        2.5,
        "queries whose purchases spread over product types with more entropy (bits) are too broad",
        env="COSMO_SAMPLE_MAX_QUERY_ENTROPY",
    )
    query_title_similarity: float = setting(
        95.0,
        "queries this similar (0-100) to the product title are too narrow",
        env="COSMO_SAMPLE_QUERY_TITLE_SIMILARITY",
    )
    max_per_type: int = setting(
        1000, "most pairs kept per (kind, domain, product type) stratum", env="COSMO_SAMPLE_MAX_PER_TYPE"
    )
    max_pairs: int = setting(
        0, "most pairs in all (0: no limit); strata caps shrink evenly to fit", env="COSMO_SAMPLE_MAX_PAIRS"
    )
    chunk_rows: int = setting(
        500_000, "pairs scored at a time (bounds memory)", env="COSMO_SAMPLE_CHUNK_ROWS"
    )

    def validate(self) -> None:
        if self.max_per_type < 1 or self.max_pairs < 0:
            raise bad_value(
                "sample.max_per_type / max_pairs",
                (self.max_per_type, self.max_pairs),
                "max_per_type ≥ 1; max_pairs ≥ 0 (0 = no limit)",
            )
        if self.chunk_rows < 1:
            raise self.bad_value("chunk_rows", "use a positive number")

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(
            self.min_search_buy_count,
            self.min_co_buy_count,
            self.max_title_similarity,
            self.min_pmi,
            self.max_query_entropy,
            self.query_title_similarity,
        )


@dataclass(frozen=True)
class SampleConfig:
    """Sample the behaviour store of ``workspace_dir`` into ``out`` (pairs.parquet)."""

    workspace_dir: Path
    out: Path
    products_out: Path | None = None
    settings: SampleSettings = field(default_factory=SampleSettings)


@dataclass
class SampleReport:
    out: str
    products_out: str | None
    seed: int
    pairs_in: dict[str, int]
    pairs_out: dict[str, int]
    dropped: dict[str, int]
    strata: int
    type_cap: int
    coverage_before: dict[str, dict[str, int]]
    coverage_after: dict[str, dict[str, int]]
    seconds: float = 0.0


@dataclass
class _Tally:
    """Counts gathered while the chunks are scored."""

    pairs_in: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    domains: Counter[str] = field(default_factory=Counter)
    types: Counter[str] = field(default_factory=Counter)

    def add(self, scored: pl.DataFrame) -> None:
        self.pairs_in.update(_counts(scored, "kind"))
        self.dropped.update(_counts(scored.filter(pl.col(DROP).is_not_null()), DROP))
        self.domains.update(_counts(scored, "domain"))
        self.types.update(_counts(scored, "product_type"))


def _counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
    table = frame.group_by(pl.col(column).fill_null(NO_TYPE)).len()
    return dict(zip(table[column].to_list(), table["len"].to_list(), strict=True))


def _chunks(frame: pl.LazyFrame, rows: int) -> Iterator[pl.DataFrame]:
    offset = 0
    while True:
        chunk = frame.slice(offset, rows).collect()
        if chunk.height:
            yield chunk
        if chunk.height < rows:
            return
        offset += rows


def _score_all(store: BehaviourStore, staging: Path, settings: SampleSettings) -> _Tally:
    """Score every stored pair into ``staging`` (co-buy first, then search-buy, each in key order),
    with the seeded draw key of each kept pair."""
    co_buy, search_buy = (
        _merged(store.co_buy(), staging / "co_buy"),
        _merged(store.search_buy(), staging / "search_buy"),
    )
    info = product_info(store.catalog())
    margins, total = co_buy_margins(co_buy)
    scorer = PairScorer(info, margins, total, query_entropy(search_buy, info), settings.thresholds)
    rng = np.random.default_rng(settings.seed)
    tally = _Tally()
    kinds: list[tuple[pl.LazyFrame, Callable[[pl.DataFrame], pl.DataFrame]]] = [
        (co_buy, scorer.co_buy),
        (search_buy, scorer.search_buy),
    ]
    number = 0
    for pairs, score in kinds:
        for chunk in _chunks(pairs, settings.chunk_rows):
            scored = _with_draw_keys(score(chunk), rng)
            tally.add(scored)
            scored.write_parquet(staging / "scored" / f"{number:06d}.parquet", mkdir=True)
            number += 1
    return tally


def _merged(pairs: pl.LazyFrame, path: Path) -> pl.LazyFrame:
    """The store's merged counts, written once so that chunks slice a file, not a re-run merge."""
    pairs.sink_parquet(path.with_suffix(".parquet"))
    return pl.scan_parquet(path.with_suffix(".parquet"))


def _with_draw_keys(scored: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Efraimidis-Spirakis keys (weight = count) for the kept pairs, drawn in row order."""
    kept = scored[DROP].is_null()
    counts = scored.filter(kept)["count"].to_numpy().astype(np.float64)
    keys = np.log(rng.random(counts.size)) / np.maximum(counts, 1.0)
    column = pl.Series(np.full(scored.height, np.nan)).scatter(kept.arg_true(), keys).fill_nan(None)
    return scored.with_columns(
        column.alias("draw_key"), pl.col("product_type").fill_null(NO_TYPE).alias("stratum_type")
    )


def type_cap(sizes: list[int], max_per_type: int, max_pairs: int) -> int:
    """The per-stratum cap: ``max_per_type``, lowered (never below 1) until the total fits ``max_pairs``."""
    cap = max_per_type
    if max_pairs <= 0 or sum(min(n, cap) for n in sizes) <= max_pairs:
        return cap
    low, high = 1, cap
    while low < high:
        middle = (low + high + 1) // 2
        if sum(min(n, middle) for n in sizes) <= max_pairs:
            low = middle
        else:
            high = middle - 1
    return low


def _chosen(staging: Path, settings: SampleSettings) -> tuple[pl.DataFrame, int, int]:
    """The drawn pairs (with their stratum weight), the number of strata and the per-stratum cap."""
    scored = pl.scan_parquet(sorted((staging / "scored").glob("*.parquet"))).with_row_index("order")
    keys = (
        scored.filter(pl.col("draw_key").is_not_null())
        .select("order", *STRATUM, "draw_key")
        .with_columns(pl.len().over(STRATUM).alias("stratum_size"))
        .collect()
    )
    sizes = keys.unique(STRATUM)["stratum_size"].to_list()
    cap = type_cap(sizes, settings.max_per_type, settings.max_pairs)
    rank = pl.col("draw_key").rank("ordinal", descending=True).over(STRATUM)
    weight = pl.col("stratum_size") / pl.min_horizontal(pl.col("stratum_size"), pl.lit(cap))
    picked = keys.filter(rank <= cap).select("order", weight.alias("weight"))
    chosen = scored.join(picked.lazy(), on="order").drop("order").collect()
    return chosen, len(sizes), cap


def _pairs_file(chosen: pl.DataFrame) -> pl.DataFrame:
    """The chosen pairs in the pairs.parquet contract, sorted by kind and ``behavior_id``."""
    parts = []
    for kind in BehaviorKind:
        rows = chosen.filter(pl.col("kind") == kind.value)
        first = rows["query"] if kind is BehaviorKind.SEARCH_BUY else rows["product_id"]
        second = rows["product_id"] if kind is BehaviorKind.SEARCH_BUY else rows["product_id_b"]
        parts.append(rows.with_columns(behavior_id_column(kind, first, second)))
    return PAIRS.conform(pl.concat(parts).lazy()).sort("kind", "behavior_id").collect()


def _coverage(pairs: pl.DataFrame) -> dict[str, dict[str, int]]:
    return {
        "domain": dict(sorted(_counts(pairs, "domain").items())),
        "product_type": dict(sorted(_counts(pairs, "product_type").items())),
    }


def _by_kind(counts: Counter[str] | dict[str, int]) -> dict[str, int]:
    return {kind.value: counts.get(kind.value, 0) for kind in BehaviorKind}


def sample(config: SampleConfig) -> SampleReport:
    """Sample the workspace's behaviour store into pairs.parquet (and the catalog of its products).

    Returns a ``SampleReport`` with pairs in/out, drops per reason and coverage per domain and
    product type before and after. Raises ``InputError`` if the store holds no pairs.
    """
    started = time.perf_counter()
    settings = config.settings
    store = BehaviourStore(config.workspace_dir)
    staging = store.staging_dir("sample")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        tally = _score_all(store, staging, settings)
        if not tally.pairs_in:
            raise InputError(
                f"the behaviour store in {config.workspace_dir} holds no pairs",
                hint="ingest search-buy, co-buy or events first (cosmo-kg ingest ...)",
            )
        chosen, strata, cap = _chosen(staging, settings)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    pairs = _pairs_file(chosen)
    write_parquet_atomic(pairs, config.out)
    if config.products_out:
        ids = pl.concat([pairs["product_id"], pairs["product_id_b"].drop_nulls()]).unique().implode()
        catalog = store.catalog().filter(pl.col("product_id").is_in(ids))
        write_parquet_atomic(PRODUCTS.conform(catalog).collect(), config.products_out)
    kept = sum(tally.pairs_in.values()) - sum(tally.dropped.values())
    tally.dropped["over_type_cap"] = kept - pairs.height
    reasons = sorted(((r, n) for r, n in tally.dropped.items() if n), key=lambda kv: (-kv[1], kv[0]))
    return SampleReport(
        out=str(config.out),
        products_out=str(config.products_out) if config.products_out else None,
        seed=settings.seed,
        pairs_in=_by_kind(tally.pairs_in),
        pairs_out=_by_kind(_counts(pairs, "kind")),
        dropped=dict(reasons),
        strata=strata,
        type_cap=cap,
        coverage_before={
            "domain": dict(sorted(tally.domains.items())),
            "product_type": dict(sorted(tally.types.items())),
        },
        coverage_after=_coverage(pairs),
        seconds=round(time.perf_counter() - started, 3),
    )


__all__ = ["SampleConfig", "SampleReport", "SampleSettings", "sample", "type_cap"]
