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
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from rapidfuzz import fuzz, process

from cosmo_kg.errors import ConfigError, InputError
from cosmo_kg.ingest.export import pairs_table
from cosmo_kg.ingest.store import BehaviourStore, write_atomically
from cosmo_kg.schemas import PAIRS, PRODUCTS
from cosmo_kg.settings import SettingsGroup, setting
from cosmo_kg.vocabulary import BehaviorKind

SEARCH_BUY = BehaviorKind.SEARCH_BUY.value
CO_BUY = BehaviorKind.CO_BUY.value
NO_TYPE = "(no product type)"
DROP = "drop_reason"


@dataclass(frozen=True)
class SampleSettings(SettingsGroup):
    section = "sample"

    seed: int = setting(13, "random seed of the stratified draw (same seed → same sample)",
                        env="COSMO_SAMPLE_SEED")
    min_search_buy_count: int = setting(1, "search-buy pairs seen fewer times are dropped",
                                        env="COSMO_SAMPLE_MIN_SEARCH_BUY_COUNT")
    min_co_buy_count: int = setting(1, "co-buy pairs seen fewer times are dropped",
                                    env="COSMO_SAMPLE_MIN_CO_BUY_COUNT")
    max_title_similarity: float = setting(90.0, "co-buy titles this similar (0-100, token-set ratio) are "
                                          "near-duplicate products", env="COSMO_SAMPLE_MAX_TITLE_SIMILARITY")
    min_pmi: float = setting(0.0, "co-buy pairs with PMI (bits) at or below this are random co-buys",
                             env="COSMO_SAMPLE_MIN_PMI")
    max_query_entropy: float = setting(2.5, "queries whose purchases spread over product types with more "
                                       "entropy (bits) are too broad", env="COSMO_SAMPLE_MAX_QUERY_ENTROPY")
    query_title_similarity: float = setting(95.0, "queries this similar (0-100) to the product title are "
                                            "too narrow", env="COSMO_SAMPLE_QUERY_TITLE_SIMILARITY")
    max_per_type: int = setting(1000, "most pairs kept per (kind, domain, product type) stratum",
                                env="COSMO_SAMPLE_MAX_PER_TYPE")
    max_pairs: int = setting(0, "most pairs in all (0: no limit); strata caps shrink evenly to fit",
                             env="COSMO_SAMPLE_MAX_PAIRS")

    def validate(self) -> None:
        if self.max_per_type < 1 or self.max_pairs < 0:
            raise ConfigError(f"setting sample.max_per_type / max_pairs has a bad value "
                              f"({self.max_per_type!r}, {self.max_pairs!r})",
                              hint="max_per_type ≥ 1; max_pairs ≥ 0 (0 = no limit)")


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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _labelled(store: BehaviourStore) -> pl.DataFrame:
    """Every stored pair in the pairs contract, with titles and a stratum label.

    A co-buy pair is labelled with the product whose type is rarer in the catalog, so rare
    types are covered even when they only occur beside a common one.
    """
    catalog = store.catalog().collect()
    pairs = pairs_table(store.search_buy().collect(), store.co_buy().collect(), catalog.lazy())
    type_freq = catalog.group_by("product_type").len("type_freq")
    info = catalog.select("product_id", "title", "domain", "product_type").join(
        type_freq, on="product_type", how="left")
    a = info.rename({c: f"{c}_a" for c in info.columns if c != "product_id"})
    b = info.rename({c: f"{c}_b" if c != "product_id" else "product_id_b" for c in info.columns})
    joined = pairs.drop("domain", "product_type").join(a, on="product_id", how="left") \
        .join(b, on="product_id_b", how="left")
    use_b = (pl.col("kind") == CO_BUY) & (pl.col("type_freq_b").fill_null(1 << 62)
                                          < pl.col("type_freq_a").fill_null(1 << 62))
    return joined.with_columns(
        pl.when(use_b).then(pl.col("domain_b")).otherwise(pl.col("domain_a")).alias("domain"),
        pl.when(use_b).then(pl.col("product_type_b")).otherwise(pl.col("product_type_a")).alias("product_type"),
    ).sort("kind", "behavior_id")


