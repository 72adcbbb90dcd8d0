"""The serving services of one process, built from explicit settings (no module-level state).

Used by the app's lifespan and by the CLI commands that work on the cache, features and index.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import neo4j

from cosmo_kg.api.answers import AnswerService
from cosmo_kg.api.auth import KeyRing
from cosmo_kg.api.console import CypherConsole
from cosmo_kg.api.feature_store import FeatureService
from cosmo_kg.api.freshness import Freshness
from cosmo_kg.api.index import SemanticIndex, TextEmbedder, current_version, read_meta, set_search_threads
from cosmo_kg.api.offload import ChildEmbedder, Offload
from cosmo_kg.api.reads import GraphReader, open_driver
from cosmo_kg.api.settings import ApiSettings, CacheSettings, IndexSettings
from cosmo_kg.api.store import CacheStore, open_store
from cosmo_kg.embeddings import EmbeddingSettings
from cosmo_kg.errors import InputError
from cosmo_kg.graph.connection import Neo4jSettings
from cosmo_kg.settings import load_settings
from cosmo_kg.workspace import WorkspaceSettings

log = logging.getLogger("cosmo_kg.api")


@dataclass(frozen=True)
class ServeSettings:
    """Every settings group the serving layer reads."""

    neo4j: Neo4jSettings = field(default_factory=Neo4jSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    index: IndexSettings = field(default_factory=IndexSettings)
    cache: CacheSettings = field(default_factory=CacheSettings)
    embeddings: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    workspace: WorkspaceSettings = field(default_factory=WorkspaceSettings)

    @classmethod
    def load(cls) -> ServeSettings:
        """From environment, config file and defaults."""
        return cls(
            load_settings(Neo4jSettings),
            load_settings(ApiSettings),
            load_settings(IndexSettings),
            load_settings(CacheSettings),
            load_settings(EmbeddingSettings),
            load_settings(WorkspaceSettings),
        )

    @property
    def keys_file(self) -> Path:
        return Path(self.api.keys_file) if self.api.keys_file else Path(self.workspace.dir) / "api_keys.json"


def make_embedder(settings: EmbeddingSettings) -> TextEmbedder:
    from cosmo_kg.embeddings import Embedder

    return Embedder(settings)


def load_index(
    settings: ServeSettings, embedder: TextEmbedder | None, *, child: bool = False
) -> SemanticIndex | None:
    """The persisted index, or None when none was built yet (readiness then says so). Without an
    ``embedder`` one is made: in a child process with ``child``, else in this one."""
    try:
        read_meta(settings.index.path)
    except InputError as exc:
        log.warning("semantic index not loaded: %s", exc)
        return None
    set_search_threads(settings.index.search_threads)
    if embedder is None:
        embedder = (
            ChildEmbedder(settings.embeddings, settings.api.embed_nice)
            if child
            else make_embedder(settings.embeddings)
        )
    return SemanticIndex.load(settings.index.path, embedder, settings.index)


@dataclass
class Services:
    settings: ServeSettings
    driver: neo4j.AsyncDriver
    store: CacheStore
    index: SemanticIndex | None
    reader: GraphReader
    answers: AnswerService
    features: FeatureService
    console: CypherConsole
    keys: KeyRing
    freshness: Freshness
    offload: Offload
    embedder: TextEmbedder | None = None
    child_embedder: bool = False

    @classmethod
    def open(
        cls,
        settings: ServeSettings,
        *,
        embedder: TextEmbedder | None = None,
        with_index: bool = True,
        serving: bool = False,
    ) -> Services:
        """The services; ``serving`` (the API) embeds in a child process when ``api.embed_process``."""
        driver = open_driver(settings.neo4j, settings.api.pool_size)
        store = open_store(settings.cache)
        child = serving and settings.api.embed_process
        index = load_index(settings, embedder, child=child) if with_index else None
        reader = GraphReader(driver, settings.neo4j.database, settings.api.query_timeout)
        freshness = Freshness(reader, settings.cache.version_check, index.version if index else "")
        offload = Offload(settings.api.offload_threads)
        cache = settings.cache
        return cls(
            settings,
            driver,
            store,
            index,
            reader,
            AnswerService(reader, store, index, freshness, offload, cache.top_intentions, cache.tier2_ttl),
            FeatureService(reader, store, freshness, offload, cache.strong_intent),
            CypherConsole(
                driver,
                settings.neo4j.database,
                settings.api.cypher_timeout,
                settings.api.cypher_row_limit,
                lambda: reader.bookmarks,
            ),
            KeyRing.load(settings.keys_file, settings.api.key_hashes),
            freshness,
            offload,
            index.embedder if index else embedder,
            child,
        )

    def watch(self) -> None:
        """Start watching the graph version and the index pointer (in a running event loop)."""
        self.freshness.start(self.reload_index, self.settings.index.reload_seconds)

    async def reload_index(self) -> None:
        """Load the index version ``CURRENT`` points at, if it is not the one served; the old one
        answers until the new one is whole (loading runs on a worker thread)."""
        path = self.settings.index.path
        try:
            version = (await self.offload.io(current_version, path))[0]
        except OSError:
            return
        if self.index is not None and version == self.index.version:
            return
        try:
            read_meta(path)
        except InputError:
            return  # nothing built yet
        fresh = await self.offload.io(
            partial(load_index, self.settings, self.embedder, child=self.child_embedder)
        )
        if fresh is None:
            return
        self.embedder = fresh.embedder
        self.index = self.answers.index = fresh
        self.freshness.index_loaded(fresh.version)
        log.info("semantic index version %s loaded", fresh.version)

    async def close(self) -> None:
        await self.freshness.stop()
        await self.driver.close()
        self.offload.close()
        self.store.close()
        if isinstance(self.embedder, ChildEmbedder):
            await asyncio.to_thread(self.embedder.close)
