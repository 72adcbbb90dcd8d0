"""The GraphQL types of the graph's nodes — products, search queries, intentions — and of the
knowledge links between them; thin resolvers over the request's DataLoaders."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from cosmo_kg.api import feature_store
from cosmo_kg.api.arguments import (
    INTENTIONS_PAGE,
    Relation,
    ctx,
    edge_filter,
    encode_cursor,
    page_size,
    relation_name,
)
from cosmo_kg.api.reads import CountedProduct, ProductRecord
from cosmo_kg.api.reads import IntentionEdge as EdgeRecord
from cosmo_kg.vocabulary import NodeLabel


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
        relation: Relation | None = None,
        first: int = 10,
    ) -> list[ProductLink]:
        key = (self.text, edge_filter(info, relation_name(relation), 0.0, 0.0, first))
        edges = await ctx(info).loaders.intention_products.load(key)
        return [ProductLink(**link_scores(e), product=Product.of(e.product)) for e in edges if e.product]

    @strawberry.field(description="Search queries with this intention, strongest first.")
    async def queries(
        self,
        info: Info,
        relation: Relation | None = None,
        first: int = 10,
    ) -> list[QueryLink]:
        key = (self.text, edge_filter(info, relation_name(relation), 0.0, 0.0, first))
        edges = await ctx(info).loaders.intention_queries.load(key)
        return [QueryLink(**link_scores(e), query=SearchQuery(text=e.query)) for e in edges if e.query]


@strawberry.type
class IntentionEdge:
    cursor: str
    relation: Relation
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


async def head_intentions(
    root: Product | SearchQuery,
    info: Info,
    relation: Relation | None = None,
    min_plausibility: float = 0.0,
    min_typicality: float = 0.0,
    first: int = INTENTIONS_PAGE,
    after: str | None = None,
    domain: DomainArgument = None,
) -> IntentionConnection:
    """The ``intentions`` field of products and queries (a page the parent read ahead is primed)."""
    f = edge_filter(info, relation_name(relation), min_plausibility, min_typicality, first, after, domain)
    label, key = root.head()
    page = await ctx(info).loaders.intentions(label).load((key, f))
    return connection(page.edges, f.offset, page.has_next)


async def head_purchases(root: Product | SearchQuery, info: Info, first: int = 10) -> list[Purchase]:
    """Products bought with a product (co-buy) or after a search (search-buy), most often first."""
    label, key = root.head()
    loaders = ctx(info).loaders
    loader = loaders.co_bought if label is NodeLabel.PRODUCT else loaders.purchased
    return [purchase(c) for c in await loader.load((key, page_size(info, first)))]


async def head_features(root: Product | SearchQuery, info: Info) -> Features | None:
    """The feature-store features of a product or a query."""
    found = await ctx(info).features.get(*root.head())
    return Features.of(found) if found else None


@strawberry.type
class Product:
    id: strawberry.ID
    title: str | None
    product_type: str | None
    domain: str | None
    brand: str | None
    popularity: float | None

    @classmethod
    def of(cls, record: ProductRecord) -> Product:
        return cls(
            id=strawberry.ID(record.product_id),
            title=record.title,
            product_type=record.product_type,
            domain=record.domain,
            brand=record.brand,
            popularity=record.popularity,
        )

    def head(self) -> tuple[NodeLabel, str]:
        return NodeLabel.PRODUCT, self.id

    intentions: IntentionConnection = strawberry.field(
        resolver=head_intentions, description="Knowledge about this product, best first, one page at a time."
    )

    co_bought: list[Purchase] = strawberry.field(
        resolver=head_purchases, description="Products bought together with this one, most often first."
    )
    features: Features | None = strawberry.field(
        resolver=head_features, description="Structured features (feature store)."
    )


@strawberry.type
class Purchase:
    count: int
    product: Product


def purchase(item: CountedProduct) -> Purchase:
    return Purchase(count=int(item.weight), product=Product.of(item.product))


@strawberry.type
class ProductLink:
    relation: Relation
    plausibility: float
    typicality: float
    product: Product


@strawberry.type
class SearchQuery:
    text: str

    def head(self) -> tuple[NodeLabel, str]:
        return NodeLabel.QUERY, self.text

    intentions: IntentionConnection = strawberry.field(
        resolver=head_intentions, description="Knowledge about this query, best first, one page at a time."
    )

    purchased: list[Purchase] = strawberry.field(
        resolver=head_purchases, description="Products bought after this search, most often first."
    )
    features: Features | None = strawberry.field(
        resolver=head_features, description="Structured features (feature store)."
    )


@strawberry.type
class QueryLink:
    relation: Relation
    plausibility: float
    typicality: float
    query: SearchQuery


@strawberry.type
class RelationIntentions:
    relation: Relation
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
