"""Query → intentions answers behind the cache tiers (SPEC §1.7, the paper's asynchronous cache).

Tier 1 holds preloaded answers for the frequent queries (``cosmo-kg cache preload``), tier 2
the answers of the last batch run (``cosmo-kg refresh``). A miss is answered from the graph,
or for an unseen query from the semantic index, and queued; the next refresh fills tier 2.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from cosmo_kg.api.index import SemanticIndex
from cosmo_kg.api.reads import EdgeFilter, GraphReader, IntentionEdge
from cosmo_kg.api.store import CacheStore
from cosmo_kg.text import text_key
from cosmo_kg.vocabulary import NodeLabel

TIER1 = "t1:"
TIER2 = "t2:"
TIERS = {"tier1": TIER1, "tier2": TIER2}


@dataclass(frozen=True)
class AnswerItem:
    """One intention of an answer; graph answers carry the edge, semantic ones a similarity."""

    text: str
    score: float
    relation: str | None = None
    plausibility: float | None = None
    typicality: float | None = None

    @classmethod
    def of_edge(cls, edge: IntentionEdge) -> AnswerItem:
        return cls(
            edge.text,
            round(edge.plausibility * edge.typicality, 6),
            edge.relation,
            edge.plausibility,
            edge.typicality,
        )


@dataclass(frozen=True)
class QueryAnswer:
    """The intentions behind a query and where they came from: tier1, tier2, graph or semantic."""

    query: str
    source: str
    intentions: list[AnswerItem] = field(default_factory=list)
    computed_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        # Not dataclasses.asdict: its recursive deep copy was the largest cost of a cached answer.
        return {
            "query": self.query,
            "source": self.source,
            "intentions": [vars(item) for item in self.intentions],
            "computed_at": self.computed_at,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    def to_bytes(self) -> bytes:
        """The stored form: everything but the source, which is the tier the answer is read from."""
        stored = self.to_dict()
        del stored["source"]
        return orjson.dumps(stored)

    @classmethod
    def from_bytes(cls, raw: bytes, source: str) -> QueryAnswer:
        data: dict[str, Any] = orjson.loads(raw)
        items = [AnswerItem(**item) for item in data["intentions"]]
        return cls(data["query"], source, items, data.get("computed_at", ""))

    @classmethod
    def stored_json(cls, raw: bytes, source: str) -> bytes:
        """The JSON of a stored answer read from tier ``source``: the stored bytes with the source
        put in front, rather than parsed and serialised again (most of a cached answer's cost)."""
        # An unescaped '"source":' can only be a key: an answer stored by an earlier version.
        if b'"source":' in raw:
            return cls.from_bytes(raw, source).to_json()
        return b'{"source":"' + source.encode() + b'",' + raw[1:]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class AnswerService:
    """Answers queries through the tiers; computes answers in batches for preload and refresh."""

    def __init__(
        self, reader: GraphReader, store: CacheStore, index: SemanticIndex | None, top: int = 20
    ) -> None:
        self.reader = reader
        self.store = store
        self.index = index
        self.top = top
        self.observe: Callable[[str], None] = lambda source: None

    async def answer(self, text: str) -> QueryAnswer:
        """The cached answer (tier 1, then tier 2), else a computed one with the query queued."""
        key = text_key(text)
        stored = self._stored(key)
        answer = QueryAnswer.from_bytes(stored[1], stored[0]) if stored else await self._computed(key)
        self.observe(answer.source)
        return answer

    async def answer_json(self, text: str) -> bytes:
        """``answer(text)`` as JSON; a cached answer is sent as stored, never parsed."""
        key = text_key(text)
        stored = self._stored(key)
        if stored is None:
            answer = await self._computed(key)
            self.observe(answer.source)
            return answer.to_json()
        self.observe(stored[0])
        return QueryAnswer.stored_json(stored[1], stored[0])

    def _stored(self, key: str) -> tuple[str, bytes] | None:
        """(tier, stored bytes) of the query's cached answer, tier 1 first."""
        tier1, tier2 = self.store.get_many([TIER1 + key, TIER2 + key])
        if tier1 is not None:
            return "tier1", tier1
        if tier2 is not None:
            return "tier2", tier2
        return None

    async def _computed(self, key: str) -> QueryAnswer:
        self.store.enqueue(key)
        return (await self.from_graph([key])).get(key) or self.from_index(key)

    async def from_graph(self, keys: Sequence[str]) -> dict[str, QueryAnswer]:
        """Answers of the queries that have knowledge in the graph (others are absent)."""
        pages = await self.reader.head_intentions(NodeLabel.QUERY, keys, EdgeFilter(limit=self.top))
        stamp = _now()
        return {
            key: QueryAnswer(key, "graph", [AnswerItem.of_edge(e) for e in page.edges], stamp)
            for key, page in pages.items()
            if page.edges
        }

    def from_index(self, key: str) -> QueryAnswer:
        hits = self.index.search(key, self.top) if self.index else []
        return QueryAnswer(key, "semantic", [AnswerItem(h.text, round(h.score, 6)) for h in hits], _now())

    async def fill(self, keys: Sequence[str], tier: str, batch_size: int = 500) -> int:
        """Compute and store the answers of ``keys`` in ``tier``; return how many were written."""
        written = 0
        for start in range(0, len(keys), batch_size):
            batch = keys[start : start + batch_size]
            answers = await self.from_graph(batch)
            for key in batch:
                answers.setdefault(key, self.from_index(key))
            self.store.put_many({TIERS[tier] + key: a.to_bytes() for key, a in answers.items()})
            written += len(answers)
        return written
