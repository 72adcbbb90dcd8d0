"""Read access to the graph for the API: an async driver, READ sessions, typed rows.

Every read runs in a READ access-mode session with a server-side transaction timeout; through a
``neo4j://`` URI a cluster routes it to a follower or read replica. Sessions start from the
reader's bookmarks (kept by ``Freshness``: the newest write known), so a replica that has not
applied that write yet waits for it instead of answering from before it. A lost
server becomes ``GraphUnavailableError`` (the app answers 503 + Retry-After); the driver
reconnects on the next request once Neo4j is back.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import neo4j
from neo4j.exceptions import (
    ClientError,
    DriverError,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
    TransientError,
)

from cosmo_kg.api import statements
from cosmo_kg.errors import ConfigError, GraphError
from cosmo_kg.graph.connection import (
    DATABASE_HINT,
    DATABASE_NOT_FOUND,
    UNREACHABLE_HINT,
    Neo4jSettings,
    credentials,
    session_database,
)
from cosmo_kg.vocabulary import NodeLabel


class GraphUnavailableError(GraphError):
    """Neo4j cannot be reached right now; the request may be retried later."""


@dataclass(frozen=True)
class ProductRecord:
    product_id: str
    title: str | None = None
    product_type: str | None = None
    domain: str | None = None
    brand: str | None = None
    popularity: float | None = None

    @classmethod
    def of(cls, row: dict[str, Any]) -> ProductRecord:
        return cls(**{name: row.get(name) for name in statements.PRODUCT_FIELDS})  # type: ignore[arg-type]


@dataclass(frozen=True)
class IntentionEdge:
    """A knowledge edge seen from its head: relation, scores and the intention it points to."""

    relation: str
    plausibility: float
    typicality: float
    support: int | None
    text: str
    tail_types: tuple[str, ...] = ()

    @classmethod
    def of(cls, row: dict[str, Any]) -> IntentionEdge:
        return cls(
            row["relation"],
            float(row["plausibility"]),
            float(row["typicality"]),
            row.get("support"),
            row["text"],
            tuple(row.get("tail_types") or ()),
        )


@dataclass(frozen=True)
class HeadEdge:
    """A knowledge edge seen from its intention: relation, scores and the product or query head."""

    relation: str
    plausibility: float
    typicality: float
    product: ProductRecord | None = None
    query: str | None = None


@dataclass(frozen=True)
class ProductPage:
    """A product with one page of its intentions."""

    product: ProductRecord
    intentions: Page


@dataclass(frozen=True)
class CountedProduct:
    """A product with a weight: a behaviour count or a ranking weight."""

    product: ProductRecord
    weight: float


@dataclass(frozen=True)
class EdgeFilter:
    """Which knowledge edges a list field asks for, and which page of them."""

    relations: tuple[str, ...] | None = None
    min_plausibility: float = 0.0
    min_typicality: float = 0.0
    offset: int = 0
    limit: int = 10
    domain: str | None = None

    def params(self) -> dict[str, Any]:
        return {
            "min_plausibility": self.min_plausibility,
            "min_typicality": self.min_typicality,
            "offset": self.offset,
            "limit": self.limit,
            "domain": self.domain,
        }


@dataclass(frozen=True)
class Page:
    edges: list[Any] = field(default_factory=list)
    has_next: bool = False


def open_driver(settings: Neo4jSettings, pool_size: int = 50) -> neo4j.AsyncDriver:
    """An async driver for the API; it connects lazily, so the app starts while Neo4j is down."""
    try:
        return neo4j.AsyncGraphDatabase.driver(
            settings.uri,
            auth=credentials(settings),
            connection_timeout=settings.connect_timeout,
            max_connection_pool_size=pool_size,
            max_transaction_retry_time=1.0,
            connection_acquisition_timeout=settings.connect_timeout,
            notifications_min_severity=neo4j.NotificationMinimumSeverity.OFF,
        )
    except (neo4j.exceptions.ConfigurationError, ValueError) as exc:
        raise ConfigError(f"cannot use NEO4J_URI {settings.uri!r}: {exc}") from exc


def translate_error(exc: Exception) -> GraphError:
    """A driver exception as the error the API reports."""
    if isinstance(exc, ServiceUnavailable | SessionExpired | TransientError | OSError):
        return GraphUnavailableError("Neo4j is not reachable right now", hint=UNREACHABLE_HINT)
    if isinstance(exc, ClientError) and exc.code == DATABASE_NOT_FOUND:
        return GraphError(f"Neo4j refused the database: {exc.message}", hint=DATABASE_HINT)
    if isinstance(exc, ClientError) and "TransactionTimedOut" in (exc.code or ""):
        return GraphError(
            "the graph query ran past its time limit", hint="ask for fewer rows or narrower filters"
        )
    return GraphError(f"Neo4j refused the query: {getattr(exc, 'message', None) or exc}")


class GraphReader:
    """Typed, batched reads over one async driver."""

    def __init__(self, driver: neo4j.AsyncDriver, database: str = "neo4j", timeout: float = 5.0) -> None:
        self.driver = driver
        self.database = database
        self.timeout = timeout
        self.bookmarks = neo4j.Bookmarks()  # where every read session starts (see ``Freshness``)

    async def rows(self, statement: str, **params: Any) -> list[dict[str, Any]]:
        """Run one read statement and return its records as dicts."""
        return (await self.rows_from(self.bookmarks, statement, **params))[0]

    async def rows_from(
        self, bookmarks: neo4j.Bookmarks, statement: str, **params: Any
    ) -> tuple[list[dict[str, Any]], neo4j.Bookmarks]:
        """Run one read statement in a session starting from ``bookmarks``; its records as dicts
        and the session's bookmarks after it (as new as the state the statement read)."""
        query = neo4j.Query(statement, timeout=self.timeout)
        try:
            async with self.driver.session(
                database=session_database(self.database),
                default_access_mode=neo4j.READ_ACCESS,
                bookmarks=bookmarks,
            ) as session:
                result = await session.run(query, params)
                # The statements return maps and scalars only, so no record.data(): its recursive
                # export of every nested value was a tenth of a GraphQL request's CPU.
                rows = [dict(record.items()) async for record in result]
                return rows, await session.last_bookmarks()
        except (Neo4jError, DriverError, OSError) as exc:
            raise translate_error(exc) from exc

    async def keyed(
        self, statement: str, keys: Sequence[Hashable], **params: Any
    ) -> dict[Any, dict[str, Any]]:
        """Run a ``UNWIND $keys`` statement; its rows by ``key`` (keys without a row are absent)."""
        if not keys:
            return {}
        return {row["key"]: row for row in await self.rows(statement, keys=list(keys), **params)}

    async def ping(self) -> None:
        await self.rows(statements.PING)

    async def products(self, ids: Sequence[str]) -> dict[str, ProductRecord]:
        found = await self.keyed(statements.PRODUCTS, ids)
        return {key: ProductRecord.of(row["product"]) for key, row in found.items()}

    async def intention_tail_types(self, texts: Sequence[str]) -> dict[str, tuple[str, ...]]:
        found = await self.keyed(statements.INTENTIONS, texts)
        return {key: tuple(row["tail_types"]) for key, row in found.items()}

    async def head_intentions(
        self, head: NodeLabel, keys: Sequence[str], edge_filter: EdgeFilter
    ) -> dict[str, Page]:
        """One page of intentions per head; one more row is read to tell if another page exists."""
        statement = statements.head_intentions(
            head, edge_filter.relations, in_domain=edge_filter.domain is not None
        )
        found = await self.keyed(statement, keys, **_page_params(edge_filter))
        return {key: _page(row["edges"], edge_filter.limit) for key, row in found.items()}

    async def products_with_intentions(
        self, ids: Sequence[str], edge_filter: EdgeFilter
    ) -> dict[str, ProductPage]:
        """Products and one page of intentions each, in one round trip (unknown ids are absent)."""
        statement = statements.head_intentions(
            NodeLabel.PRODUCT,
            edge_filter.relations,
            with_product=True,
            in_domain=edge_filter.domain is not None,
        )
        found = await self.keyed(statement, ids, **_page_params(edge_filter))
        return {
            key: ProductPage(ProductRecord.of(row["product"]), _page(row["edges"], edge_filter.limit))
            for key, row in found.items()
        }

    async def intention_heads(
        self, head: NodeLabel, texts: Sequence[str], edge_filter: EdgeFilter
    ) -> dict[str, list[HeadEdge]]:
        statement = statements.intention_heads(head, edge_filter.relations)
        found = await self.keyed(statement, texts, **edge_filter.params())
        return {key: [_head_edge(head, e) for e in row["edges"]] for key, row in found.items()}

    async def counted(
        self, statement: str, keys: Sequence[str], limit: int
    ) -> dict[str, list[CountedProduct]]:
        """Products per key from CO_BOUGHT, PURCHASED or FACET_PRODUCTS."""
        found = await self.keyed(statement, keys, limit=limit)
        return {
            key: [
                CountedProduct(
                    ProductRecord.of(item["product"]), float(item.get("count") or item.get("weight") or 0)
                )
                for item in row["items"]
            ]
            for key, row in found.items()
        }

    async def known_queries(self, texts: Sequence[str]) -> set[str]:
        return set(await self.keyed(statements.QUERIES_EXIST, texts))


def _page_params(edge_filter: EdgeFilter) -> dict[str, Any]:
    # One more row than the page, to tell whether another page exists.
    return {**edge_filter.params(), "limit": edge_filter.limit + 1}


def _page(rows: list[dict[str, Any]], limit: int) -> Page:
    return Page([IntentionEdge.of(row) for row in rows[:limit]], has_next=len(rows) > limit)


def _head_edge(head: NodeLabel, row: dict[str, Any]) -> HeadEdge:
    scores = (row["relation"], float(row["plausibility"]), float(row["typicality"]))
    if head is NodeLabel.PRODUCT:
        return HeadEdge(*scores, product=ProductRecord.of(row["head"]))
    return HeadEdge(*scores, query=row["head"]["text"])
