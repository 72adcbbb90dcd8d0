"""``cosmo-kg serve``, ``index ...``, ``cache ...``, ``features ...``, ``apikey ...``, ``refresh``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import click

from cosmo_kg.api import caching, daily_job
from cosmo_kg.api.answers import TIER1, TIER2
from cosmo_kg.api.auth import create_key
from cosmo_kg.api.feature_store import PREFIXES
from cosmo_kg.api.index import SemanticIndex, read_meta
from cosmo_kg.api.index_build import LABELS, IndexConfig, build_index, graph_texts
from cosmo_kg.api.services import ServeSettings, Services, make_embedder
from cosmo_kg.api.settings import ApiSettings, CacheSettings, IndexSettings
from cosmo_kg.api.watch import WatchConfig, watch
from cosmo_kg.embeddings import EmbeddingSettings
from cosmo_kg.graph.connection import Neo4jSettings, connect
from cosmo_kg.graph.loader import LoaderSettings
from cosmo_kg.progress import progress_bar
from cosmo_kg.settings import SettingsGroup, pop_settings, settings_options
from cosmo_kg.vocabulary import NodeLabel
from cosmo_kg.workspace import WorkspaceSettings, write_report

GROUPS: tuple[type[SettingsGroup], ...] = (
    Neo4jSettings,
    ApiSettings,
    IndexSettings,
    CacheSettings,
    EmbeddingSettings,
    WorkspaceSettings,
)
T = TypeVar("T")


def serve_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for group in GROUPS:
        command = settings_options(group)(command)
    return command


def pop_serve_settings(params: dict[str, Any]) -> ServeSettings:
    neo4j, api, index, cache, embeddings, workspace = (pop_settings(g, params) for g in GROUPS)
    return ServeSettings(neo4j, api, index, cache, embeddings, workspace)


def with_services(
    settings: ServeSettings, work: Callable[[Services], Coroutine[Any, Any, T]], with_index: bool = False
) -> T:
    async def run() -> T:
        svc = Services.open(settings, with_index=with_index)
        try:
            return await work(svc)
        finally:
            await svc.close()

    return asyncio.run(run())


@click.command("serve")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="API processes on the port, each with its own Neo4j pool and index copy (--api-workers).",
)
@serve_options
def serve_command(workers: int | None, **params: Any) -> None:
    """Serve the API: GraphQL (GraphiQL in a browser) at /graphql, the cached hot path at
    /v1/intentions, the read-only console at POST /cypher, /healthz, /readyz and /metrics.

    Build the semantic index first (cosmo-kg index build); writes (/admin/...) need a key
    from `cosmo-kg apikey create`. With --workers N, N processes share the port (put Redis at
    REDIS_URL for one cache across them and across hosts).
    """
    from cosmo_kg.api.workers import serve

    if workers is not None:
        params[ApiSettings.param_name("workers")] = workers
    serve(pop_serve_settings(params))


@click.group("index")
def index_group() -> None:
    """The semantic index: FAISS over intention texts and known queries (all-MiniLM-L6-v2)."""


@index_group.command("build")
@click.option("--rebuild", is_flag=True, help="Start from scratch instead of adding the new texts.")
@serve_options
def index_build(rebuild: bool, **params: Any) -> None:
    """Embed the graph's intentions and queries not indexed yet and save the index (incremental)."""
    settings = pop_serve_settings(params)
    embedder = make_embedder(settings.embeddings)
    with connect(settings.neo4j) as driver, progress_bar() as bar:
        total = sum(
            1 for label in LABELS.values() for _ in graph_texts(driver, label, settings.neo4j.database)
        )
        task = bar.add_task("embedding texts", total=total)
        report = build_index(
            IndexConfig(rebuild=rebuild, database=settings.neo4j.database),
            settings.index,
            driver,
            embedder,
            progress=lambda n: bar.advance(task, n),
        )
    path = write_report(settings.workspace, "index", report)
    click.echo(
        f"Index in {report.directory}: added {report.added}, totals {report.totals}, "
        f"kinds {report.index_kinds} in {report.seconds:.1f}s ({report.texts_per_second:,.0f} texts/s)."
    )
    click.echo(f"  version: {report.version} (running APIs switch to it within --index-reload-seconds)")
    click.echo(f"  report: {path}")


