"""``cosmo-kg graph retract`` and ``cosmo-kg graph export``: knowledge out of the graph."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from cosmo_kg.graph.connection import Neo4jSettings, connect
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
def retract_command(run_id: str | None, model: str | None, relation: str | None, domain: str | None,
                    dry_run: bool, batch_size: int, **params: Any) -> None:
    """Take knowledge back out of the graph: delete the knowledge edges the filters select (they
    combine) and the intentions left with no edge. Killed, run it again: it finishes. A serving
    API sees the new graph version and stops serving cached answers from before it.

    cosmo-kg graph retract --model smollm2-135m --relation USED_ON --dry-run
    """
    settings = pop_settings(Neo4jSettings, params)
    workspace = pop_settings(WorkspaceSettings, params)
    config = RetractConfig(run_id, model, relation, normalize_domain_name(domain), dry_run,
                           settings.database, batch_size)
    config.validate()
    with connect(settings) as driver:
        report = retract(config, driver)
    print_retract_report(report, None if dry_run else write_report(workspace, "retract", asdict(report)))


def print_retract_report(report: RetractReport, path: Path | None) -> None:
    """The short summary a user reads after a retraction (or a dry run)."""
    verb = "would retract" if report.dry_run else "retracted"
    per_relation = ", ".join(f"{name} {count:,}" for name, count in sorted(report.edges.items()))
    click.echo(f"{'Dry run: ' if report.dry_run else ''}{verb} {report.edges_total:,} knowledge edges"
               f"{f' ({per_relation})' if per_relation else ''} and {report.intentions_removed:,} "
               f"intentions left without an edge; filter {report.filter}.")
    if path is not None:
        resumed = " (finished an interrupted run)" if report.resumed else ""
        click.echo(f"  {report.edges_per_second:,.0f} edges/s in {report.seconds:.1f}s{resumed}; "
                   f"report: {path}")
