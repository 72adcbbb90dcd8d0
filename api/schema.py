"""The GraphQL schema: the root fields over the reads, loaders and applications, and the limits.

``Relation`` is generated from the shared vocabulary, so a new relation row appears here
without edits. The exported SDL lives in ``docs/schema.graphql`` (a test checks it). The node
types are in ``nodes.py``, the applications' answer types in ``application_types.py``.
"""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from cosmo_kg.api import applications, statements
from cosmo_kg.api.application_types import (
    Count,
    Navigation,
    Recommendation,
    Relevance,
    ScoredIntention,
    SemanticHit,
    Stats,
    facet,
)
from cosmo_kg.api.arguments import ApiContext, Relation, asked_intentions, ctx, page_size
from cosmo_kg.api.nodes import Intention, Product, SearchQuery
from cosmo_kg.api.settings import ApiSettings
from cosmo_kg.text import clean_text, text_key

__all__ = ["ApiContext", "build_schema", "schema_sdl"]


@strawberry.type
class Query:
    @strawberry.field(description="A product by id.")
    async def product(self, info: Info, id: strawberry.ID) -> Product | None:
        record = await ctx(info).loaders.product(clean_text(str(id)), asked_intentions(info))
        return Product.of(record) if record else None

    @strawberry.field(description="A known search query (lower-cased key).")
    async def search_query(self, info: Info, text: str) -> SearchQuery | None:
        key = text_key(text)
        known = await ctx(info).loaders.query_known(key, asked_intentions(info))
        return SearchQuery(text=key) if known else None

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
            facets=[facet(f.intention, [Product.of(p.product) for p in f.products]) for f in nav.facets],
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
                product=Product.of(r.product),
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
        names = statements.STAT_NAMES
        counts = [(r["kind"], Count(name=names[r["kind"]][r["i"]], count=r["n"])) for r in rows if r["n"]]
        nodes = [count for kind, count in counts if kind == "node"]
        edges = [count for kind, count in counts if kind == "edge"]
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
