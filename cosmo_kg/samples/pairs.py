"""Small behaviour-pair sets built from the bundled real samples, for tests and benchmarks:
co-buy pairs from IntentionQA (real Amazon titles) and search-buy pairs from WANDS queries matched
to the hand-made WANDS catalog by product class (see SOURCE.md)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import polars as pl

from cosmo_kg.schemas import PAIRS, PRODUCTS

SAMPLES = resources.files("cosmo_kg.samples")


@dataclass(frozen=True)
class SampleInputs:
    pairs: Path
    products: Path
    frame: pl.DataFrame


def _read(name: str) -> pl.DataFrame:
    return pl.read_parquet(SAMPLES.joinpath(name).read_bytes())


def sample_pairs(co_buy: int, search_buy: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(pairs, products) following the SPEC contracts."""
    knowledge = (
        _read("intentionqa_knowledge.parquet")
        .unique(["product_id", "product_id_b"], keep="first")
        .sort("behavior_id")
        .head(co_buy)
    )
    co = knowledge.select(
        pl.col("behavior_id").str.replace("intentionqa:", "cb-"),
        pl.lit("co_buy").alias("kind"),
        pl.lit(None, pl.String).alias("query"),
        "product_id",
        "product_id_b",
    )
    wands = _read("wands_products.parquet")
    queries = pl.read_csv(SAMPLES.joinpath("wands_queries.tsv").read_bytes(), separator="\t")
    matched = (
        queries.join(
            wands.select("product_id", pl.col("product_type").alias("query_class")), on="query_class"
        )
        .sort("query_id")
        .head(search_buy)
    )
    sb = matched.select(
        pl.col("query")
        .map_elements(lambda q: "sb-" + hashlib.sha1(q.encode()).hexdigest()[:8], return_dtype=pl.String)
        .alias("behavior_id"),
        pl.lit("search_buy").alias("kind"),
        "query",
        "product_id",
        pl.lit(None, pl.String).alias("product_id_b"),
    )
    pairs = PAIRS.conform(pl.concat([co, sb]).lazy()).collect()
    products = PRODUCTS.conform(
        pl.concat([_read("intentionqa_products.parquet"), wands], how="diagonal_relaxed").lazy()
    ).collect()
    return pairs, products


def write_inputs(directory: Path, pairs: pl.DataFrame, products: pl.DataFrame) -> SampleInputs:
    directory.mkdir(parents=True, exist_ok=True)
    pairs.write_parquet(directory / "pairs.parquet")
    products.write_parquet(directory / "products.parquet")
    return SampleInputs(directory / "pairs.parquet", directory / "products.parquet", pairs)