@index_group.command("query")
@click.argument("text")
@click.option("-k", default=10, show_default=True, help="How many neighbours.")
@click.option("--kind", type=click.Choice(list(LABELS)), default="intention", show_default=True)
@serve_options
def index_query(text: str, k: int, kind: str, **params: Any) -> None:
    """Print the TEXTs of the index nearest in meaning to TEXT, with cosine scores."""
    settings = pop_serve_settings(params)
    index = SemanticIndex.load(settings.index.path, make_embedder(settings.embeddings), settings.index)
    for hit in index.search(text, k, kind):
        click.echo(f"{hit.score:.4f}  {hit.text}")


@index_group.command("stats")
@serve_options
def index_stats(**params: Any) -> None:
    """Show the model, build parameters and counts of the persisted index."""
    settings = pop_serve_settings(params)
    click.echo(json.dumps(asdict(read_meta(settings.index.path)), indent=2))


@click.group("cache")
def cache_group() -> None:
    """Cache tiers: tier 1 preloaded frequent queries, tier 2 the last refresh, the miss queue.

    The store is Redis when REDIS_URL is set, else an embedded file (--cache-path).
    """


@cache_group.command("preload")
@click.option("--top", default=1000, show_default=True, help="How many frequent queries to preload.")
@serve_options
def cache_preload(top: int, **params: Any) -> None:
    """Answer the TOP most frequent queries of the graph into tier 1."""
    settings = pop_serve_settings(params)
    written = with_services(settings, lambda svc: caching.preload_tier1(svc, top))
    click.echo(f"Tier 1: {written:,} answers preloaded.")


@cache_group.command("stats")
@serve_options
def cache_stats(**params: Any) -> None:
    """Count the answers per tier, the features and the queued misses."""
    settings = pop_serve_settings(params)

    async def count(svc: Services) -> dict[str, Any]:
        store = svc.store
        return {
            "store": store.name,
            "tier1": store.count(TIER1),
            "tier2": store.count(TIER2),
            "query_features": store.count(PREFIXES[NodeLabel.QUERY]),
            "product_features": store.count(PREFIXES[NodeLabel.PRODUCT]),
            "queued": len(store.queued()),
        }

    click.echo(json.dumps(with_services(settings, count), indent=2))


@cache_group.command("queue")
@click.option("-n", "--limit", default=20, show_default=True, help="How many queued queries to show.")
@serve_options
def cache_queue(limit: int, **params: Any) -> None:
    """Show the queued misses, most missed first."""
    settings = pop_serve_settings(params)

    async def queued(svc: Services) -> list[tuple[str, int]]:
        return svc.store.queued(limit)

    for item, misses in with_services(settings, queued):
        click.echo(f"{misses:>6}  {item}")


@cache_group.command("clear")
@click.argument("tier", type=click.Choice(["tier1", "tier2"]))
@serve_options
def cache_clear(tier: str, **params: Any) -> None:
    """Empty one cache tier (tier1: preloaded answers, tier2: batch results); the next request
    for a dropped key is answered from the graph and queued again."""
    settings = pop_serve_settings(params)

    async def clear(svc: Services) -> int:
        return svc.store.delete_prefix(TIER1 if tier == "tier1" else TIER2)

    click.echo(f"{tier}: {with_services(settings, clear):,} answers deleted.")


@click.group("features")
def features_group() -> None:
    """The feature store: per-query and per-product features (top intentions per relation,
    product-type distribution, strong-intent flag)."""


@features_group.command("build")
@serve_options
def features_build(**params: Any) -> None:
    """Compute the features of every query and product of the graph into the store."""
    settings = pop_serve_settings(params)

    async def build(svc: Services) -> dict[str, int]:
        return await svc.features.build_all()

    click.echo(f"Features written: {with_services(settings, build)}")