def _similarity(left: pl.Series, right: pl.Series, scorer: Any) -> pl.Series:
    """Element-wise rapidfuzz similarity (0-100); missing text compares as 0."""
    if not left.len():
        return pl.Series([], dtype=pl.Float32())
    scores = process.cpdist(left.fill_null("").to_list(), right.fill_null("").to_list(), scorer=scorer,
                            processor=str.lower, workers=1, dtype=np.float32)
    return pl.Series(np.asarray(scores, dtype=np.float32))


def _pmi(pairs: pl.DataFrame) -> pl.Expr:
    co_buy = pairs.filter(pl.col("kind") == CO_BUY)
    total = max(int(co_buy["count"].sum() or 0), 1)
    marginal = pl.concat([co_buy.select(pl.col("product_id").alias("p"), "count"),
                          co_buy.select(pl.col("product_id_b").alias("p"), "count")]) \
        .group_by("p").agg(pl.col("count").sum())
    margins = dict(zip(marginal["p"].to_list(), marginal["count"].to_list(), strict=True))
    a = pl.col("product_id").replace_strict(margins, default=1, return_dtype=pl.Float64())
    b = pl.col("product_id_b").replace_strict(margins, default=1, return_dtype=pl.Float64())
    return (4 * total * pl.col("count").cast(pl.Float64()) / (a * b)).log(2)


def _query_entropy(pairs: pl.DataFrame) -> pl.DataFrame:
    per_type = (pairs.filter(pl.col("kind") == SEARCH_BUY)
                .group_by("query", pl.col("product_type_a").fill_null(NO_TYPE).alias("t"))
                .agg(pl.col("count").sum()))
    share = pl.col("count") / pl.col("count").sum().over("query")
    return (per_type.with_columns((-share * share.log(2)).alias("h"))
            .group_by("query").agg(pl.col("h").sum().alias("query_entropy")))


def _drop_reasons(pairs: pl.DataFrame, settings: SampleSettings) -> pl.DataFrame:
    co_buy, search_buy = pl.col("kind") == CO_BUY, pl.col("kind") == SEARCH_BUY
    min_count = pl.when(co_buy).then(settings.min_co_buy_count).otherwise(settings.min_search_buy_count)
    scored = pairs.join(_query_entropy(pairs), on="query", how="left").with_columns(
        pl.when(co_buy).then(_similarity(pairs["title_a"], pairs["title_b"], fuzz.token_set_ratio))
        .otherwise(None).alias("title_similarity"),
        pl.when(search_buy).then(_similarity(pairs["query"], pairs["title_a"], fuzz.ratio))
        .otherwise(None).alias("query_title_similarity"),
        pl.when(co_buy).then(_pmi(pairs)).otherwise(None).alias("pmi"),
    )
    reason = (
        pl.when(pl.col("count") < min_count).then(pl.lit("below_min_count"))
        .when(co_buy & (pl.col("title_similarity") >= settings.max_title_similarity))
        .then(pl.lit("near_duplicate_products"))
        .when(co_buy & (pl.col("pmi") <= settings.min_pmi)).then(pl.lit("random_co_buy"))
        .when(search_buy & (pl.col("query_entropy") > settings.max_query_entropy))
        .then(pl.lit("query_too_broad"))
        .when(search_buy & (pl.col("query_title_similarity") >= settings.query_title_similarity))
        .then(pl.lit("query_is_title"))
        .otherwise(None)
    )
    return scored.with_columns(reason.alias(DROP))


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


