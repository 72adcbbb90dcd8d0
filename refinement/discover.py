"""``cosmo-kg discover``: cluster tails to propose tail types and candidate new relations.

Tails are embedded (all-MiniLM-L6-v2) and clustered with k-means, per relation (what kinds of tails
does this relation produce: its tail types) and across relations (clusters that mix relations are
candidate new relations, or relations that should merge). Each cluster is described by its size,
its relation mix and the tails nearest its centre.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from cosmo_kg.embeddings import Embedder, EmbeddingSettings
from cosmo_kg.errors import InputError
from cosmo_kg.files import reading


@dataclass(frozen=True)
class DiscoverConfig:
    """``source``: knowledge.parquet or candidates.parquet (needs ``relation`` and ``tail``)."""

    source: Path
    clusters_per_relation: int = 5
    clusters_overall: int = 15
    examples: int = 5
    seed: int = 0
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)


@dataclass(frozen=True)
class Cluster:
    size: int
    relations: dict[str, int]
    examples: list[str]
    mixed: bool


@dataclass
class DiscoverReport:
    tails: int
    per_relation: dict[str, list[Cluster]]
    overall: list[Cluster]
    candidate_new_relations: list[Cluster]
    seconds: float


def _clusters(tails: pl.DataFrame, vectors: np.ndarray, k: int, config: DiscoverConfig) -> list[Cluster]:
    from sklearn.cluster import KMeans

    k = max(1, min(k, len(tails)))
    model = KMeans(n_clusters=k, n_init=4, random_state=config.seed).fit(vectors)
    distance = np.linalg.norm(vectors - model.cluster_centers_[model.labels_], axis=1)
    out = []
    for label in range(k):
        members = np.flatnonzero(model.labels_ == label)
        nearest = members[np.argsort(distance[members])][: config.examples]
        mix = tails[members.tolist()]["relation"].value_counts(sort=True)
        relations = dict(zip(mix["relation"].to_list(), mix["count"].to_list(), strict=True))
        top_share = max(relations.values()) / len(members)
        out.append(
            Cluster(
                len(members),
                relations,
                tails[nearest.tolist()]["tail"].to_list(),
                mixed=len(relations) > 1 and top_share < 0.6,
            )
        )
    return sorted(out, key=lambda c: -c.size)


def discover(config: DiscoverConfig) -> DiscoverReport:
    """Cluster the distinct (relation, tail) pairs of ``config.source``.

    Raises:
        InputError: the file is missing or has no ``relation`` / ``tail`` columns.
    """
    started = time.perf_counter()
    if not config.source.is_file():
        raise InputError(f"{config.source} does not exist")
    with reading(config.source, "knowledge or candidates parquet file"):
        frame = pl.read_parquet(config.source)
    if not {"relation", "tail"} <= set(frame.columns):
        raise InputError(
            f"{config.source}: needs relation and tail columns",
            hint="pass a knowledge.parquet or candidates.parquet file",
        )
    tails = frame.select("relation", "tail").drop_nulls().unique(maintain_order=True)
    embedder = Embedder(config.embedding)
    vectors = embedder.embed(tails["tail"].to_list())
    per_relation = {}
    for (relation,), group in tails.with_row_index("row").group_by("relation", maintain_order=True):
        rows = group["row"].to_numpy()
        per_relation[str(relation)] = _clusters(group, vectors[rows], config.clusters_per_relation, config)
    overall = _clusters(tails, vectors, config.clusters_overall, config)
    return DiscoverReport(
        len(tails), per_relation, overall, [c for c in overall if c.mixed], time.perf_counter() - started
    )