@features_group.command("export")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@serve_options
def features_export(out_dir: Path, **params: Any) -> None:
    """Write the stored features as OUT_DIR/query_features.parquet and product_features.parquet."""
    settings = pop_serve_settings(params)

    async def export(svc: Services) -> dict[str, int]:
        return svc.features.export_all(out_dir)

    click.echo(f"Exported rows: {with_services(settings, export)} to {out_dir}")


@click.group("apikey")
def apikey_group() -> None:
    """API keys for the endpoints that write; only their SHA-256 is stored."""


@apikey_group.command("create")
@click.argument("name")
@serve_options
def apikey_create(name: str, **params: Any) -> None:
    """Create (or replace) the key NAME and print it once."""
    settings = pop_serve_settings(params)
    key = create_key(settings.keys_file, name)
    click.echo(key)
    click.echo(
        f"Stored its hash in {settings.keys_file}; send it as `Authorization: Bearer <key>`.", err=True
    )


@click.command("refresh")
@click.option(
    "--knowledge",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Start from this knowledge.parquet (skips sample → generate → refine).",
)
@click.option(
    "--products",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="products.parquet to load with the knowledge.",
)
@click.option(
    "--pairs",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="pairs.parquet to load with the knowledge.",
)
@click.option("--cache-only", is_flag=True, help="Only answer the queued misses and preload tier 1.")
@click.option("--preload-top", default=1000, show_default=True, help="Frequent queries to preload (0: none).")
@click.option("--no-index", is_flag=True, help="Do not update the semantic index.")
@click.option(
    "--watch",
    "watch_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Keep running: take new event files landing in this directory and refresh with them.",
)
@click.option("--poll-seconds", default=5.0, show_default=True, help="With --watch: seconds between looks.")
@serve_options
@settings_options(LoaderSettings)
def refresh_command(
    knowledge: Path | None,
    products: Path | None,
    pairs: Path | None,
    cache_only: bool,
    preload_top: int,
    no_index: bool,
    watch_dir: Path | None,
    poll_seconds: float,
    **params: Any,
) -> None:
    """The daily job: sample → generate → refine → load → index → cache (answer the queued
    misses into tier 2, preload tier 1). Safe to run again after a crash.

    With --watch DIR it runs until stopped: event files (as `ingest events` takes) landing in
    DIR are ingested and refreshed as they come, so their knowledge is served minutes later.
    """
    loader = pop_settings(LoaderSettings, params)
    settings = pop_serve_settings(params)
    if watch_dir is not None:
        config = WatchConfig(watch_dir, poll_seconds=poll_seconds, preload_top=preload_top)
        for done in watch(config, settings, loader, say=lambda step: click.echo(f"· {step}", err=True)):
            path = write_report(settings.workspace, "refresh", done)
            click.echo(
                f"Took {len(done.files)} file(s); served {done.served_after_seconds:.0f}s after the "
                f"first landed (refresh {done.seconds:.0f}s); report: {path}",
                nl=True,
            )
        return
    config = daily_job.RefreshConfig(knowledge, products, pairs, cache_only, preload_top, not no_index)
    report = daily_job.run(config, settings, loader, progress=lambda step: click.echo(f"· {step}", err=True))
    path = write_report(settings.workspace, "refresh", report)
    click.echo(
        f"Refresh done in {report.seconds:.1f}s: steps {', '.join(report.steps)}; "
        f"{report.drained:,} queued misses answered into tier 2, {report.tier1_written:,} tier-1 answers."
    )
    click.echo(f"  report: {path}")


@click.command("graphql-schema")
def graphql_schema_command() -> None:
    """Print the GraphQL schema as SDL (docs/schema.graphql is this output)."""
    from cosmo_kg.api.schema import schema_sdl

    click.echo(schema_sdl(), nl=False)


COMMANDS = (
    serve_command,
    graphql_schema_command,
    index_group,
    cache_group,
    features_group,
    apikey_group,
    refresh_command,
)
