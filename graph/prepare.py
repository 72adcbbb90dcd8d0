"""Turn stage files (products, pairs, knowledge) into the node and edge tables the loader writes.

Pure polars, no database: every bad row leaves with a reason, and the output order is
deterministic so that a resumed load sends exactly the batches an uninterrupted one sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from cosmo_kg.errors import InputError
from cosmo_kg.graph.statements import HEAD_KEYS
from cosmo_kg.schemas import KNOWLEDGE, PAIRS, PRODUCTS, FileSchema, RowRule, split_rows
from cosmo_kg.text import clean_text_expr, text_key_expr
from cosmo_kg.vocabulary import (
    OTHER_DOMAIN,
    RELATIONS,
    BehaviorKind,
    NodeLabel,
    normalize_domain_expr,
)

SEARCH_BUY = BehaviorKind.SEARCH_BUY.value
CO_BUY = BehaviorKind.CO_BUY.value
EDGE_KEY = ["head_label", "head", "relation", "tail"]


@dataclass
class PreparedGraph:
    """Node and edge tables ready for batching, plus the rejects of each input."""

    domains: pl.DataFrame
    product_types: pl.DataFrame
    products: pl.DataFrame
    product_keys: pl.DataFrame
    queries: pl.DataFrame
    intentions: pl.DataFrame
    knowledge_edges: pl.DataFrame
    search_buy_edges: pl.DataFrame
    co_buy_edges: pl.DataFrame
    rows_in: dict[str, int] = field(default_factory=dict)
    rejects: dict[str, pl.DataFrame] = field(default_factory=dict)


def read_stage_file(path: Path, schema: FileSchema) -> pl.DataFrame:
    """Read a stage Parquet file, check its columns and conform it to the contract types."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    try:
        frame = pl.scan_parquet(path)
        schema.check_columns(frame, path)
        return schema.conform(frame).collect()
    except (pl.exceptions.ComputeError, OSError) as exc:
        raise InputError(
            f"{path}: not a readable Parquet file ({exc})",
            hint=f"give the {schema.name} file written by cosmo-kg, or convert it to Parquet",
        ) from exc


def _blank(column: str) -> pl.Expr:
    return pl.col(column).is_null() | (pl.col(column) == "")


def _score_is_bad(column: str) -> pl.Expr:
    value = pl.col(column)
    return value.is_null() | value.is_nan() | (value < 0) | (value > 1)


def _canonical_co_buy(frame: pl.DataFrame) -> pl.DataFrame:
    a, b = pl.col("product_id"), pl.col("product_id_b")
    return frame.with_columns(
        pl.min_horizontal(a, b).alias("product_id"), pl.max_horizontal(a, b).alias("product_id_b")
    )


