"""Annotation records: the five questions of the paper, per candidate and annotator.

An annotation row holds the behaviour context (titles, query), the candidate (relation, tail and
the ``statement`` the critic reads) and the answers in [0, 1] (null = not asked): completeness,
relevance, informativeness, plausibility, typicality.
"""

from __future__ import annotations

import polars as pl

from cosmo_kg.schemas import FileSchema

QUESTIONS: dict[str, str] = {
    "completeness": "Is the explanation a complete, grammatical phrase?",
    "relevance": "Is it relevant to the behaviour (the query and the product(s))?",
    "informativeness": "Does it add information beyond repeating the query / product titles?",
    "plausibility": "Is it a plausible reason for this behaviour?",
    "typicality": "Is it a typical reason: would many customers buy for it?",
}

ANNOTATIONS = FileSchema(
    "annotations",
    {
        "annotation_id": pl.String(),
        "source": pl.String(),
        "annotator": pl.String(),
        "behavior_id": pl.String(),
        "kind": pl.String(),
        "query": pl.String(),
        "product_id": pl.String(),
        "product_id_b": pl.String(),
        "title": pl.String(),
        "title_b": pl.String(),
        "domain": pl.String(),
        "relation": pl.String(),
        "tail": pl.String(),
        "statement": pl.String(),
        **{question: pl.Float64() for question in QUESTIONS},
    },
    required=("behavior_id", "kind", "title", "statement"),
)


def pair_behavior_id(product_id: str, product_id_b: str) -> str:
    """A readable, order-free id for a co-buy pair of the public data sets."""
    first, second = sorted((product_id, product_id_b))
    return f"co_buy:{first}|{second}"
