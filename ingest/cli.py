"""``cosmo-kg ingest ...``: the one command group that loads anything into the graph."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from cosmo_kg.graph.connection import Neo4jSettings, connect
from cosmo_kg.graph.loader import LoadConfig, LoaderSettings, LoadReport, load
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

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
@click.option("--seen-at", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
              help="Time stamped as first_seen/last_seen (default: when this load first began).")
@settings_options(Neo4jSettings)
@settings_options(LoaderSettings)
@settings_options(WorkspaceSettings)
def ingest_knowledge(knowledge: Path, products: Path | None, pairs: Path | None,
                     seen_at: Any, **params: Any) -> None:
    """Load KNOWLEDGE (knowledge.parquet) with its products, queries, intentions and the
    relation-typed edges, plus SEARCH_BUY / CO_BUY behaviour edges.

    With --products, knowledge about products missing from the catalog is rejected.
    """
    neo4j_settings = pop_settings(Neo4jSettings, params)
    loader_settings = pop_settings(LoaderSettings, params)
    workspace = pop_settings(WorkspaceSettings, params)
    config = LoadConfig(rejects_dir=workspace.rejects_dir, knowledge=knowledge, products=products,
                        pairs=pairs, database=neo4j_settings.database,
                        seen_at=seen_at.astimezone() if seen_at else None)
    with connect(neo4j_settings) as driver, _progress() as bar:
        task = bar.add_task("loading batches", total=None)
        report = load(config, driver, loader_settings,
                      progress=lambda done, total: bar.update(task, completed=done, total=total))
    print_load_report(report, write_report(workspace, "load", report.__dict__))


def _progress() -> Progress:
    return Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), transient=True)


def print_load_report(report: LoadReport, path: Path) -> None:
    """The short summary a user reads after a load."""
    state = f"resumed after {report.batches_skipped} committed batches" if report.resumed else "done"
    click.echo(f"Load {report.load_id} {state} in {report.seconds:.1f}s "
               f"({report.edges_per_second:,.0f} edges/s).")
    click.echo("  rows in:  " + ", ".join(f"{k} {v:,}" for k, v in report.rows_in.items()))
    click.echo(f"  written:  {report.knowledge_edges:,} knowledge edges; created "
               f"{report.nodes_created:,} nodes and {report.relationships_created:,} relationships")
    for name, reasons in report.rejected.items():
        detail = ", ".join(f"{reason} {count:,}" for reason, count in reasons.items())
        click.echo(f"  rejected {name}: {detail} -> {report.rejects_files[name]}")
    click.echo(f"  report:   {path}")
