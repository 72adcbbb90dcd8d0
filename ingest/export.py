"""From the behaviour store to the stage files of SPEC (products.parquet, pairs.parquet) and the graph.

The graph only ever receives stage files, through ``cosmo_kg.graph.loader.load``: an increment is
exported as the catalog rows it touches and its pairs with their *merged* counts (the loader sets
``count`` on SEARCH_BUY / CO_BUY edges), so the graph's counts equal the store's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from cosmo_kg.files import write_parquet_atomic
from cosmo_kg.ingest.rules import behavior_id_column
from cosmo_kg.ingest.store import CO_BUY_KEY, SEARCH_BUY_KEY, BehaviourStore
from cosmo_kg.schemas import PAIRS, PRODUCTS
from cosmo_kg.vocabulary import BehaviorKind

if TYPE_CHECKING:
    from cosmo_kg.ingest.pipeline import GraphTarget


def pairs_table(search_buy: pl.DataFrame, co_buy: pl.DataFrame, catalog: pl.LazyFrame) -> pl.DataFrame:
    """Search-buy and co-buy counts as the pairs.parquet contract, labelled with the catalog's
    domain and product type of ``product_id`` (weight left empty)."""
    sb = search_buy.select(
        behavior_id_column(BehaviorKind.SEARCH_BUY, search_buy["query"], search_buy["product_id"]),
        pl.lit(BehaviorKind.SEARCH_BUY.value).alias("kind"),
        "query",
        "product_id",
        pl.lit(None, dtype=pl.String()).alias("product_id_b"),
        "count",
    )
    cb = co_buy.select(
        behavior_id_column(BehaviorKind.CO_BUY, co_buy["product_id_a"], co_buy["product_id_b"]),
        pl.lit(BehaviorKind.CO_BUY.value).alias("kind"),
        pl.lit(None, dtype=pl.String()).alias("query"),
        pl.col("product_id_a").alias("product_id"),
        "product_id_b",
        "count",
    )
    labels = catalog.select("product_id", "domain", "product_type").collect()
    return PAIRS.conform(pl.concat([sb, cb]).join(labels, on="product_id", how="left").lazy()).collect()


def _increment_pairs(
    store: BehaviourStore, parts: dict[str, pl.DataFrame]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    def merged(part: str, view: pl.LazyFrame, key: tuple[str, ...]) -> pl.DataFrame:
        if part not in parts or parts[part].is_empty():
            return view.head(0).collect()
        return view.join(parts[part].lazy().select(*key), on=list(key), how="semi").collect()

    return (
        merged("search_buy", store.search_buy(), SEARCH_BUY_KEY),
        merged("co_buy", store.co_buy(), CO_BUY_KEY),
    )


def _referenced(parts: dict[str, pl.DataFrame]) -> pl.Series:
    ids = [parts["products"]["product_id"]] if "products" in parts else []
    if "search_buy" in parts:
        ids.append(parts["search_buy"]["product_id"])
    if "co_buy" in parts:
        ids += [parts["co_buy"]["product_id_a"], parts["co_buy"]["product_id_b"]]
    return pl.concat(ids).unique() if ids else pl.Series("product_id", [], dtype=pl.String())


def export_increment(
    store: BehaviourStore,
    increment_id: str,
    parts: dict[str, pl.DataFrame],
    graph: GraphTarget,
    rejects_dir: Path,
) -> dict[str, Any]:
    """Write the increment's products.parquet / pairs.parquet and load them; return the load summary."""
    from cosmo_kg.graph.loader import LoadConfig, load

    out = store.root / "exports" / increment_id
    products_path = pairs_path = None
    if store.catalog_ids() is not None:
        products = (
            store.catalog()
            .filter(pl.col("product_id").is_in(_referenced(parts).implode()))
            .sort("product_id")
            .collect()
        )
        products_path = out / "products.parquet"
        write_parquet_atomic(PRODUCTS.conform(products.lazy()).collect(), products_path)
    search_buy, co_buy = _increment_pairs(store, parts)
    if search_buy.height or co_buy.height:
        pairs_path = out / "pairs.parquet"
        write_parquet_atomic(pairs_table(search_buy, co_buy, store.catalog()), pairs_path)
    config = LoadConfig(
        rejects_dir=rejects_dir, products=products_path, pairs=pairs_path, database=graph.database
    )
    report = load(config, graph.driver, graph.loader_settings)
    return {
        "load_id": report.load_id,
        "rows_written": report.rows_written,
        "rejected": report.rejected,
        "nodes_created": report.nodes_created,
        "relationships_created": report.relationships_created,
        "seconds": report.seconds,
        "files": {
            "products": str(products_path) if products_path else None,
            "pairs": str(pairs_path) if pairs_path else None,
        },
    }
