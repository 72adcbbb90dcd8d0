"""``cosmo-kg graph retract``, ``graph export`` and ``graph import``: knowledge out of the graph
and back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cosmo_kg.graph.connection import Neo4jSettings, connect
from cosmo_kg.graph.export import ExportConfig, export_graph, import_graph
from cosmo_kg.graph.retract import RetractConfig, RetractReport, normalize_domain_name, retract
from cosmo_kg.settings import pop_settings, settings_options
from cosmo_kg.workspace import WorkspaceSettings, write_report


@click.command("retract")
@click.option("--run-id", help="Retract the knowledge edges of this run (the knowledge file's run_id).")
@click.option("--model", help="Retract the knowledge edges this model generated.")
@click.option("--relation", help="Retract the knowledge edges of this relation, e.g. USED_FOR_EVE.")
@click.option("--domain", help="Only edges of this domain's products (and of queries that bought them).")
@click.option("--dry-run", is_flag=True, help="Count what would be retracted; change nothing.")
@click.option("--batch-size", default=10_000, show_default=True, help="Edges deleted per transaction.")
@settings_options(Neo4jSettings)
@settings_options(WorkspaceSettings)
def retract_command(
    run_id: str | None,
    model: str | None,
    relation: str | None,
    domain: str | None,
    dry_run: bool,
    batch_size: int,
    **params: Any,
) -> None:
    """Take knowledge back out of the graph: delete the knowledge edges the filters select (they
    combine) and the intentions left with no edge. Killed, run it again: it finishes. A serving
    API sees the new graph version and stops serving cached answers from before it.

    cosmo-kg graph retract --model smollm2-135m --relation USED_ON --dry-run
    """
    settings = pop_settings(Neo4jSettings, params)
    workspace = pop_settings(WorkspaceSettings, params)
    config = RetractConfig(
        run_id, model, relation, normalize_domain_name(domain), dry_run, settings.database, batch_size
    )
    config.validate()
    with connect(settings) as driver:
        report = retract(config, driver)
    print_retract_report(report, None if dry_run else write_report(workspace, "retract", report))


def print_retract_report(report: RetractReport, path: Path | None) -> None:
    """The short summary a user reads after a retraction (or a dry run)."""
    verb = "would retract" if report.dry_run else "retracted"
    per_relation = ", ".join(f"{name} {count:,}" for name, count in sorted(report.edges.items()))
    click.echo(
        f"{'Dry run: ' if report.dry_run else ''}{verb} {report.edges_total:,} knowledge edges"
        f"{f' ({per_relation})' if per_relation else ''} and {report.intentions_removed:,} "
        f"intentions left without an edge; filter {report.filter}."
    )
    if path is not None:
        resumed = " (finished an interrupted run)" if report.resumed else ""
        click.echo(
            f"  {report.edges_per_second:,.0f} edges/s in {report.seconds:.1f}s{resumed}; report: {path}"
        )


@click.command("export")
@click.option(
    "-o",
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the Parquet files (created; files in it are replaced).",
)
@click.option("--batch-size", default=50_000, show_default=True, help="Rows per Parquet row group.")
@settings_options(Neo4jSettings)
@settings_options(WorkspaceSettings)
def export_command(out_dir: Path, batch_size: int, **params: Any) -> None:
    """Write the graph as Parquet: products.parquet and pairs.parquet (the stage contracts),
    queries.parquet, intentions.parquet and knowledge_edges.parquet (one row per knowledge edge
    with its scores and provenance). Streamed: memory stays flat on any graph size.
    `cosmo-kg graph import DIR` writes it back.
    """
    settings = pop_settings(Neo4jSettings, params)
    workspace = pop_settings(WorkspaceSettings, params)
    with connect(settings) as driver:
        report = export_graph(ExportConfig(out_dir, settings.database, batch_size), driver)
    path = write_report(workspace, "export", report)
    click.echo(
        f"Exported to {out_dir} in {report.seconds:.1f}s ({report.rows_per_second:,.0f} rows/s): "
        + ", ".join(f"{name} {count:,}" for name, count in report.rows.items())
    )
    click.echo(f"  report: {path}")


@click.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--batch-size", default=10_000, show_default=True, help="Rows per transaction.")
@settings_options(Neo4jSettings)
def import_command(directory: Path, batch_size: int, **params: Any) -> None:
    """Write an export of `cosmo-kg graph export` into the graph (MERGE: into an empty graph it
    gives the exported graph back; run again after a failure, it changes nothing twice)."""
    settings = pop_settings(Neo4jSettings, params)
    with connect(settings) as driver:
        report = import_graph(directory, driver, settings.database, batch_size)
    click.echo(
        f"Imported {directory} in {report.seconds:.1f}s: "
        + ", ".join(f"{name} {count:,}" for name, count in report.rows.items())
    )
