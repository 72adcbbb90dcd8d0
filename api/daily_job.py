"""``cosmo-kg refresh``: the daily job (SPEC §1.8).

sample → generate → refine → load → index → cache, over the behaviour store that
``cosmo-kg ingest`` keeps. Only pairs never explained before are sent to the language model:
their ids are recorded in ``<workspace>/refresh/explained.parquet`` once their knowledge is
loaded. Started from a knowledge file (``knowledge``), it begins at load; ``cache_only`` runs
the last step alone. The cache step answers the queued misses into tier 2 and preloads tier 1
again. Every step is idempotent or resumable (the work directory of a run is named after its
new pairs, generation and refinement resume from their shards and chunks, the loader from its
committed batches), so a killed refresh run again ends in the same state.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from cosmo_kg.api.caching import drain_queue, preload_tier1
from cosmo_kg.api.index_build import IndexConfig, build_index
from cosmo_kg.api.services import ServeSettings, Services, make_embedder
from cosmo_kg.files import write_parquet_atomic
from cosmo_kg.graph.connection import connect
from cosmo_kg.graph.loader import LoadConfig, LoaderSettings, load
from cosmo_kg.settings import load_settings


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


@dataclass(frozen=True)
class NewKnowledge:
    """Files to load; ``explained`` holds the ids of the pairs newly explained (None: given files)."""

    knowledge: Path
    products: Path | None
    pairs: Path | None
    explained: pl.DataFrame | None


def _explained_path(settings: ServeSettings) -> Path:
    return Path(settings.workspace.dir) / "refresh" / "explained.parquet"


def _new_pairs(pairs: Path, explained: Path) -> pl.DataFrame:
    frame = pl.read_parquet(pairs)
    if explained.exists():
        done = pl.read_parquet(explained)["behavior_id"].implode()
        frame = frame.filter(~pl.col("behavior_id").is_in(done))
    return frame.sort("behavior_id")


def _generate_knowledge(settings: ServeSettings, say: Callable[[str], None]) -> NewKnowledge | None:
    """Sample the store, keep the pairs never explained, then generate and refine for them."""
    from cosmo_kg.generation.backend import BackendSettings
    from cosmo_kg.generation.runner import GenerateConfig
    from cosmo_kg.generation.runner import run as generate
    from cosmo_kg.generation.settings import GenerationSettings, OpenAISettings, VllmSettings
    from cosmo_kg.ingest.sampler import SampleConfig, SampleSettings, sample
    from cosmo_kg.refinement.runner import RefineConfig
    from cosmo_kg.refinement.runner import run as refine

    workspace = Path(settings.workspace.dir)
    sampled = workspace / "refresh" / "sampled"
    sampled.mkdir(parents=True, exist_ok=True)
    say("sample")
    sample(
        SampleConfig(
            workspace_dir=workspace,
            out=sampled / "pairs.parquet",
            products_out=sampled / "products.parquet",
            settings=load_settings(SampleSettings),
        )
    )
    new = _new_pairs(sampled / "pairs.parquet", _explained_path(settings))
    if new.is_empty():
        return None
    digest = hashlib.blake2b("\n".join(new["behavior_id"]).encode(), digest_size=8).hexdigest()
    work = workspace / "refresh" / f"run-{digest}"
    work.mkdir(parents=True, exist_ok=True)
    pairs, products = work / "pairs.parquet", sampled / "products.parquet"
    new.write_parquet(pairs)
    rejects = Path(settings.workspace.rejects_dir)
    say(f"generate ({new.height} new pairs)")
    backend = BackendSettings(
        load_settings(GenerationSettings), load_settings(OpenAISettings), load_settings(VllmSettings)
    )
    generate(
        GenerateConfig(
            pairs=pairs, products=products, out=work / "candidates", rejects_dir=rejects, backend=backend
        )
    )
    say("refine")
    refine(
        RefineConfig(
            candidates=work / "candidates",
            pairs=pairs,
            products=products,
            output=work / "knowledge.parquet",
            rejects_dir=rejects,
        )
    )
    return NewKnowledge(work / "knowledge.parquet", products, pairs, new.select("behavior_id"))


def _record_explained(settings: ServeSettings, explained: pl.DataFrame) -> None:
    path = _explained_path(settings)
    if path.exists():
        explained = pl.concat([pl.read_parquet(path), explained]).unique(maintain_order=True)
    write_parquet_atomic(explained, path)


def run(
    config: RefreshConfig,
    settings: ServeSettings,
    loader: LoaderSettings | None = None,
    progress: Callable[[str], None] | None = None,
) -> RefreshReport:
    """Run the refresh steps and return what each did.

    Raises ``InputError`` for unreadable inputs, ``BackendError`` when the language model fails
    and ``GraphError`` when Neo4j fails.
    """
    started = time.perf_counter()
    report = RefreshReport()
    say = progress or (lambda step: None)
    if not config.cache_only:
        inputs = _knowledge_inputs(config, settings, report, say)
        if inputs is not None:
            _load_and_index(config, settings, loader or LoaderSettings(), inputs, report, say)
    say("cache")
    asyncio.run(_cache_step(config, settings, report))
    report.steps.append("cache")
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _knowledge_inputs(
    config: RefreshConfig, settings: ServeSettings, report: RefreshReport, say: Callable[[str], None]
) -> NewKnowledge | None:
    """The files to load: the given knowledge file, or what the first steps made (None: nothing new)."""
    if config.knowledge is not None:
        return NewKnowledge(config.knowledge, config.products, config.pairs, None)
    new = _generate_knowledge(settings, say)
    report.steps += ["sample", "generate", "refine"] if new else ["sample"]
    return new


def _load_and_index(
    config: RefreshConfig,
    settings: ServeSettings,
    loader: LoaderSettings,
    inputs: NewKnowledge,
    report: RefreshReport,
    say: Callable[[str], None],
) -> None:
    say("load")
    with connect(settings.neo4j) as driver:
        loaded = load(
            LoadConfig(
                rejects_dir=Path(settings.workspace.dir) / "rejects",
                knowledge=inputs.knowledge,
                products=inputs.products,
                pairs=inputs.pairs,
                database=settings.neo4j.database,
            ),
            driver,
            loader,
        )
        report.load = {
            "load_id": loaded.load_id,
            "knowledge_edges": loaded.knowledge_edges,
            "rejected": loaded.rejected,
        }
        report.steps.append("load")
        if inputs.explained is not None:
            _record_explained(settings, inputs.explained)
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


async def _cache_step(config: RefreshConfig, settings: ServeSettings, report: RefreshReport) -> None:
    svc = Services.open(settings)
    try:
        report.drained, report.tier2_written = await drain_queue(svc)
        if config.preload_top:
            report.tier1_written = await preload_tier1(svc, config.preload_top)
    finally:
        await svc.close()
