"""``cosmo-kg refresh``: the daily job (SPEC §1.8).

sample → generate → refine → load → index → cache. Started from a knowledge file (``knowledge``),
it begins at load; ``cache_only`` runs the last step alone. The cache step answers the queued
misses into tier 2 and preloads tier 1 again. Each step is idempotent (the loader, the index's
incremental add, the cache writes), so a killed refresh run again ends in the same state.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cosmo_kg.api.caching import drain_queue, preload_tier1
from cosmo_kg.api.indexing import IndexConfig, build_index
from cosmo_kg.api.services import ServeSettings, Services, make_embedder
from cosmo_kg.errors import ConfigError
from cosmo_kg.graph.connection import connect
from cosmo_kg.graph.loader import LoadConfig, LoaderSettings, load

# The library entry points of the stages before load, as "module:function".
STAGE_ENTRY_POINTS = {
    "sample": "cosmo_kg.ingest.sampler:sample",
    "generate": "cosmo_kg.generation:run",
    "refine": "cosmo_kg.refinement:run",
}


@dataclass(frozen=True)
class RefreshConfig:
    knowledge: Path | None = None
    products: Path | None = None
    pairs: Path | None = None
    cache_only: bool = False
    preload_top: int = 1000
    update_index: bool = True


@dataclass
class RefreshReport:
    steps: list[str] = field(default_factory=list)
    load: dict[str, Any] = field(default_factory=dict)
    index: dict[str, Any] = field(default_factory=dict)
    drained: int = 0
    tier2_written: int = 0
    tier1_written: int = 0
    seconds: float = 0.0


def stage_entry_point(stage: str) -> Callable[..., Any]:
    """The entry point of a stage before load; ``ConfigError`` naming it when it is not there."""
    module_name, _, function = STAGE_ENTRY_POINTS[stage].partition(":")
    try:
        entry = getattr(importlib.import_module(module_name), function, None)
    except ImportError:
        entry = None
    if entry is None:
        raise ConfigError(
            f"refresh cannot run the {stage} stage: its library entry point "
            f"{STAGE_ENTRY_POINTS[stage]} is not available in this installation",
            hint="run the stages by hand, then `cosmo-kg refresh --knowledge knowledge.parquet`",
        )
    return entry


def _generate_knowledge() -> Path:
    for stage in STAGE_ENTRY_POINTS:
        stage_entry_point(stage)
    raise ConfigError(
        "refresh does not chain sample → generate → refine yet",
        hint="run them by hand, then `cosmo-kg refresh --knowledge knowledge.parquet`",
    )


def run(
    config: RefreshConfig,
    settings: ServeSettings,
    loader: LoaderSettings | None = None,
    progress: Callable[[str], None] | None = None,
) -> RefreshReport:
    """Run the refresh steps and return what each did.

    Raises ``ConfigError`` naming a missing stage, ``InputError`` for unreadable inputs and
    ``GraphError`` when Neo4j fails.
    """
    started = time.perf_counter()
    report = RefreshReport()
    say = progress or (lambda step: None)
    if not config.cache_only:
        knowledge = config.knowledge or _generate_knowledge()
        say("load")
        with connect(settings.neo4j) as driver:
            loaded = load(
                LoadConfig(
                    rejects_dir=Path(settings.workspace.dir) / "rejects",
                    knowledge=knowledge,
                    products=config.products,
                    pairs=config.pairs,
                    database=settings.neo4j.database,
                ),
                driver,
                loader or LoaderSettings(),
            )
            report.load = {
                "load_id": loaded.load_id,
                "knowledge_edges": loaded.knowledge_edges,
                "rejected": loaded.rejected,
            }
            report.steps.append("load")
            if config.update_index:
                say("index")
                built = build_index(
                    IndexConfig(database=settings.neo4j.database),
                    settings.index,
                    driver,
                    make_embedder(settings.embeddings),
                )
                report.index = {"added": built.added, "totals": built.totals}
                report.steps.append("index")
    say("cache")
    asyncio.run(_cache_step(config, settings, report))
    report.steps.append("cache")
    report.seconds = round(time.perf_counter() - started, 3)
    return report


async def _cache_step(config: RefreshConfig, settings: ServeSettings, report: RefreshReport) -> None:
    svc = Services.open(settings)
    try:
        report.drained, report.tier2_written = await drain_queue(svc)
        if config.preload_top:
            report.tier1_written = await preload_tier1(svc, config.preload_top)
    finally:
        await svc.close()
