"""Search-buy examples for the critic, built from real shopping queries and the product class bought.

Public search-buy knowledge with human labels does not exist, so the examples are constructed from
the WANDS queries (real queries, each with the Wayfair product class it targets) in three kinds,
all in the statement form the refine stage gives the critic ("the product is ..."):

- positives: for a query, other real queries that target the same product class, as interests of
  the buyer ("the product is bought by someone interested in unique coffee tables" for the query
  "smart coffee table"): people who buy that class search for them;
- mismatches: queries of other product classes in the same form (plausibility 0);
- restatements: tails that only restate the query or the class ("make a custom pergola" for
  "novara pergola"): plausible-sounding, no knowledge, so negatives (plausibility 0,
  informativeness 0). ``restatement_set`` gives one per query as the labelled set of the
  informativeness rule.

The context's product title is the class name: WANDS publishes no product titles here.
Behaviour ids are per query (``search_buy:wands:<query_id>``), so the split by pair is by query.
"""

from __future__ import annotations

import polars as pl

from cosmo_kg.refinement.annotations import ANNOTATIONS
from cosmo_kg.refinement.clauses import statement_expr
from cosmo_kg.vocabulary import BehaviorKind

SOURCE = "wands"
POSITIVES_PER_QUERY = 2
MISMATCHES_PER_QUERY = 2
RESTATEMENTS_PER_QUERY = 2

# (relation, tail template): {query} is the query, {head} its last word, {product_type} the class.
RESTATING_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("xWANT", "make a custom {head}"),
    ("xWANT", "create a custom {head}"),
    ("xWANT", "buy a new {head}"),
    ("xWANT", "get a {query}"),
    ("USED_FOR_FUNC", "{query}"),
    ("IS_A", "{query}"),
    ("xINTERESTED_IN", "{query}"),
    ("IS_A", "{product_type}"),
    ("USED_AS", "a {head}"),
    ("xWANT", "have a nice {query}"),
)


def read_queries(path: str) -> pl.DataFrame:
    """The WANDS query file (tab-separated ``query_id, query, query_class``)."""
    return (
        pl.read_csv(path, separator="\t", infer_schema=False)
        .select(
            pl.col("query_id").cast(pl.Int64),
            pl.col("query").str.strip_chars(),
            pl.col("query_class").str.strip_chars(),
        )
        .drop_nulls()
        .sort("query_id")
    )


def _context(query: dict[str, object]) -> dict[str, object]:
    return {
        "behavior_id": f"search_buy:wands:{query['query_id']}",
        "kind": BehaviorKind.SEARCH_BUY.value,
        "query": query["query"],
        "product_id": f"wands-class:{query['query_class']}",
        "title": query["query_class"],
        "domain": None,
    }


def restating_tail(query: dict[str, object], template: str) -> str:
    text = str(query["query"]).lower()
    return template.format(query=text, head=text.split()[-1], product_type=str(query["query_class"]).lower())


def _rows(queries: pl.DataFrame) -> list[dict[str, object]]:
    records = queries.to_dicts()
    by_class: dict[str, list[dict[str, object]]] = {}
    for record in records:
        by_class.setdefault(str(record["query_class"]), []).append(record)
    rows = []
    for index, record in enumerate(records):
        peers = [p for p in by_class[str(record["query_class"])] if p["query_id"] != record["query_id"]]
        others = [records[(index + 1 + step * 37) % len(records)] for step in range(len(records))]
        others = [o for o in others if o["query_class"] != record["query_class"]][:MISMATCHES_PER_QUERY]
        context = _context(record)
        for peer in peers[:POSITIVES_PER_QUERY]:
            rows.append(
                context
                | {
                    "relation": "xINTERESTED_IN",
                    "tail": str(peer["query"]).lower(),
                    "plausibility": 1.0,
                    "typicality": None,
                    "informativeness": None,
                }
            )
        for other in others:
            rows.append(
                context
                | {
                    "relation": "xINTERESTED_IN",
                    "tail": str(other["query"]).lower(),
                    "plausibility": 0.0,
                    "typicality": 0.0,
                    "informativeness": None,
                }
            )
        for step in range(RESTATEMENTS_PER_QUERY):
            relation, template = RESTATING_TEMPLATES[(index + step) % len(RESTATING_TEMPLATES)]
            rows.append(
                context
                | {
                    "relation": relation,
                    "tail": restating_tail(record, template),
                    "plausibility": 0.0,
                    "typicality": 0.0,
                    "informativeness": 0.0,
                }
            )
    return rows


def search_buy_annotations(queries: pl.DataFrame) -> pl.DataFrame:
    """Annotation rows (``ANNOTATIONS``) of constructed search-buy examples; see the module docstring."""
    frame = pl.DataFrame(_rows(queries), infer_schema_length=None).with_columns(statement_expr())
    frame = frame.with_columns(
        annotation_id=pl.concat_str(
            pl.lit(f"{SOURCE}:constructed:"), "behavior_id", pl.lit(":"), "relation", pl.lit(":"), "tail"
        ),
        source=pl.lit(SOURCE),
        annotator=pl.lit("constructed"),
    )
    return (
        ANNOTATIONS.conform(frame.lazy()).collect().unique("annotation_id", keep="first", maintain_order=True)
    )


def restatement_set(queries: pl.DataFrame) -> pl.DataFrame:
    """The labelled restatements: per real query, one restating tail (templates taken in turn)."""
    rows = []
    for index, record in enumerate(queries.to_dicts()):
        relation, template = RESTATING_TEMPLATES[index % len(RESTATING_TEMPLATES)]
        rows.append(
            _context(record)
            | {
                "product_type": record["query_class"],
                "relation": relation,
                "template": template,
                "tail": restating_tail(record, template),
            }
        )
    return pl.DataFrame(rows, infer_schema_length=None).with_columns(statement_expr())


TITLE_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("IS_A", "{words}"),
    ("USED_AS", "{words}"),
    ("xWANT", "buy a new {words}"),
    ("xINTERESTED_IN", "{words}"),
)


def title_restatement_set(pairs: pl.DataFrame, size: int = 120, words: int = 3) -> pl.DataFrame:
    """Co-buy restatements from real product titles: a tail made of the first title's opening words.

    ``pairs`` has ``behavior_id``, ``title`` and ``title_b``; the first ``size`` distinct pairs are used.
    """
    chosen = pairs.unique("behavior_id", keep="first").sort("behavior_id").head(size)
    rows = []
    for index, record in enumerate(chosen.select("behavior_id", "title", "title_b").to_dicts()):
        relation, template = TITLE_TEMPLATES[index % len(TITLE_TEMPLATES)]
        opening = " ".join(str(record["title"]).lower().split()[:words])
        rows.append(
            record
            | {
                "kind": BehaviorKind.CO_BUY.value,
                "query": None,
                "product_type": None,
                "relation": relation,
                "template": template,
                "tail": template.format(words=opening),
            }
        )
    return pl.DataFrame(rows, infer_schema_length=None).with_columns(statement_expr())
