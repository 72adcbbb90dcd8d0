"""The GraphQL types of the applications' answers: semantic hits, navigation facets,
recommendations, relevance features and graph counts."""

from __future__ import annotations

import strawberry

from cosmo_kg.api.answers import AnswerItem
from cosmo_kg.api.arguments import Relation
from cosmo_kg.api.nodes import Intention, Product


@strawberry.type
class SemanticHit:
    score: float
    intention: Intention


@strawberry.type
class ScoredIntention:
    intention: Intention
    relation: Relation | None
    score: float

    @classmethod
    def of(cls, item: AnswerItem) -> ScoredIntention:
        return cls(
            intention=Intention(text=item.text),
            score=item.score,
            relation=Relation[item.relation] if item.relation else None,
        )


@strawberry.type
class Facet:
    intention: Intention
    relation: Relation | None
    score: float
    products: list[Product]


def facet(item: AnswerItem, products: list[Product]) -> Facet:
    return Facet(
        intention=Intention(text=item.text),
        score=item.score,
        products=products,
        relation=Relation[item.relation] if item.relation else None,
    )


@strawberry.type
class Navigation:
    query: str
    source: str = strawberry.field(description="tier1, tier2, graph or semantic")
    facets: list[Facet] = strawberry.field(description="intentions, strongest first")


@strawberry.type
class Recommendation:
    product: Product
    score: float
    shared_intentions: list[ScoredIntention]


@strawberry.type
class Relevance:
    query: str
    product_id: strawberry.ID
    query_source: str
    query_intentions: int
    product_intentions: int
    shared_intentions: list[str]
    jaccard: float
    coverage: float
    search_buy_count: int
    score: float


@strawberry.type
class Count:
    name: str
    count: int


@strawberry.type
class Stats:
    nodes: list[Count]
    edges: list[Count]
    total_nodes: int
    total_edges: int
