"""Build or update the semantic index from the graph (``cosmo-kg index build``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import neo4j

from cosmo_kg.api import statements
from cosmo_kg.api.index import KINDS, SemanticIndex, TextEmbedder, gpu_count, read_meta
from cosmo_kg.api.settings import IndexSettings
from cosmo_kg.errors import InputError
from cosmo_kg.graph.connection import session_database
from cosmo_kg.graph.version import recorded_bookmarks
from cosmo_kg.vocabulary import NodeLabel

LABELS = {"intention": NodeLabel.INTENTION, "query": NodeLabel.QUERY}
PAGE = 10_000


@dataclass(frozen=True)
class IndexConfig:
    rebuild: bool = False
    database: str = "neo4j"
    batch_size: int = 1024


@dataclass
class IndexReport:
    directory: str
    model: str
    added: dict[str, int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    index_kinds: dict[str, str] = field(default_factory=dict)
    rebuilt: bool = False
    version: str = ""
    gpus: int = 0
    seconds: float = 0.0
    texts_per_second: float = 0.0


def graph_texts(
    driver: neo4j.Driver,
    label: NodeLabel,
    database: str = "neo4j",
    bookmarks: neo4j.Bookmarks | None = None,
) -> Iterator[str]:
    """Every text of ``label`` in key order, read in keyset pages (constant memory on the server),
    from a state that includes the writes ``bookmarks`` name."""
    after = ""
    statement = statements.text_page(label)
    chained = neo4j.GraphDatabase.bookmark_manager(initial_bookmarks=bookmarks)
    while True:
        records, _, _ = driver.execute_query(
            statement,
            after=after,
            limit=PAGE,
            database_=session_database(database),
            routing_=neo4j.RoutingControl.READ,
            bookmark_manager_=chained,
        )
        if not records:
            return
        for record in records:
            yield record["text"]
        after = records[-1]["text"]


def build_index(
    config: IndexConfig,
    settings: IndexSettings,
    driver: neo4j.Driver,
    embedder: TextEmbedder,
    progress: Callable[[int], None] | None = None,
) -> IndexReport:
    """Add every intention and query text not indexed yet (all of them with ``rebuild``) and save.

    Returns the ``IndexReport``; raises ``InputError`` if the existing index is unreadable
    (rebuild it) and ``GraphError`` when Neo4j fails.
    """
    started = time.perf_counter()
    index, rebuilt = _open(config, settings, embedder)
    report = IndexReport(str(settings.path), embedder.model_name, rebuilt=rebuilt, gpus=gpu_count())
    # A cluster may route the reads to a follower: start from the loads this host recorded.
    bookmarks = recorded_bookmarks(driver, config.database)
    for kind in KINDS:
        texts = list(graph_texts(driver, LABELS[kind], config.database, bookmarks))
        report.added[kind] = index.add(kind, texts, config.batch_size, progress)
        report.totals[kind] = index.count(kind)
        if kind in index.parts:
            report.index_kinds[kind] = index.parts[kind].params["kind"]
    report.version = index.save(settings.path)
    report.seconds = round(time.perf_counter() - started, 3)
    report.texts_per_second = round(sum(report.added.values()) / max(report.seconds, 1e-9), 1)
    return report


def _open(config: IndexConfig, settings: IndexSettings, embedder: TextEmbedder) -> tuple[SemanticIndex, bool]:
    if config.rebuild:
        return SemanticIndex.empty(embedder, settings), True
    try:
        read_meta(settings.path)
    except InputError:
        return SemanticIndex.empty(embedder, settings), True
    return SemanticIndex.load(settings.path, embedder, settings), False
