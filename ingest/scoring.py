"""Why a behaviour pair is not worth explaining: the drop reasons of the sampler, chunk by chunk.

``PairScorer`` holds what the reasons need beyond one pair — the catalog's labels and titles,
co-buy marginals for PMI and each query's entropy over product types — all sized by the catalog
and the number of distinct queries, never by the number of pairs. ``score`` then labels one
chunk of pairs and gives each the first drop reason that applies (see ``sampler``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from rapidfuzz import fuzz, process

from cosmo_kg.vocabulary import BehaviorKind

SEARCH_BUY = BehaviorKind.SEARCH_BUY.value
CO_BUY = BehaviorKind.CO_BUY.value
NO_TYPE = "(no product type)"
DROP = "drop_reason"
_UNTYPED = 1 << 62


@dataclass(frozen=True)
class Thresholds:
    """The sampler settings that decide drop reasons."""

    min_search_buy_count: int
    min_co_buy_count: int
    max_title_similarity: float
    min_pmi: float
    max_query_entropy: float
    query_title_similarity: float


def product_info(catalog: pl.LazyFrame) -> pl.DataFrame:
    """Per product: lower-cased title, domain, product type and how common that type is."""
    type_freq = pl.when(pl.col("product_type").is_not_null()).then(pl.len().over("product_type"))
    return catalog.select(
        "product_id",
        pl.col("title").str.to_lowercase().alias("title"),
        "domain",
        "product_type",
        type_freq.alias("type_freq"),
    ).collect()


def co_buy_margins(co_buy: pl.LazyFrame) -> tuple[pl.DataFrame, int]:
    """Per product, the co-buy count it takes part in; and the total co-buy count."""
    sides = pl.concat(
        [
            co_buy.select(pl.col("product_id_a").alias("product_id"), "count"),
            co_buy.select(pl.col("product_id_b").alias("product_id"), "count"),
        ]
    )
    margins = sides.group_by("product_id").agg(pl.col("count").sum().cast(pl.Float64()).alias("margin"))
    total = co_buy.select(pl.col("count").sum()).collect().item() or 0
    return margins.collect(), max(int(total), 1)


def query_entropy(search_buy: pl.LazyFrame, info: pl.DataFrame) -> pl.DataFrame:
    """Per query, the entropy (bits) of its purchases over product types."""
    types = info.lazy().select("product_id", "product_type")
    per_type = (
        search_buy.join(types, on="product_id", how="left")
        .group_by("query", pl.col("product_type").fill_null(NO_TYPE))
        .agg(pl.col("count").sum())
    )
    share = pl.col("count") / pl.col("count").sum().over("query")
    return (
        per_type.with_columns((-share * share.log(2)).alias("h"))
        .group_by("query")
        .agg(pl.col("h").sum().alias("query_entropy"))
        .collect()
    )


def similarity(left: pl.Series, right: pl.Series, scorer: Any, cutoff: float) -> np.ndarray:
    """Element-wise rapidfuzz similarity (0-100) of lower-cased texts, 0 below ``cutoff`` (which
    lets rapidfuzz stop early); missing text compares as 0."""
    if not left.len():
        return np.zeros(0, dtype=np.float32)
    return np.asarray(
        process.cpdist(
            left.fill_null("").to_list(),
            right.fill_null("").to_list(),
            scorer=scorer,
            score_cutoff=cutoff,
            workers=-1,
            dtype=np.float32,
        ),
        dtype=np.float32,
    )


def _scattered(mask: pl.Series, values: np.ndarray) -> pl.Series:
    """``values`` for the rows where ``mask`` is true, null elsewhere."""
    full = pl.Series(np.full(mask.len(), np.nan, dtype=np.float32))
    return full.scatter(mask.arg_true(), values).fill_nan(None)


class PairScorer:
    """Labels and drop reasons for chunks of co-buy or search-buy pairs."""

    def __init__(
        self,
        info: pl.DataFrame,
        margins: pl.DataFrame,
        total_co_buy: int,
        entropy: pl.DataFrame,
        thresholds: Thresholds,
    ) -> None:
        self.info = info
        self.margins = margins
        self.total_co_buy = total_co_buy
        self.entropy = entropy
        self.thresholds = thresholds

    def _side(self, pairs: pl.DataFrame, column: str, suffix: str) -> pl.DataFrame:
        info = self.info.rename({c: f"{c}_{suffix}" for c in self.info.columns if c != "product_id"})
        return pairs.join(info.rename({"product_id": column}), on=column, how="left", maintain_order="left")

    def co_buy(self, pairs: pl.DataFrame) -> pl.DataFrame:
        """Co-buy pairs (product_id_a < product_id_b, count) → labelled, with ``drop_reason``.

        The pair is labelled with the product whose type is rarer in the catalog, so rare types
        are covered even when they only occur beside a common one.
        """
        t = self.thresholds
        labelled = self._side(self._side(pairs, "product_id_a", "a"), "product_id_b", "b")
        use_b = pl.col("type_freq_b").fill_null(_UNTYPED) < pl.col("type_freq_a").fill_null(_UNTYPED)
        counted = labelled.select(pl.col("count") >= t.min_co_buy_count).to_series()
        titles = labelled.filter(counted)
        near = _scattered(
            counted,
            similarity(titles["title_a"], titles["title_b"], fuzz.token_set_ratio, t.max_title_similarity),
        )
        margin = self.margins.lazy()
        pmi = (
            4
            * self.total_co_buy
            * pl.col("count").cast(pl.Float64())
            / (pl.col("margin_a").fill_null(1.0) * pl.col("margin_b").fill_null(1.0))
        ).log(2)
        reason = (
            pl.when(~pl.col("counted"))
            .then(pl.lit("below_min_count"))
            .when(pl.col("title_similarity") >= t.max_title_similarity)
            .then(pl.lit("near_duplicate_products"))
            .when(pmi <= t.min_pmi)
            .then(pl.lit("random_co_buy"))
        )
        return (
            labelled.lazy()
            .with_columns(counted.alias("counted"), near.alias("title_similarity"))
            .join(
                margin.rename({"product_id": "product_id_a", "margin": "margin_a"}),
                on="product_id_a",
                how="left",
                maintain_order="left",
            )
            .join(
                margin.rename({"product_id": "product_id_b", "margin": "margin_b"}),
                on="product_id_b",
                how="left",
                maintain_order="left",
            )
            .select(
                pl.lit(CO_BUY).alias("kind"),
                pl.lit(None, dtype=pl.String()).alias("query"),
                pl.col("product_id_a").alias("product_id"),
                "product_id_b",
                "count",
                pl.when(use_b).then(pl.col("domain_b")).otherwise(pl.col("domain_a")).alias("domain"),
                pl.when(use_b)
                .then(pl.col("product_type_b"))
                .otherwise(pl.col("product_type_a"))
                .alias("product_type"),
                reason.alias(DROP),
            )
            .collect()
        )

    def search_buy(self, pairs: pl.DataFrame) -> pl.DataFrame:
        """Search-buy pairs (query, product_id, count) → labelled, with ``drop_reason``."""
        t = self.thresholds
        labelled = self._side(pairs, "product_id", "a").join(
            self.entropy, on="query", how="left", maintain_order="left"
        )
        too_broad = (pl.col("query_entropy") > t.max_query_entropy).fill_null(False)
        survives = labelled.select((pl.col("count") >= t.min_search_buy_count) & ~too_broad).to_series()
        candidates = labelled.filter(survives)
        narrow = _scattered(
            survives,
            similarity(candidates["query"], candidates["title_a"], fuzz.ratio, t.query_title_similarity),
        )
        reason = (
            pl.when(pl.col("count") < t.min_search_buy_count)
            .then(pl.lit("below_min_count"))
            .when(pl.col("query_entropy") > t.max_query_entropy)
            .then(pl.lit("query_too_broad"))
            .when(pl.col("query_title_similarity") >= t.query_title_similarity)
            .then(pl.lit("query_is_title"))
        )
        return labelled.with_columns(narrow.alias("query_title_similarity")).select(
            pl.lit(SEARCH_BUY).alias("kind"),
            "query",
            "product_id",
            pl.lit(None, dtype=pl.String()).alias("product_id_b"),
            "count",
            pl.col("domain_a").alias("domain"),
            pl.col("product_type_a").alias("product_type"),
            reason.alias(DROP),
        )
