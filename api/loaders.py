"""Per-request DataLoaders: every nested list field costs one Cypher round trip per request
level, not one per parent (no N+1)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
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


@dataclass
class Loaders:
    products: DataLoader[tuple[str, None], ProductRecord | None]
    products_with_intentions: DataLoader[tuple[str, EdgeFilter], ProductPage | None]
    tail_types: DataLoader[tuple[str, None], tuple[str, ...]]
    product_intentions: DataLoader[tuple[str, EdgeFilter], Page]
    query_intentions: DataLoader[tuple[str, EdgeFilter], Page]
    intention_products: DataLoader[tuple[str, EdgeFilter], list[HeadEdge]]
    intention_queries: DataLoader[tuple[str, EdgeFilter], list[HeadEdge]]
    co_bought: DataLoader[tuple[str, int], list[CountedProduct]]
    purchased: DataLoader[tuple[str, int], list[CountedProduct]]

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


def make_loaders(reader: GraphReader) -> Loaders:
    def heads(label: NodeLabel) -> Callable[[list[str], EdgeFilter], Awaitable[dict[str, Page]]]:
        return lambda keys, f: reader.head_intentions(label, keys, f)

    def linked(label: NodeLabel) -> Callable[[list[str], EdgeFilter], Awaitable[dict[str, list[HeadEdge]]]]:
        return lambda keys, f: reader.intention_heads(label, keys, f)

    def counted(statement: str) -> Callable[[list[str], int], Awaitable[dict[str, list[CountedProduct]]]]:
        return lambda keys, limit: reader.counted(statement, keys, limit)

    return Loaders(
        products=grouped_loader(lambda keys, _: reader.products(keys), lambda: None),
        products_with_intentions=grouped_loader(reader.products_with_intentions, lambda: None),
        tail_types=grouped_loader(lambda keys, _: reader.intention_tail_types(keys), tuple),
        product_intentions=grouped_loader(heads(NodeLabel.PRODUCT), Page),
        query_intentions=grouped_loader(heads(NodeLabel.QUERY), Page),
        intention_products=grouped_loader(linked(NodeLabel.PRODUCT), list),
        intention_queries=grouped_loader(linked(NodeLabel.QUERY), list),
        co_bought=grouped_loader(counted(statements.CO_BOUGHT), list),
        purchased=grouped_loader(counted(statements.PURCHASED), list),
    )