def _draw(kept: pl.DataFrame, cap: int, seed: int) -> pl.DataFrame:
    """Seeded weighted sample without replacement per stratum (Efraimidis-Spirakis keys)."""
    rng = np.random.default_rng(seed)
    keys = np.log(rng.random(kept.height)) / np.maximum(kept["count"].to_numpy().astype(np.float64), 1.0)
    stratum = ["kind", "domain", "stratum_type"]
    ranked = kept.with_columns(pl.Series("draw_key", keys)).with_columns(
        pl.col("draw_key").rank("ordinal", descending=True).over(stratum).alias("draw_rank"),
        pl.len().over(stratum).alias("stratum_size"))
    return ranked.with_columns(
        pl.when(pl.col("draw_rank") > cap).then(pl.lit("over_type_cap")).otherwise(None).alias(DROP),
        (pl.col("stratum_size") / pl.min_horizontal(pl.col("stratum_size"), pl.lit(cap))).alias("weight"))


def _coverage(pairs: pl.DataFrame) -> dict[str, dict[str, int]]:
    def counts(column: str) -> dict[str, int]:
        table = pairs.group_by(pl.col(column).fill_null(NO_TYPE)).len().sort(column)
        return dict(zip(table[column].to_list(), table["len"].to_list(), strict=True))
    return {"domain": counts("domain"), "product_type": counts("product_type")}


def _by_kind(pairs: pl.DataFrame) -> dict[str, int]:
    return {kind.value: pairs.filter(pl.col("kind") == kind.value).height for kind in BehaviorKind}


def sample(config: SampleConfig) -> SampleReport:
    """Sample the workspace's behaviour store into pairs.parquet (and the catalog of its products).

    Returns a ``SampleReport`` with pairs in/out, drops per reason and coverage per domain and
    product type before and after. Raises ``InputError`` if the store holds no pairs.
    """
    started = time.perf_counter()
    settings = config.settings
    store = BehaviourStore(config.workspace_dir)
    pairs = _labelled(store)
    if pairs.is_empty():
        raise InputError(f"the behaviour store in {config.workspace_dir} holds no pairs",
                         hint="ingest search-buy, co-buy or events first (cosmo-kg ingest ...)")
    judged = _drop_reasons(pairs, settings).with_columns(
        pl.col("product_type").fill_null(NO_TYPE).alias("stratum_type"))
    kept = judged.filter(pl.col(DROP).is_null())
    sizes = kept.group_by("kind", "domain", "stratum_type").len()["len"].to_list()
    cap = type_cap(sizes, settings.max_per_type, settings.max_pairs)
    drawn = _draw(kept, cap, settings.seed)
    chosen = drawn.filter(pl.col(DROP).is_null()).sort("kind", "behavior_id")
    dropped = pl.concat([judged.filter(pl.col(DROP).is_not_null()).select(DROP),
                         drawn.filter(pl.col(DROP).is_not_null()).select(DROP)])
    write_atomically(PAIRS.conform(chosen.lazy()).collect(), config.out)
    if config.products_out:
        ids = pl.concat([chosen["product_id"], chosen["product_id_b"].drop_nulls()]).unique().implode()
        catalog = store.catalog().filter(pl.col("product_id").is_in(ids))
        write_atomically(PRODUCTS.conform(catalog).collect(), config.products_out)
    reasons = dropped.group_by(DROP).len().sort("len", DROP, descending=[True, False])
    return SampleReport(
        out=str(config.out), products_out=str(config.products_out) if config.products_out else None,
        seed=settings.seed, pairs_in=_by_kind(pairs), pairs_out=_by_kind(chosen),
        dropped=dict(zip(reasons[DROP].to_list(), reasons["len"].to_list(), strict=True)),
        strata=len(sizes), type_cap=cap, coverage_before=_coverage(pairs), coverage_after=_coverage(chosen),
        seconds=round(time.perf_counter() - started, 3))


__all__ = ["SampleConfig", "SampleReport", "SampleSettings", "sample", "type_cap"]
