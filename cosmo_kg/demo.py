"""``cosmo-kg demo``: the main job on the bundled sample, against the local Neo4j.

Starts the local server (unless NEO4J_URI points elsewhere), applies the schema, loads the
bundled real sample (human-judged co-buy intentions from IntentionQA), then prints the graph
counts and a few saved-query answers.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

import click

from cosmo_kg.graph import server
from cosmo_kg.graph.cli import print_rows
from cosmo_kg.graph.connection import Neo4jSettings, connect
from cosmo_kg.graph.loader import LoadConfig, LoaderSettings, load
from cosmo_kg.graph.saved_queries import get_saved_query, run_saved_query
from cosmo_kg.graph.schema import apply_schema
from cosmo_kg.graph.server import LocalNeo4jSettings
from cosmo_kg.graph.stats import graph_stats
from cosmo_kg.settings import load_settings
from cosmo_kg.workspace import WorkspaceSettings, write_report

DEMO_QUERIES: tuple[tuple[str, dict[str, str]], ...] = (
    ("relation_distribution", {}),
    ("top_intentions_of_product", {"product_id": "B00000J1U8"}),
    ("products_for_intention", {"intention": "jewelry", "limit": "5"}),
    ("most_generic_intentions", {"limit": "5"}),
)


def sample_path(name: str) -> Path:
    """A bundled sample file (works from a source tree and from an installed wheel)."""
    return Path(str(resources.files("cosmo_kg.samples").joinpath(name)))


def _step(text: str) -> None:
    click.secho(f"\n==> {text}", bold=True)


def _neo4j_settings() -> Neo4jSettings:
    settings = load_settings(Neo4jSettings)
    if "NEO4J_URI" in os.environ:
        return settings
    local = load_settings(LocalNeo4jSettings)
    _step(f"Starting the local Neo4j ({local.bolt_uri}, data in {local.home_path})")
    state = server.start(local, echo=click.echo)
    click.echo(f"Neo4j is running (pid {state.pid}); browser at {state.browser_url}")
    return Neo4jSettings(uri=local.bolt_uri, user=settings.user, password=settings.password,
                         database=settings.database)


def run_demo() -> None:
    """Run the demo end to end; raises CosmoKGError subclasses on failure."""
    settings = _neo4j_settings()
    workspace = load_settings(WorkspaceSettings)
    with connect(settings) as driver:
        _step("Applying the schema (constraints and indexes)")
        schema = apply_schema(driver, settings.database)
        click.echo(f"{schema.constraints} constraints, {schema.indexes} indexes online")
        _step("Loading the bundled sample: IntentionQA co-buy intentions (human-judged)")
        config = LoadConfig(rejects_dir=workspace.rejects_dir,
                            knowledge=sample_path("intentionqa_knowledge.parquet"),
                            products=sample_path("intentionqa_products.parquet"),
                            database=settings.database)
        report = load(config, driver, load_settings(LoaderSettings))
        path = write_report(workspace, "load", report.__dict__)
        click.echo(f"{report.knowledge_edges:,} knowledge edges in {report.seconds:.1f}s; "
                   f"rejected {report.rejected or 'none'}; report {path}")
        _step("Graph counts")
        stats = graph_stats(driver, settings.database)
        click.echo("nodes: " + ", ".join(f"{k} {v:,}" for k, v in stats.nodes.items()))
        click.echo("edges: " + ", ".join(f"{k} {v:,}" for k, v in stats.relationships.items()))
        for name, params in DEMO_QUERIES:
            query = get_saved_query(name)
            _step(f"Saved query {name}")
            print_rows(run_saved_query(driver, query, query.bind(params), settings.database),
                       as_json=False, title=query.answers)
    click.echo("\nDone. Explore with `cosmo-kg graph query --list` (Neo4j at " + settings.uri + ").")


@click.command("demo")
def demo_command(**_: Any) -> None:
    """Run the main job on the bundled sample data with the local Neo4j, and show the result.

    Starts the local Neo4j unless NEO4J_URI is set, applies the schema, loads the sample and
    prints counts and saved-query answers. Safe to run again: loads are idempotent.
    """
    run_demo()