def prepare_products(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Normalise a catalog; reject rows without id or title and repeated ids (first one wins)."""
    normal = frame.with_columns(
        clean_text_expr("product_id").alias("product_id"),
        clean_text_expr("title").alias("title"),
        clean_text_expr("product_type").replace("", None).alias("product_type"),
        normalize_domain_expr("domain").fill_null(OTHER_DOMAIN).alias("domain"),
        clean_text_expr("brand").replace("", None).alias("brand"),
        clean_text_expr("description").alias("description"),
    )
    return split_rows(
        normal,
        [
            RowRule("missing_product_id", _blank("product_id")),
            RowRule("missing_title", _blank("title")),
            RowRule("duplicate_product_id", ~pl.col("product_id").is_first_distinct()),
        ],
    )


def _behaviour_rules(known_products: pl.Series | None) -> list[RowRule]:
    kind = pl.col("kind")
    rules = [
        RowRule("unknown_kind", ~kind.is_in([SEARCH_BUY, CO_BUY])),
        RowRule("missing_product_id", _blank("product_id")),
        RowRule("missing_query", (kind == SEARCH_BUY) & _blank("query")),
        RowRule("missing_product_b", (kind == CO_BUY) & _blank("product_id_b")),
        RowRule("self_pair", (kind == CO_BUY) & (pl.col("product_id") == pl.col("product_id_b"))),
    ]
    if known_products is not None:
        unknown_b = (kind == CO_BUY) & ~pl.col("product_id_b").is_in(known_products.implode())
        rules.append(
            RowRule("unknown_product", ~pl.col("product_id").is_in(known_products.implode()) | unknown_b)
        )
    return rules


def _normal_behaviour_columns() -> list[pl.Expr]:
    return [
        clean_text_expr("kind").str.to_lowercase().alias("kind"),
        clean_text_expr("product_id").alias("product_id"),
        clean_text_expr("product_id_b").alias("product_id_b"),
        text_key_expr("query").alias("query"),
    ]


def prepare_pairs(frame: pl.DataFrame, known_products: pl.Series | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Validate behaviour pairs (SPEC pairs.parquet)."""
    normal = frame.with_columns(_normal_behaviour_columns())
    rules = [
        *_behaviour_rules(known_products),
        RowRule("bad_count", pl.col("count").is_null() | (pl.col("count") < 1)),
        RowRule(
            "duplicate_row", ~pl.struct("kind", "query", "product_id", "product_id_b").is_first_distinct()
        ),
    ]
    return split_rows(normal, rules)


def prepare_knowledge(
    frame: pl.DataFrame, known_products: pl.Series | None, max_tail_chars: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Validate knowledge rows (SPEC knowledge.parquet); tails become intention keys."""
    normal = frame.with_columns(
        *_normal_behaviour_columns(),
        clean_text_expr("relation").alias("relation"),
        text_key_expr("tail").alias("tail"),
        pl.col("support").fill_null(1),
    )
    rules = [
        *_behaviour_rules(known_products),
        RowRule("unknown_relation", ~pl.col("relation").is_in(list(RELATIONS))),
        *_relation_kind_rules(),
        RowRule("empty_tail", _blank("tail")),
        RowRule("tail_too_long", pl.col("tail").str.len_chars() > max_tail_chars),
        RowRule("bad_plausibility", _score_is_bad("plausibility")),
        RowRule("bad_typicality", _score_is_bad("typicality")),
        RowRule("bad_support", pl.col("support") < 0),
        RowRule(
            "duplicate_row",
            ~pl.struct("kind", "query", "product_id", "product_id_b", "relation", "tail").is_first_distinct(),
        ),
    ]
    return split_rows(normal, rules)


def _relation_kind_rules() -> list[RowRule]:
    rules = []
    for kind in BehaviorKind:
        excluded = [name for name, r in RELATIONS.items() if kind not in r.kinds]
        if excluded:
            rules.append(
                RowRule(
                    "relation_not_for_kind",
                    (pl.col("kind") == kind.value) & pl.col("relation").is_in(excluded),
                )
            )
    return rules


def knowledge_edges(knowledge: pl.DataFrame) -> pl.DataFrame:
    """One edge per (head, relation, intention): search-buy knowledge hangs off the query and the
    product, co-buy knowledge off both products. Repeated edges merge (max scores, summed support).
    """
    scores = ["relation", "tail", "plausibility", "typicality", "support", "model", "run_id"]
    search_buy = knowledge.filter(pl.col("kind") == SEARCH_BUY)
    co_buy = knowledge.filter(pl.col("kind") == CO_BUY)
    heads = [
        search_buy.select(
            pl.lit(NodeLabel.QUERY.value).alias("head_label"), pl.col("query").alias("head"), *scores
        ),
        search_buy.select(
            pl.lit(NodeLabel.PRODUCT.value).alias("head_label"), pl.col("product_id").alias("head"), *scores
        ),
        co_buy.select(
            pl.lit(NodeLabel.PRODUCT.value).alias("head_label"), pl.col("product_id").alias("head"), *scores
        ),
        co_buy.select(
            pl.lit(NodeLabel.PRODUCT.value).alias("head_label"), pl.col("product_id_b").alias("head"), *scores
        ),
    ]
    return (
        pl.concat(heads)
        .group_by(EDGE_KEY, maintain_order=True)
        .agg(
            pl.col("plausibility").max(),
            pl.col("typicality").max(),
            pl.col("support").sum(),
            pl.col("model").first(),
            pl.col("run_id").first(),
        )
        .sort(["head_label", "relation", "head", "tail"])
    )


def knowledge_edge_groups(edges: pl.DataFrame) -> Iterator[tuple[NodeLabel, str, pl.DataFrame]]:
    """The knowledge edges by (head label, relation), in order; each a vocabulary pair."""
    for (label, relation), rows in edges.partition_by(
        ["head_label", "relation"], as_dict=True, maintain_order=True
    ).items():
        yield _vocabulary_pair(label, relation), str(relation), rows


def checked_knowledge_edges(edges: pl.DataFrame) -> pl.DataFrame:
    """``edges`` as they are, once every (head label, relation) among them is a vocabulary pair."""
    for label, relation in edges.select("head_label", "relation").unique().iter_rows():
        _vocabulary_pair(label, relation)
    return edges


def _vocabulary_pair(label: object, relation: object) -> NodeLabel:
    head = NodeLabel(str(label))
    if relation not in RELATIONS or head not in HEAD_KEYS:
        raise ValueError(f"not a vocabulary edge: {label}-{relation}")
    return head


def _intentions(knowledge: pl.DataFrame) -> pl.DataFrame:
    relation_tail_type = {name: r.tail_type for name, r in RELATIONS.items()}
    return (
        knowledge.with_columns(
            pl.col("tail_type").fill_null(
                pl.col("relation").replace_strict(relation_tail_type, default=None, return_dtype=pl.String())
            )
        )
        .group_by(pl.col("tail").alias("text"))
        .agg(pl.col("tail_type").drop_nulls().unique().sort().alias("tail_types"))
        .sort("text")
    )


def _behaviour_edges(knowledge: pl.DataFrame, pairs: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    cols = ["query", "product_id", "product_id_b"]
    both = pl.concat(
        [
            knowledge.select("kind", *cols, pl.lit(None, dtype=pl.Int64()).alias("count")),
            pairs.select("kind", *cols, pl.col("count").cast(pl.Int64())),
        ]
    )
    search_buy = (
        both.filter(pl.col("kind") == SEARCH_BUY)
        .group_by("query", "product_id")
        .agg(pl.col("count").max())
        .sort("query", "product_id")
    )
    co_buy = (
        _canonical_co_buy(both.filter(pl.col("kind") == CO_BUY))
        .group_by("product_id", "product_id_b")
        .agg(pl.col("count").max())
        .sort("product_id", "product_id_b")
    )
    return search_buy, co_buy


def prepare_graph(
    knowledge: pl.DataFrame, products: pl.DataFrame | None, pairs: pl.DataFrame | None, *, max_tail_chars: int
) -> PreparedGraph:
    """Validate all inputs and derive every node and edge table of one load."""
    rows_in = {"knowledge": knowledge.height} if knowledge.height else {}
    rejects: dict[str, pl.DataFrame] = {}
    catalog = PRODUCTS.empty()
    known: pl.Series | None = None
    if products is not None:
        rows_in["products"] = products.height
        catalog, rejects["products"] = prepare_products(products)
        known = catalog["product_id"]
    good_pairs = PAIRS.empty().with_columns(pl.col("count").cast(pl.Int64()))
    if pairs is not None:
        rows_in["pairs"] = pairs.height
        good_pairs, rejects["pairs"] = prepare_pairs(pairs, known)
    good_knowledge, rejects["knowledge"] = prepare_knowledge(knowledge, known, max_tail_chars)
    search_buy, co_buy = _behaviour_edges(good_knowledge, good_pairs)
    referenced = pl.concat([search_buy["product_id"], co_buy["product_id"], co_buy["product_id_b"]])
    return PreparedGraph(
        domains=catalog.select(pl.col("domain").alias("name")).unique().sort("name"),
        product_types=catalog.select(pl.col("product_type").alias("name")).drop_nulls().unique().sort("name"),
        products=catalog,
        product_keys=pl.DataFrame({"product_id": referenced})
        .unique()
        .filter(~pl.col("product_id").is_in(catalog["product_id"].implode()))
        .sort("product_id"),
        queries=search_buy.select(pl.col("query").alias("text")).unique().sort("text"),
        intentions=_intentions(good_knowledge),
        knowledge_edges=knowledge_edges(good_knowledge),
        search_buy_edges=search_buy,
        co_buy_edges=co_buy,
        rows_in=rows_in,
        rejects={name: frame for name, frame in rejects.items() if not frame.is_empty()},
    )


def read_inputs(
    knowledge: Path | None, products: Path | None, pairs: Path | None
) -> tuple[pl.DataFrame, pl.DataFrame | None, pl.DataFrame | None]:
    """Read the stage files a load takes; each is optional (no knowledge → an empty table)."""
    return (
        read_stage_file(knowledge, KNOWLEDGE) if knowledge else KNOWLEDGE.empty(),
        read_stage_file(products, PRODUCTS) if products else None,
        read_stage_file(pairs, PAIRS) if pairs else None,
    )
