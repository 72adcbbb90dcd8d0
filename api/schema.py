"""The GraphQL schema: thin resolvers over the reads, loaders and applications.

``Relation`` is generated from the shared vocabulary, so a new relation row appears here
without edits. The exported SDL lives in ``docs/schema.graphql`` (a test checks it).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, cast

import strawberry
from strawberry.fastapi import BaseContext
from strawberry.types import Info

from cosmo_kg.api import applications, statements
from cosmo_kg.api import features as feature_store
from cosmo_kg.api.answers import AnswerItem, AnswerService
from cosmo_kg.api.features import FeatureService
from cosmo_kg.api.index import SemanticIndex
from cosmo_kg.api.loaders import Loaders
from cosmo_kg.api.lookahead import plain_page_size
from cosmo_kg.api.reads import CountedProduct, EdgeFilter, GraphReader, ProductRecord
from cosmo_kg.api.reads import IntentionEdge as EdgeRecord
from cosmo_kg.api.settings import ApiSettings
from cosmo_kg.errors import InputError
from cosmo_kg.graph.retract import normalize_domain_name
from cosmo_kg.text import clean_text, text_key
from cosmo_kg.vocabulary import DOMAINS, RELATIONS, NodeLabel

INTENTIONS_PAGE = 10  # the default `first` of intentions fields
_RELATION_ENUM: Any = Enum("Relation", {name: name for name in RELATIONS})  # type: ignore[misc]
Relation = strawberry.enum(
    _RELATION_ENUM,
    description="The commonsense relations of the knowledge graph (SPEC §2).",
)


@dataclass
class ApiContext(BaseContext):
    settings: ApiSettings
    reader: GraphReader
    loaders: Loaders
    answers: AnswerService
    features: FeatureService
    index: SemanticIndex | None


def ctx(info: Info) -> ApiContext:
    return cast(ApiContext, info.context)


def page_size(info: Info, first: int, name: str = "first") -> int:
    limit = ctx(info).settings.max_page_size
    if not 0 <= first <= limit:
        raise InputError(f"{name} must be between 0 and {limit}, got {first}")
    return first


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def decode_cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        kind, _, number = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind == "offset" and number.isdigit():
            return int(number) + 1
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InputError(f"after is not a cursor of this API: {cursor!r}", hint="pass a pageInfo.endCursor")


def edge_filter(
    info: Info,
    relation: Any,
    min_plausibility: float,
    min_typicality: float,
    first: int,
    after: str | None = None,
    domain: str | None = None,
) -> EdgeFilter:
    return EdgeFilter(
        (relation.value,) if relation is not None else None,
        min_plausibility,
        min_typicality,
        decode_cursor(after),
        page_size(info, first),
        known_domain(domain),
    )


def known_domain(domain: str | None) -> str | None:
    """A domain argument in the vocabulary's spelling (any case); ``InputError`` if unknown."""
    if domain is None:
        return None
    spelled = normalize_domain_name(domain)
    if spelled not in DOMAINS:
        raise InputError(f"unknown domain {domain!r}", hint=f"use one of: {'; '.join(DOMAINS)}")
    return spelled


def asked_intentions(info: Info) -> EdgeFilter | None:
    """The unfiltered first page of intentions the selection asks of this product, if it does."""
    first = plain_page_size(info, "intentions", INTENTIONS_PAGE)
    if first is None or not 0 <= first <= ctx(info).settings.max_page_size:
        return None  # the field resolver reports a bad size
    return EdgeFilter(limit=first)


def link_scores(edge: Any) -> dict[str, Any]:
    """The relation and scores that every knowledge link carries."""
    return {
        "relation": Relation[edge.relation],
        "plausibility": edge.plausibility,
        "typicality": edge.typicality,
    }


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Intention:
    text: str

    @strawberry.field(description="Tail types of the relations that reach this intention.")
    async def tail_types(self, info: Info) -> list[str]:
        return list(await ctx(info).loaders.tail_types.load((self.text, None)))

    @strawberry.field(description="Products with this intention, strongest first.")
    async def products(
        self,
        info: Info,
        relation: Relation | None = None,  # type: ignore[valid-type]
        first: int = 10,
    ) -> list[ProductLink]:
        key = (self.text, edge_filter(info, relation, 0.0, 0.0, first))
        edges = await ctx(info).loaders.intention_products.load(key)
        return [ProductLink(**link_scores(e), product=Product(record=e.product)) for e in edges if e.product]

    @strawberry.field(description="Search queries with this intention, strongest first.")
    async def queries(
        self,
        info: Info,
        relation: Relation | None = None,  # type: ignore[valid-type]
        first: int = 10,
    ) -> list[QueryLink]:
        key = (self.text, edge_filter(info, relation, 0.0, 0.0, first))
        edges = await ctx(info).loaders.intention_queries.load(key)
        return [QueryLink(**link_scores(e), query=SearchQuery(text=e.query)) for e in edges if e.query]


@strawberry.type
class IntentionEdge:
    cursor: str
    relation: Relation  # type: ignore[valid-type]
    plausibility: float
    typicality: float
    support: int | None
    node: Intention


