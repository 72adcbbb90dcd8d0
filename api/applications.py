"""The paper's applications over the graph: search navigation, session recommendation and
query-product relevance features (SPEC §1.7)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from cosmo_kg.api import statements
from cosmo_kg.api.answers import AnswerItem, AnswerService
from cosmo_kg.api.reads import CountedProduct, EdgeFilter, GraphReader, ProductRecord
from cosmo_kg.text import clean_text, text_key
from cosmo_kg.vocabulary import NodeLabel

RELEVANCE_EDGES = 200
# Intentions each session product contributes, and products considered per shared intention.
RECOMMEND_PER_PRODUCT = 20
RECOMMEND_FANOUT = 50


@dataclass(frozen=True)
class Facet:
    intention: AnswerItem
    products: list[CountedProduct]


@dataclass(frozen=True)
class Navigation:
    query: str
    source: str
    facets: list[Facet] = field(default_factory=list)


@dataclass(frozen=True)
class SharedIntention:
    text: str
    relation: str
    weight: float


@dataclass(frozen=True)
class Recommendation:
    product: ProductRecord
    score: float
    shared_intentions: list[SharedIntention]


@dataclass(frozen=True)
class Relevance:
    """Intention-overlap features of a (query, product) pair and the score they give."""

    query: str
    product_id: str
    query_source: str
    query_intentions: int
    product_intentions: int
    shared: list[str]
    jaccard: float
    coverage: float
    search_buy_count: int
    score: float


async def navigate(
    answers: AnswerService, reader: GraphReader, query: str, facets: int, per_facet: int
) -> Navigation:
    """Query → its strongest intentions (distinct texts) as facets → products under each."""
    answer = await answers.answer(query)
    chosen: dict[str, AnswerItem] = {}
    for item in answer.intentions:
        if len(chosen) == facets:
            break
        chosen.setdefault(item.text, item)
    products = await reader.counted(statements.FACET_PRODUCTS, list(chosen), per_facet)
    return Navigation(
        answer.query, answer.source, [Facet(item, products.get(text, [])) for text, item in chosen.items()]
    )


async def recommend(reader: GraphReader, product_ids: Sequence[str], k: int) -> list[Recommendation]:
    """Products that complement a session, each with the shared intentions that explain it."""
    ids = list(dict.fromkeys(clean_text(p) for p in product_ids))
    rows = await reader.rows(
        statements.RECOMMEND, ids=ids, k=k, per_product=RECOMMEND_PER_PRODUCT, fanout=RECOMMEND_FANOUT
    )
    return [
        Recommendation(
            ProductRecord.of(row["product"]),
            round(float(row["score"]), 6),
            sorted(
                (
                    SharedIntention(e["text"], e["relation"], round(float(e["weight"]), 6))
                    for e in row["explanations"]
                ),
                key=lambda s: (-s.weight, s.text),
            )[:5],
        )
        for row in rows
    ]


def _weights(items: Sequence[AnswerItem]) -> dict[str, float]:
    weights: dict[str, float] = {}
    for item in items:
        weights[item.text] = max(weights.get(item.text, 0.0), item.score)
    return weights


async def relevance(answers: AnswerService, reader: GraphReader, query: str, product_id: str) -> Relevance:
    """Overlap of the query's and the product's intentions.

    coverage = the share of the query's intention weight the product also has; the score mixes
    coverage, Jaccard overlap and direct search-buy evidence (log-scaled, saturating at 10).
    """
    key, pid = text_key(query), clean_text(product_id)
    answer = await answers.answer(key)
    pages = await reader.head_intentions(NodeLabel.PRODUCT, [pid], EdgeFilter(limit=RELEVANCE_EDGES))
    product_items = [AnswerItem.of_edge(e) for e in pages[pid].edges] if pid in pages else []
    (count_row,) = await reader.rows(statements.SEARCH_BUY_COUNT, query=key, product_id=pid)
    q, p = _weights(answer.intentions), _weights(product_items)
    shared = sorted(set(q) & set(p), key=lambda t: (-q[t], t))
    union = len(set(q) | set(p))
    jaccard = len(shared) / union if union else 0.0
    coverage = sum(min(q[t], p[t]) for t in shared) / (sum(q.values()) or 1.0)
    count = int(count_row["count"])
    behaviour = min(1.0, math.log1p(count) / math.log1p(10))
    score = 0.6 * coverage + 0.2 * jaccard + 0.2 * behaviour
    return Relevance(
        key,
        pid,
        answer.source,
        len(q),
        len(p),
        shared,
        round(jaccard, 6),
        round(coverage, 6),
        count,
        round(score, 6),
    )
