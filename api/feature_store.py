"""The feature store: structured per-query and per-product features from the graph.

Features are computed in batches from Neo4j, written to the cache store (``fq:`` / ``fp:``
keys) by ``cosmo-kg features build``, read over GraphQL (store first, graph fallback) and
exported in bulk as Parquet.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from cosmo_kg.api import statements
from cosmo_kg.api.freshness import Freshness, Versions, stamped, unstamp
from cosmo_kg.api.offload import Offload
from cosmo_kg.api.reads import EdgeFilter, GraphReader, IntentionEdge
from cosmo_kg.api.store import CacheStore
from cosmo_kg.files import write_parquet_atomic
from cosmo_kg.vocabulary import NodeLabel

FEATURE_LABELS = (NodeLabel.QUERY, NodeLabel.PRODUCT)
PREFIXES = {NodeLabel.QUERY: "fq:", NodeLabel.PRODUCT: "fp:"}
EDGES_READ = 100
PER_RELATION = 3


@dataclass(frozen=True)
class RelationIntentions:
    relation: str
    intentions: list[str]
    scores: list[float]


@dataclass(frozen=True)
class TypeShare:
    product_type: str
    share: float


@dataclass(frozen=True)
class Features:
    """Features of one query or product (``kind`` says which)."""

    kind: str
    key: str
    top_intentions: list[RelationIntentions] = field(default_factory=list)
    product_types: list[TypeShare] = field(default_factory=list)
    strong_intent: bool = False
    product_type: str | None = None
    domain: str | None = None

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Features:
        data: dict[str, Any] = json.loads(raw)
        return cls(
            data["kind"],
            data["key"],
            [RelationIntentions(**r) for r in data["top_intentions"]],
            [TypeShare(**t) for t in data["product_types"]],
            data["strong_intent"],
            data.get("product_type"),
            data.get("domain"),
        )


def top_per_relation(
    edges: Sequence[IntentionEdge], per_relation: int = PER_RELATION
) -> list[RelationIntentions]:
    grouped: dict[str, list[IntentionEdge]] = defaultdict(list)
    for edge in edges:
        if len(grouped[edge.relation]) < per_relation:
            grouped[edge.relation].append(edge)
    return [
        RelationIntentions(
            rel, [e.text for e in group], [round(e.plausibility * e.typicality, 4) for e in group]
        )
        for rel, group in sorted(grouped.items())
    ]


def type_shares(rows: Sequence[dict[str, Any]]) -> list[TypeShare]:
    total = sum(float(r["weight"]) for r in rows) or 1.0
    shares = [TypeShare(r["type"], round(float(r["weight"]) / total, 4)) for r in rows]
    return sorted(shares, key=lambda s: (-s.share, s.product_type))


def is_strong(edges: Sequence[IntentionEdge], shares: Sequence[TypeShare], threshold: float) -> bool:
    """A strong intent: a typical top intention and, where purchases are known, one dominant type."""
    typical = any(e.typicality >= threshold for e in edges)
    return typical and (not shares or shares[0].share >= threshold)


class FeatureService:
    """Features from the store while their stamp names the current graph version, else computed
    from the graph (and written back)."""

    def __init__(
        self,
        reader: GraphReader,
        store: CacheStore,
        freshness: Freshness,
        offload: Offload,
        strong_intent: float = 0.7,
    ) -> None:
        self.reader = reader
        self.store = store
        self.freshness = freshness
        self.offload = offload
        self.strong_intent = strong_intent

    async def compute(self, kind: NodeLabel, keys: Sequence[str]) -> dict[str, Features]:
        """Features of the ``keys`` that exist in the graph, in one round trip per table."""
        pages = await self.reader.head_intentions(kind, keys, EdgeFilter(limit=EDGES_READ))
        statement = (
            statements.QUERY_TYPE_DISTRIBUTION
            if kind is NodeLabel.QUERY
            else statements.PRODUCT_TYPE_DISTRIBUTION
        )
        rows = await self.reader.keyed(statement, keys)
        features = {}
        for key, row in rows.items():
            edges = pages[key].edges if key in pages else []
            shares = type_shares(row["types"])
            features[key] = Features(
                kind.value.lower(),
                key,
                top_per_relation(edges),
                shares,
                is_strong(edges, shares, self.strong_intent),
                row.get("product_type"),
                row.get("domain"),
            )
        return features

    async def get(self, kind: NodeLabel, key: str) -> Features | None:
        """From the store when built at the current graph version, else computed from the graph."""
        versions = await self.freshness.current()
        (raw,) = await self.offload.io(self.store.get_many, [PREFIXES[kind] + key])
        if raw is not None:
            stamp, body = unstamp(raw)
            if versions.current(stamp):
                return Features.from_bytes(body)
        found = (await self.compute(kind, [key])).get(key)
        if raw is not None and found is not None:
            await self._put(kind, {key: found}, versions)
        return found

    async def build(self, kind: NodeLabel, keys: Sequence[str], batch_size: int = 500) -> int:
        await self.freshness.check_graph()
        versions = self.freshness.versions
        written = 0
        for start in range(0, len(keys), batch_size):
            computed = await self.compute(kind, keys[start : start + batch_size])
            await self._put(kind, computed, versions)
            written += len(computed)
        return written

    async def build_all(self) -> dict[str, int]:
        """Compute and store the features of every query and product of the graph; rows per label."""
        written = {}
        for label in FEATURE_LABELS:
            keys = [r["key"] for r in await self.reader.rows(statements.all_keys(label))]
            written[label.value] = await self.build(label, keys)
        return written

    async def _put(self, kind: NodeLabel, features: dict[str, Features], versions: Versions) -> None:
        stamp = versions.stamp()
        items = {PREFIXES[kind] + key: stamped(stamp, f.to_bytes()) for key, f in features.items()}
        await self.offload.io(self.store.put_many, items)

    def export(self, kind: NodeLabel, path: Path) -> int:
        """Write the stored features of ``kind`` as Parquet (nested columns); return the row count."""
        rows = [asdict(Features.from_bytes(unstamp(raw)[1])) for _, raw in self.store.scan(PREFIXES[kind])]
        frame = pl.DataFrame(rows) if rows else pl.DataFrame({"key": []}, schema={"key": pl.String()})
        write_parquet_atomic(frame, path)
        return frame.height

    def export_all(self, out_dir: Path) -> dict[str, int]:
        """``export`` every label as ``OUT_DIR/<label>_features.parquet``; rows per label."""
        return {
            label.value: self.export(label, out_dir / f"{label.value.lower()}_features.parquet")
            for label in FEATURE_LABELS
        }
