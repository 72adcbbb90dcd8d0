"""``cosmo-kg ingest ...``: the one command group that loads anything into the graph."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from cosmo_kg.graph import bulk_import, server
from cosmo_kg.graph.connection import Neo4jSettings, connect
from cosmo_kg.graph.loader import LoadConfig, LoaderSettings, LoadReport, load
from cosmo_kg.graph.server import LocalNeo4jSettings
from cosmo_kg.ingest.formats import Format, SourceSpec, parse_delimiter, parse_mapping
from cosmo_kg.ingest.pipeline import (
    GraphTarget,
    IngestConfig,
    IngestReport,
    IngestSettings,
    run_co_buy,
    run_events,
    run_products,
    run_search_buy,
)
from cosmo_kg.ingest.sampler import SampleConfig, SampleReport, SampleSettings, sample
from cosmo_kg.progress import progress_bar
from cosmo_kg.settings import pop_settings, settings_options
from cosmo_kg.workspace import WorkspaceSettings, write_report

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group("ingest")
def ingest_group() -> None:
    """Load files into the knowledge graph (Neo4j at NEO4J_URI).

    Loads are idempotent (loading the same file twice changes nothing) and resumable (a
    killed load, run again, finishes the remaining batches). Bad rows go to a rejects file
    under the workspace with a reason; the run report counts them.
    """


@ingest_group.command("knowledge")
@click.argument("knowledge", type=EXISTING_FILE)
@click.option("--products", type=EXISTING_FILE, help="products.parquet: the catalog of the heads.")
@click.option("--pairs", type=EXISTING_FILE, help="pairs.parquet: behaviour pairs with counts.")
@click.option(
    "--seen-at",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    help="Time stamped as first_seen/last_seen (default: when this load first began).",
)
@click.option(
    "--force", is_flag=True, help="Apply the files again even if this exact load already completed."
)
@settings_options(Neo4jSettings)
@settings_options(LoaderSettings)
@settings_options(LocalNeo4jSettings)
@settings_options(WorkspaceSettings)
def ingest_knowledge(
    knowledge: Path, products: Path | None, pairs: Path | None, seen_at: Any, force: bool, **params: Any
) -> None:
    """Load KNOWLEDGE (knowledge.parquet) with its products, queries, intentions and the
    relation-typed edges, plus SEARCH_BUY / CO_BUY behaviour edges.

    With --products, knowledge about products missing from the catalog is rejected. A load
    that already completed is skipped (--force applies it again). A big first load into the
    empty local server (`cosmo-kg neo4j start`) goes through Neo4j's offline importer, which
    restarts that server; see --loader-bulk-import-min-edges.
    """
    neo4j_settings = pop_settings(Neo4jSettings, params)
    loader_settings = pop_settings(LoaderSettings, params)
    local = local_server_behind(neo4j_settings, pop_settings(LocalNeo4jSettings, params))
    workspace = pop_settings(WorkspaceSettings, params)
    config = LoadConfig(
        rejects_dir=workspace.rejects_dir,
        knowledge=knowledge,
        products=products,
        pairs=pairs,
        database=neo4j_settings.database,
        seen_at=seen_at.astimezone() if seen_at else None,
        force=force,
    )
    if local is not None and bulk_import.recover(local, neo4j_settings.database):
        click.echo("An interrupted bulk import was rolled back; loading again.", err=True)
    with connect(neo4j_settings) as driver, progress_bar() as bar:
        task = bar.add_task("loading batches", total=None)
        report = load(
            config,
            driver,
            loader_settings,
            local=local,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    print_load_report(report, write_report(workspace, "load", report))


def local_server_behind(
    neo4j_settings: Neo4jSettings, local: LocalNeo4jSettings
) -> LocalNeo4jSettings | None:
    """The local server NEO4J_URI points at, if it is ours (running, or left stopped by an
    interrupted import) — the only server a load may stop for the offline importer."""
    if not bulk_import.serves(local, neo4j_settings.uri):
        return None
    return local if server.status(local).running or bulk_import.pending(local) else None


def print_load_report(report: LoadReport, path: Path) -> None:
    """The short summary a user reads after a load."""
    if report.already_loaded:
        click.echo(
            f"Load {report.load_id} already completed (seen at {report.seen_at}); nothing "
            "to do. Use --force to apply it again."
        )
        return
    state = f"resumed after {report.batches_skipped} committed batches" if report.resumed else "done"
    click.echo(
        f"Load {report.load_id} {state} by {report.method} in {report.seconds:.1f}s "
        f"({report.edges_per_second:,.0f} edges/s)."
    )
    click.echo("  rows in:  " + ", ".join(f"{k} {v:,}" for k, v in report.rows_in.items()))
    click.echo(
        f"  written:  {report.knowledge_edges:,} knowledge edges; created "
        f"{report.nodes_created:,} nodes and {report.relationships_created:,} relationships"
    )
    for name, reasons in report.rejected.items():
        detail = ", ".join(f"{reason} {count:,}" for reason, count in reasons.items())
        click.echo(f"  rejected {name}: {detail} -> {report.rejects_files[name]}")
    click.echo(f"  report:   {path}")


def source_options(command: Any) -> Any:
    """The options that say how to read an input file (shared by every behaviour command)."""
    options = [
        click.option(
            "--format",
            "fmt",
            type=click.Choice([f.value for f in Format]),
            help="File format (default: from the extension; .gz is decompressed).",
        ),
        click.option(
            "--delimiter",
            help="CSV field separator: a character or comma|tab|semicolon|pipe "
            "(default: comma, tab for .tsv).",
        ),
        click.option(
            "--map",
            "mapping",
            multiple=True,
            metavar="THEIRS=OURS",
            help="Rename a column, e.g. --map asin=product_id --map qty=count (repeatable).",
        ),
        click.option("--columns", help="Comma-separated column names for a file without a header line."),
        click.option(
            "--day",
            help="Label of this increment (e.g. 2024-05-01): re-ingesting a day replaces "
            "it. Default: the content of the file(s) identifies the increment.",
        ),
        click.option(
            "--graph/--no-graph",
            "to_graph",
            default=True,
            show_default=True,
            help="Also load the increment into Neo4j through the bulk loader.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    for group in (IngestSettings, Neo4jSettings, LoaderSettings, WorkspaceSettings):
        command = settings_options(group)(command)
    return command


def _ingest_config(
    files: Sequence[Path], params: dict[str, Any], adapter: str | None = None
) -> tuple[IngestConfig, Neo4jSettings, LoaderSettings, WorkspaceSettings]:
    ingest = pop_settings(IngestSettings, params)
    neo4j_settings = pop_settings(Neo4jSettings, params)
    loader = pop_settings(LoaderSettings, params)
    workspace = pop_settings(WorkspaceSettings, params)
    spec = SourceSpec(
        files[0],
        fmt=Format(params["fmt"]) if params["fmt"] else None,
        delimiter=parse_delimiter(params["delimiter"]) if params["delimiter"] else None,
        mapping=parse_mapping(params["mapping"]),
        columns=tuple(c.strip() for c in params["columns"].split(",")) if params["columns"] else (),
    )
    config = IngestConfig(
        spec,
        Path(workspace.dir),
        adapter=adapter,
        day=params["day"],
        settings=ingest,
        more_files=tuple(files[1:]),
    )
    return config, neo4j_settings, loader, workspace


def _run_ingest(
    runner: Callable[..., IngestReport],
    files: Sequence[Path],
    params: dict[str, Any],
    adapter: str | None = None,
) -> None:
    config, neo4j_settings, loader, workspace = _ingest_config(files, params, adapter)
    with progress_bar() as bar:
        more = f" and {len(files) - 1} more" if len(files) > 1 else ""
        task = bar.add_task(f"ingesting {files[0].name}{more}", total=None)

        def progress(phase: str, done: int, total: int) -> None:
            bar.update(task, description=phase, completed=done, total=total)

        kwargs = {"progress": progress} if runner is run_events else {}
        if not params["to_graph"]:
            report = runner(config, **kwargs)
        else:
            with connect(neo4j_settings) as driver:
                target = GraphTarget(driver, loader, database=neo4j_settings.database)
                report = runner(config, target, **kwargs)
    print_ingest_report(report, write_report(workspace, f"ingest-{report.command}", report))


def print_ingest_report(report: IngestReport, path: Path) -> None:
    """The short summary a user reads after an ingest."""
    state = "replaced an increment with the same id" if report.replaced_increment else "new increment"
    click.echo(
        f"Ingest {report.command} {report.increment_id} ({state}) in {report.seconds:.1f}s "
        f"({report.rows_per_second:,.0f} rows/s)."
    )
    click.echo(
        f"  rows in {report.rows_in:,}, kept {report.rows_kept:,}, rejected {sum(report.rejected.values()):,}"
    )
    if report.rejected:
        click.echo("  rejected: " + ", ".join(f"{reason} {n:,}" for reason, n in report.rejected.items()))
        for rejects in report.rejects_files:
            click.echo(f"  rejects:  {rejects}")
    if not report.unknown_products_checked:
        click.echo("  note:     no catalog ingested yet, so product ids were not checked")
    click.echo("  written:  " + ", ".join(f"{part} {n:,}" for part, n in report.written.items()))
    click.echo("  store:    " + ", ".join(f"{part} {n:,}" for part, n in report.store.items()))
    if report.load:
        written = ", ".join(f"{k} {v:,}" for k, v in report.load["rows_written"].items())
        click.echo(f"  graph:    load {report.load['load_id']}: {written or 'nothing new'}")
    click.echo(f"  report:   {path}")


@ingest_group.command("products")
@click.argument("file", type=EXISTING_FILE)
@source_options
def ingest_products(file: Path, **params: Any) -> None:
    """Ingest a product catalog FILE (CSV, TSV, Parquet or JSON Lines; gzip too).

    Columns: product_id and title (required), product_type, domain (one of the 18 domains, else
    Others), brand, description, popularity. The latest increment wins per product.
    """
    _run_ingest(run_products, [file], params)


@ingest_group.command("search-buy")
@click.argument("file", type=EXISTING_FILE)
@click.option(
    "--adapter",
    type=click.Choice(["wands"]),
    help="Read a public format: wands = WANDS query.csv paired with catalog products by class.",
)
@source_options
def ingest_search_buy(file: Path, adapter: str | None, **params: Any) -> None:
    """Ingest search-buy behaviour: FILE with query, product_id and count (without a count
    column, each row is one purchase). Counts merge into the store; rows naming products that
    are not in the ingested catalog are rejected.
    """
    _run_ingest(run_search_buy, [file], params, adapter)


@ingest_group.command("co-buy")
@click.argument("file", type=EXISTING_FILE)
@click.option(
    "--adapter",
    type=click.Choice(["folkscope", "intentionqa"]),
    help="Read a public format (its product titles are ingested as catalog rows too).",
)
@source_options
def ingest_co_buy(file: Path, adapter: str | None, **params: Any) -> None:
    """Ingest co-buy behaviour: FILE with product_id_a, product_id_b and count (without a count
    column, each row is one basket). Pairs are stored once, in canonical order.
    """
    _run_ingest(run_co_buy, [file], params, adapter)


@ingest_group.command("events")
@click.argument("files", nargs=-1, required=True, type=EXISTING_FILE, metavar="FILE...")
@source_options
def ingest_events(files: tuple[Path, ...], **params: Any) -> None:
    """Ingest raw events and derive behaviour: one or more FILEs with session_id, timestamp,
    action (search | click | purchase), product_id, query and optionally order_id.

    Several files (a shell glob such as part-*.parquet or events-2024-05-*.csv.gz) are one log,
    read in the order given with the same options, and one increment: sessions are joined across
    the files, so a click in one file and its purchase in the next still pair. A rejected row
    keeps its row number in its file and, with several files, names the file.

    A click under a query followed by a purchase of that product within the window is a
    search-buy; products purchased in the same order (else session) are co-buys. Memory stays
    bounded: sessions are spread over on-disk buckets processed one at a time.
    """
    _run_ingest(run_events, files, params)


@click.command("sample")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write pairs.parquet.",
)
@click.option(
    "--products-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write products.parquet with the catalog rows of the sampled pairs.",
)
@settings_options(SampleSettings)
@settings_options(WorkspaceSettings)
def sample_command(out: Path, products_out: Path | None, **params: Any) -> None:
    """Sample the ingested behaviour into a diverse, representative pairs.parquet (SPEC §1.2):
    minimum counts, near-duplicate and random co-buys dropped, too broad / too narrow queries
    dropped, then a seeded draw capped per (kind, domain, product type).
    """
    settings = pop_settings(SampleSettings, params)
    workspace = pop_settings(WorkspaceSettings, params)
    with progress_bar() as bar:
        bar.add_task("sampling", total=None)
        report = sample(SampleConfig(Path(workspace.dir), out, products_out, settings))
    print_sample_report(report, write_report(workspace, "sample", report))


def print_sample_report(report: SampleReport, path: Path) -> None:
    """Pairs in/out, drops per reason and coverage before → after."""
    counts = ", ".join(f"{kind} {n:,} → {report.pairs_out[kind]:,}" for kind, n in report.pairs_in.items())
    click.echo(f"Sampled {counts} (seed {report.seed}, {report.strata:,} strata, cap {report.type_cap:,}).")
    if report.dropped:
        click.echo("  dropped: " + ", ".join(f"{reason} {n:,}" for reason, n in report.dropped.items()))
    for axis in ("domain", "product_type"):
        before, after = report.coverage_before[axis], report.coverage_after[axis]
        click.echo(f"  {axis}s covered: {len(after):,} of {len(before):,}")
    for domain, before in report.coverage_before["domain"].items():
        click.echo(f"    {domain:<28} {before:>9,} → {report.coverage_after['domain'].get(domain, 0):>7,}")
    click.echo(f"  wrote:   {report.out}" + (f", {report.products_out}" if report.products_out else ""))
    click.echo(f"  report:  {path}")
