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

from cosmo_kg.api.freshness import Freshness, Versions, stamped, unstamp
from cosmo_kg.api.index import Hit, SemanticIndex
from cosmo_kg.api.offload import Offload
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
    """Answers queries through the tiers; computes answers in batches for preload and refresh.

    A stored answer is served only while its stamp names the current graph (and, for a semantic
    answer, index) version; a stale one is recomputed and written back to its tier."""

    def __init__(
        self,
        reader: GraphReader,
        store: CacheStore,
        index: SemanticIndex | None,
        freshness: Freshness,
        offload: Offload,
        top: int = 20,
        tier2_ttl: float = 0.0,
    ) -> None:
        self.reader = reader
        self.store = store
        self.index = index
        self.freshness = freshness
        self.offload = offload
        self.top = top
        self.tier2_ttl = tier2_ttl
        self.observe: Callable[[str], None] = lambda source: None

    async def answer(self, text: str) -> QueryAnswer:
        """The cached answer (tier 1, then tier 2), else a computed one with the query queued."""
        key = text_key(text)
        found = await self._lookup(key)
        if found.stored is not None:
            answer = QueryAnswer.from_bytes(found.stored[1], found.stored[0])
        else:
            answer = await self._computed(key, found)
        self.observe(answer.source)
        return answer

    async def answer_json(self, text: str) -> bytes:
        """``answer(text)`` as JSON; a cached answer is sent as stored, never parsed."""
        key = text_key(text)
        found = await self._lookup(key)
        if found.stored is None:
            answer = await self._computed(key, found)
            self.observe(answer.source)
            return answer.to_json()
        self.observe(found.stored[0])
        return QueryAnswer.stored_json(found.stored[1], found.stored[0])

    async def search(self, text: str, k: int) -> list[Hit]:
        """The ``k`` intentions nearest in meaning to ``text``, embedded and searched off the loop."""
        index = self.index
        return await self.offload.compute(index.search, text, k) if index else []

    async def _lookup(self, key: str) -> _Lookup:
        """The current versions, then the query's current cached answer (tier 1 first) if any,
        else the tier of a stale one to write the fresh answer back to."""
        versions = await self.freshness.current()
        values = await self.offload.io(self.store.get_many, [TIER1 + key, TIER2 + key])
        stale = None
        for tier, raw in zip(TIERS, values, strict=True):
            if raw is None:
                continue
            stamp, body = unstamp(raw)
            if versions.current(stamp):
                return _Lookup(versions, (tier, body))
            stale = stale or tier
        return _Lookup(versions, None, stale)

    async def _computed(self, key: str, found: _Lookup) -> QueryAnswer:
        if found.stale is None:
            await self.offload.io(self.store.enqueue, key)
        answer = (await self.from_graph([key])).get(key) or await self.from_index(key)
        if found.stale is not None:
            await self._put(found.stale, {key: answer}, found.versions)
        return answer

    async def from_graph(self, keys: Sequence[str]) -> dict[str, QueryAnswer]:
        """Answers of the queries that have knowledge in the graph (others are absent)."""
        pages = await self.reader.head_intentions(NodeLabel.QUERY, keys, EdgeFilter(limit=self.top))
        stamp = _now()
        return {
            key: QueryAnswer(key, "graph", [AnswerItem.of_edge(e) for e in page.edges], stamp)
            for key, page in pages.items()
            if page.edges
        }

    async def from_index(self, key: str) -> QueryAnswer:
        hits = await self.search(key, self.top)
        return QueryAnswer(key, "semantic", [AnswerItem(h.text, round(h.score, 6)) for h in hits], _now())

    async def fill(self, keys: Sequence[str], tier: str, batch_size: int = 500) -> int:
        """Compute and store the answers of ``keys`` in ``tier``; return how many were written."""
        await self.freshness.check_graph()
        versions = self.freshness.versions
        written = 0
        for start in range(0, len(keys), batch_size):
            batch = keys[start : start + batch_size]
            answers = await self.from_graph(batch)
            for key in batch:
                if key not in answers:
                    answers[key] = await self.from_index(key)
            await self._put(tier, answers, versions)
            written += len(answers)
        return written

    async def _put(self, tier: str, answers: dict[str, QueryAnswer], versions: Versions) -> None:
        items = {
            TIERS[tier] + key: stamped(versions.stamp(a.source == "semantic"), a.to_bytes())
            for key, a in answers.items()
        }
        ttl = self.tier2_ttl if tier == "tier2" else None
        await self.offload.io(self.store.put_many, items, ttl)


@dataclass(frozen=True)
class _Lookup:
    versions: Versions
    stored: tuple[str, bytes] | None
    stale: str | None = None
