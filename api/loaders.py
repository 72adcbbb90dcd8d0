"""Per-request DataLoaders: every nested list field costs one Cypher round trip per request
level, not one per parent (no N+1)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from functools import cached_property, partial
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

from cosmo_kg.api import statements
from cosmo_kg.api.reads import (
    CountedProduct,
    EdgeFilter,
    GraphReader,
    HeadEdge,
    Page,
    ProductPage,
    ProductRecord,
)
from cosmo_kg.vocabulary import NodeLabel

A = TypeVar("A", bound=Hashable)
V = TypeVar("V")


def grouped_loader(
    fetch: Callable[[list[str], A], Awaitable[dict[str, V]]], default: Callable[[], Any]
) -> DataLoader[tuple[str, A], V]:
    """A loader over (key, arguments) pairs: one fetch per distinct arguments in the batch
    (usually one, since sibling parents share their field's arguments)."""

    async def load(pairs: Sequence[tuple[str, A]]) -> list[V]:
        by_args: dict[A, list[str]] = defaultdict(list)
        for key, args in pairs:
            by_args[args].append(key)
        found: dict[tuple[str, A], V] = {}
        for args, keys in by_args.items():
            rows = await fetch(list(dict.fromkeys(keys)), args)
            found.update({(key, args): rows[key] for key in keys if key in rows})
        return [found[pair] if pair in found else default() for pair in pairs]

    return DataLoader(load_fn=load)


class Loaders:
    """The DataLoaders of one request, each made when a field first asks for it (a request uses few)."""

    def __init__(self, reader: GraphReader) -> None:
        self.reader = reader

    @cached_property
    def products(self) -> DataLoader[tuple[str, None], ProductRecord | None]:
        return grouped_loader(lambda keys, _: self.reader.products(keys), lambda: None)

    @cached_property
    def products_with_intentions(self) -> DataLoader[tuple[str, EdgeFilter], ProductPage | None]:
        return grouped_loader(self.reader.products_with_intentions, lambda: None)

    @cached_property
    def queries_with_intentions(self) -> DataLoader[tuple[str, EdgeFilter], Page | None]:
        # A query's page has a row exactly when the query is known: None tells an unknown one.
        return grouped_loader(partial(self.reader.head_intentions, NodeLabel.QUERY), lambda: None)

    @cached_property
    def tail_types(self) -> DataLoader[tuple[str, None], tuple[str, ...]]:
        return grouped_loader(lambda keys, _: self.reader.intention_tail_types(keys), tuple)

    @cached_property
    def product_intentions(self) -> DataLoader[tuple[str, EdgeFilter], Page]:
        return grouped_loader(partial(self.reader.head_intentions, NodeLabel.PRODUCT), Page)

    @cached_property
    def query_intentions(self) -> DataLoader[tuple[str, EdgeFilter], Page]:
        return grouped_loader(partial(self.reader.head_intentions, NodeLabel.QUERY), Page)

    @cached_property
    def intention_products(self) -> DataLoader[tuple[str, EdgeFilter], list[HeadEdge]]:
        return grouped_loader(partial(self.reader.intention_heads, NodeLabel.PRODUCT), list)

    @cached_property
    def intention_queries(self) -> DataLoader[tuple[str, EdgeFilter], list[HeadEdge]]:
        return grouped_loader(partial(self.reader.intention_heads, NodeLabel.QUERY), list)

    @cached_property
    def co_bought(self) -> DataLoader[tuple[str, int], list[CountedProduct]]:
        return grouped_loader(partial(self.reader.counted, statements.CO_BOUGHT), list)

    @cached_property
    def purchased(self) -> DataLoader[tuple[str, int], list[CountedProduct]]:
        return grouped_loader(partial(self.reader.counted, statements.PURCHASED), list)

    def intentions(self, head: NodeLabel) -> DataLoader[tuple[str, EdgeFilter], Page]:
        """The loader of a Product's or a Query's pages of intentions."""
        return self.product_intentions if head is NodeLabel.PRODUCT else self.query_intentions

    async def product(self, product_id: str, intentions: EdgeFilter | None = None) -> ProductRecord | None:
        """A product; with ``intentions``, that page of its intentions comes in the same round trip
        and is primed into ``product_intentions``, where the field's resolver then finds it."""
        if intentions is None:
            return await self.products.load((product_id, None))
        found = await self.products_with_intentions.load((product_id, intentions))
        if found is None:
            return None
        self.product_intentions.prime((product_id, intentions), found.intentions)
        return found.product

    async def query_known(self, text: str, intentions: EdgeFilter | None = None) -> bool:
        """Whether a search query is in the graph; with ``intentions``, as ``product`` does."""
        if intentions is None:
            return text in await self.reader.known_queries([text])
        found = await self.queries_with_intentions.load((text, intentions))
        if found is None:
            return False
        self.query_intentions.prime((text, intentions), found)
        return True