@strawberry.type
class IntentionConnection:
    edges: list[IntentionEdge]
    page_info: PageInfo


def connection(edges: list[EdgeRecord], offset: int, has_next: bool) -> IntentionConnection:
    items = [
        IntentionEdge(
            cursor=encode_cursor(offset + i), **link_scores(e), support=e.support, node=Intention(text=e.text)
        )
        for i, e in enumerate(edges)
    ]
    return IntentionConnection(
        edges=items,
        page_info=PageInfo(has_next_page=has_next, end_cursor=items[-1].cursor if items else None),
    )


# The `domain` argument of both intentions fields.
DomainArgument = Annotated[
    str | None,
    strawberry.argument(
        description="only knowledge of this domain: a product's own, or for a query that "
        "of the products it bought"
    ),
]

@strawberry.type
class Product:
    record: strawberry.Private[ProductRecord]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.record.product_id)

    @strawberry.field
    def title(self) -> str | None:
        return self.record.title

    @strawberry.field
    def product_type(self) -> str | None:
        return self.record.product_type

    @strawberry.field
    def domain(self) -> str | None:
        return self.record.domain

    @strawberry.field
    def brand(self) -> str | None:
        return self.record.brand

    @strawberry.field
    def popularity(self) -> float | None:
        return self.record.popularity

    @strawberry.field(description="Knowledge about this product, best first, one page at a time.")
    async def intentions(
        self,
        info: Info,
        relation: Relation | None = None,  # type: ignore[valid-type]
        min_plausibility: float = 0.0,
        min_typicality: float = 0.0,
        first: int = INTENTIONS_PAGE,
        after: str | None = None,
        domain: DomainArgument = None,
    ) -> IntentionConnection:
        f = edge_filter(info, relation, min_plausibility, min_typicality, first, after, domain)
        page = await ctx(info).loaders.product_intentions.load((self.record.product_id, f))
        return connection(page.edges, f.offset, page.has_next)

    @strawberry.field(description="Products bought together with this one, most often first.")
    async def co_bought(self, info: Info, first: int = 10) -> list[Purchase]:
        key = (self.record.product_id, page_size(info, first))
        return [purchase(c) for c in await ctx(info).loaders.co_bought.load(key)]

    @strawberry.field(description="Structured features (feature store).")
    async def features(self, info: Info) -> Features | None:
        found = await ctx(info).features.get(NodeLabel.PRODUCT, self.record.product_id)
        return Features.of(found) if found else None


@strawberry.type
class Purchase:
    count: int
    product: Product


def purchase(item: CountedProduct) -> Purchase:
    return Purchase(count=int(item.weight), product=Product(record=item.product))


@strawberry.type
class ProductLink:
    relation: Relation  # type: ignore[valid-type]
    plausibility: float
    typicality: float
    product: Product


@strawberry.type
class SearchQuery:
    text: str

    @strawberry.field(description="Knowledge about this query, best first, one page at a time.")
    async def intentions(
        self,
        info: Info,
        relation: Relation | None = None,  # type: ignore[valid-type]
        min_plausibility: float = 0.0,
        min_typicality: float = 0.0,
        first: int = INTENTIONS_PAGE,
        after: str | None = None,
        domain: DomainArgument = None,
    ) -> IntentionConnection:
        f = edge_filter(info, relation, min_plausibility, min_typicality, first, after, domain)
        page = await ctx(info).loaders.query_intentions.load((self.text, f))
        return connection(page.edges, f.offset, page.has_next)

    @strawberry.field(description="Products bought after this search, most often first.")
    async def purchased(self, info: Info, first: int = 10) -> list[Purchase]:
        key = (self.text, page_size(info, first))
        return [purchase(c) for c in await ctx(info).loaders.purchased.load(key)]

    @strawberry.field(description="Structured features (feature store).")
    async def features(self, info: Info) -> Features | None:
        found = await ctx(info).features.get(NodeLabel.QUERY, self.text)
        return Features.of(found) if found else None


@strawberry.type
class QueryLink:
    relation: Relation  # type: ignore[valid-type]
    plausibility: float
    typicality: float
    query: SearchQuery


@strawberry.type
class SemanticHit:
    score: float
    intention: Intention


@strawberry.type
class ScoredIntention:
    intention: Intention
    relation: Relation | None  # type: ignore[valid-type]
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
    relation: Relation | None  # type: ignore[valid-type]
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
class RelationIntentions:
    relation: Relation  # type: ignore[valid-type]
    intentions: list[str]
    scores: list[float]


@strawberry.type
class TypeShare:
    product_type: str
    share: float


@strawberry.type
class Features:
    top_intentions: list[RelationIntentions]
    product_types: list[TypeShare] = strawberry.field(
        description="queries: types bought after the search; products: types bought with it"
    )
    strong_intent: bool

    @classmethod
    def of(cls, f: feature_store.Features) -> Features:
        return cls(
            top_intentions=[
                RelationIntentions(relation=Relation[r.relation], intentions=r.intentions, scores=r.scores)
                for r in f.top_intentions
            ],
            product_types=[TypeShare(product_type=t.product_type, share=t.share) for t in f.product_types],
            strong_intent=f.strong_intent,
        )


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


@strawberry.type
class Query:
    @strawberry.field(description="A product by id.")
    async def product(self, info: Info, id: strawberry.ID) -> Product | None:
        record = await ctx(info).loaders.product(clean_text(str(id)), asked_intentions(info))
        return Product(record=record) if record else None

    @strawberry.field(description="A known search query (lower-cased key).")
    async def search_query(self, info: Info, text: str) -> SearchQuery | None:
        key = text_key(text)
        known = await ctx(info).reader.known_queries([key])
        return SearchQuery(text=key) if key in known else None

    @strawberry.field(description="An intention by its text.")
    async def intention(self, info: Info, text: str) -> Intention | None:
        key = text_key(text)
        found = await ctx(info).reader.intention_tail_types([key])
        return Intention(text=key) if key in found else None

    @strawberry.field(description="Intentions nearest in meaning to any text (FAISS).")
    async def semantic_search(self, info: Info, text: str, k: int = 10) -> list[SemanticHit]:
        hits = await ctx(info).answers.search(text, page_size(info, k, "k"))
        return [SemanticHit(score=round(h.score, 6), intention=Intention(text=h.text)) for h in hits]

    @strawberry.field(description="Search navigation: the query's intentions as facets, products under each.")
    async def navigate(
        self, info: Info, query: str, facets: int = 5, products_per_facet: int = 5
    ) -> Navigation:
        c = ctx(info)
        nav = await applications.navigate(
            c.answers,
            c.reader,
            query,
            page_size(info, facets, "facets"),
            page_size(info, products_per_facet, "productsPerFacet"),
        )
        return Navigation(
            query=nav.query,
            source=nav.source,
            facets=[facet(f.intention, [Product(record=p.product) for p in f.products]) for f in nav.facets],
        )

    @strawberry.field(description="Session recommendation: complementary products and why.")
    async def recommend(
        self, info: Info, product_ids: list[strawberry.ID], k: int = 10
    ) -> list[Recommendation]:
        page_size(info, len(product_ids), "productIds")
        found = await applications.recommend(
            ctx(info).reader, [str(p) for p in product_ids], page_size(info, k, "k")
        )
        return [
            Recommendation(
                product=Product(record=r.product),
                score=r.score,
                shared_intentions=[
                    ScoredIntention(
                        intention=Intention(text=s.text), relation=Relation[s.relation], score=s.weight
                    )
                    for s in r.shared_intentions
                ],
            )
            for r in found
        ]

    @strawberry.field(description="Intention-overlap relevance features of a query and a product.")
    async def relevance(self, info: Info, query: str, product_id: strawberry.ID) -> Relevance:
        c = ctx(info)
        r = await applications.relevance(c.answers, c.reader, query, str(product_id))
        return Relevance(
            query=r.query,
            product_id=strawberry.ID(r.product_id),
            query_source=r.query_source,
            query_intentions=r.query_intentions,
            product_intentions=r.product_intentions,
            shared_intentions=r.shared,
            jaccard=r.jaccard,
            coverage=r.coverage,
            search_buy_count=r.search_buy_count,
            score=r.score,
        )

    @strawberry.field(description="Cached intentions of a query (tier 1, tier 2, else graph or semantic).")
    async def query_intentions(self, info: Info, query: str) -> Navigation:
        answer = await ctx(info).answers.answer(query)
        return Navigation(
            query=answer.query, source=answer.source, facets=[facet(i, []) for i in answer.intentions]
        )

    @strawberry.field(description="Node and edge counts.")
    async def stats(self, info: Info) -> Stats:
        rows = await ctx(info).reader.rows(statements.STATS)
        nodes = [Count(name=r["name"], count=r["n"]) for r in rows if r["kind"] == "node" and r["n"]]
        edges = [Count(name=r["name"], count=r["n"]) for r in rows if r["kind"] == "edge" and r["n"]]
        return Stats(
            nodes=nodes,
            edges=edges,
            total_nodes=sum(c.count for c in nodes),
            total_edges=sum(c.count for c in edges),
        )


def build_schema(settings: ApiSettings) -> strawberry.Schema:
    """The schema with depth, token and alias limits and the error-code extension."""
    from strawberry.extensions import (
        AddValidationRules,
        MaxAliasesLimiter,
        MaxTokensLimiter,
        QueryDepthLimiter,
    )

    from cosmo_kg.api.documents import DocumentCache
    from cosmo_kg.api.errors import ErrorCodes

    documents = [DocumentCache(settings.document_cache).extension()] if settings.document_cache else []
    # The limiters build a validation rule class each time one is made: once here, not per request.
    limits = [
        *QueryDepthLimiter(max_depth=settings.max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
    ]
    return strawberry.Schema(
        query=Query,
        extensions=[
            *documents,
            lambda: AddValidationRules(limits),
            lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
            ErrorCodes,
        ],
    )


def schema_sdl() -> str:
    """The SDL exported to docs/schema.graphql."""
    return build_schema(ApiSettings()).as_str() + "\n"
