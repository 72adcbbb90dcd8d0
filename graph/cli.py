"""``cosmo-kg neo4j ...`` (the local server) and ``cosmo-kg graph ...`` (schema, stats, queries)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from cosmo_kg.errors import InputError
from cosmo_kg.graph import local_auth, server
from cosmo_kg.graph.connection import Neo4jSettings, connect
from cosmo_kg.graph.console import ConsoleSettings
from cosmo_kg.graph.console_output import print_rows
from cosmo_kg.graph.repl import CypherConfig, run_console
from cosmo_kg.graph.saved_queries import get_saved_query, parse_assignments, run_saved_query, saved_queries
from cosmo_kg.graph.schema import apply_schema
from cosmo_kg.graph.server import LocalNeo4jSettings
from cosmo_kg.graph.stats import graph_stats
from cosmo_kg.settings import pop_settings, settings_options
from cosmo_kg.workspace import WorkspaceSettings

console = Console()


@click.group("neo4j")
def neo4j_group() -> None:
    """Run a local Neo4j 5 Community server (from Maven Central jars, Java 17) on 127.0.0.1.

    The jars are fetched once per machine into ~/.cache/cosmo-kg (or COSMO_CACHE_DIR); the
    data lives under --local-neo4j-home and survives restarts. To use your own server or a
    cluster instead, set NEO4J_URI and skip these commands.
    """


@neo4j_group.command("start")
@settings_options(LocalNeo4jSettings)
def neo4j_start(**params: Any) -> None:
    """Start the local server (no-op if it runs) and wait until Bolt answers."""
    settings = pop_settings(LocalNeo4jSettings, params)
    state = server.start(settings, echo=lambda m: click.echo(m, err=True))
    click.echo(f"Neo4j is running (pid {state.pid}).")
    click.echo(f"  bolt:    {state.bolt_uri}   (export NEO4J_URI={state.bolt_uri})")
    click.echo(f"  browser: {state.browser_url}   (user {local_auth.USER}; `cosmo-kg neo4j password`)")
    click.echo(f"  data:    {state.home}")


@neo4j_group.command("stop")
@settings_options(LocalNeo4jSettings)
def neo4j_stop(**params: Any) -> None:
    """Stop the local server cleanly (data is kept)."""
    settings = pop_settings(LocalNeo4jSettings, params)
    click.echo("Neo4j stopped." if server.stop(settings) else "Neo4j was not running.")


@neo4j_group.command("status")
@settings_options(LocalNeo4jSettings)
def neo4j_status(**params: Any) -> None:
    """Say whether the local server runs; exit 1 if it does not."""
    state = server.status(pop_settings(LocalNeo4jSettings, params))
    if state.running:
        click.echo(f"running (pid {state.pid}) at {state.bolt_uri}; data in {state.home}")
    else:
        click.echo(f"not running; data in {state.home}")
        raise SystemExit(1)


@neo4j_group.command("password")
@click.option("--reset", is_flag=True, help="Give the server a new password (it restarts).")
@settings_options(LocalNeo4jSettings)
def neo4j_password(reset: bool, **params: Any) -> None:
    """Print the local server's user name and password (for Neo4j Browser and other clients).

    The password is generated on the first start and kept in the data directory (mode 0600);
    cosmo-kg's own commands read it themselves.
    """
    settings = pop_settings(LocalNeo4jSettings, params)
    if reset:
        server.reset_password(settings, echo=lambda m: click.echo(m, err=True))
    password = local_auth.read_password(settings.home_path)
    if not password:
        raise InputError(
            f"the local Neo4j in {settings.home_path} has no password yet",
            hint="`cosmo-kg neo4j start` creates it",
        )
    click.echo(f"user:     {local_auth.USER}")
    click.echo(f"password: {password}")
    click.echo(f"browser:  {settings.browser_url}  (connect URL {settings.bolt_uri})")


@neo4j_group.command("logs")
@click.option("-n", "--lines", default=50, show_default=True, help="How many lines to show.")
@settings_options(LocalNeo4jSettings)
def neo4j_logs(lines: int, **params: Any) -> None:
    """Show the end of the local server's log."""
    click.echo(server.tail_log(pop_settings(LocalNeo4jSettings, params), lines) or "(no log yet)")


@click.group("graph")
def graph_group() -> None:
    """The knowledge graph in Neo4j: schema, counts and saved exploration queries.

    Every command works against any Neo4j 5 (NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD,
    NEO4J_DATABASE), the local one by default.
    """


@graph_group.command("init")
@settings_options(Neo4jSettings)
def graph_init(**params: Any) -> None:
    """Create the constraints and indexes of cypher/schema.cypher (safe to repeat)."""
    settings = pop_settings(Neo4jSettings, params)
    with connect(settings) as driver:
        report = apply_schema(driver, settings.database)
    click.echo(
        f"Schema applied: {report.statements} statements; "
        f"{report.constraints} constraints, {report.indexes} indexes online."
    )


@graph_group.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@settings_options(Neo4jSettings)
def graph_stats_command(as_json: bool, **params: Any) -> None:
    """Count nodes per label and relationships per type."""
    settings = pop_settings(Neo4jSettings, params)
    with connect(settings) as driver:
        stats = graph_stats(driver, settings.database)
    if as_json:
        click.echo(
            json.dumps({"nodes": stats.nodes, "relationships": stats.relationships}, indent=2, sort_keys=True)
        )
        return
    for title, counts, total in (
        ("label", stats.nodes, stats.total_nodes),
        ("relationship type", stats.relationships, stats.total_relationships),
    ):
        table = Table(title=None)
        table.add_column(title)
        table.add_column("count", justify="right")
        for name, count in counts.items():
            table.add_row(name, f"{count:,}")
        table.add_row("[bold]total[/bold]", f"[bold]{total:,}[/bold]")
        console.print(table)


@graph_group.command("query")
@click.argument("name", required=False)
@click.option(
    "--param",
    "-p",
    "param_pairs",
    multiple=True,
    metavar="NAME=VALUE",
    help="A query parameter; repeat for several.",
)
@click.option("--list", "list_only", is_flag=True, help="List the saved queries and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON.")
@settings_options(Neo4jSettings)
def graph_query(
    name: str | None, param_pairs: tuple[str, ...], list_only: bool, as_json: bool, **params: Any
) -> None:
    """Run a saved query from cypher/queries (read-only), e.g.

    cosmo-kg graph query top_intentions_of_product -p product_id=B00000J1U8
    """
    if list_only or not name:
        for query in saved_queries().values():
            args = ", ".join(p.name + ("" if p.required else f"={p.default!r}") for p in query.params)
            click.echo(f"{query.name}({args})\n    {query.answers}")
        return
    query = get_saved_query(name)
    bound = query.bind(parse_assignments(param_pairs))
    settings = pop_settings(Neo4jSettings, params)
    with connect(settings) as driver:
        rows = run_saved_query(driver, query, bound, settings.database)
    print_rows(rows, as_json=as_json, title=query.answers)


@click.command("cypher")
@click.option(
    "-e",
    "--execute",
    "statements",
    multiple=True,
    metavar="STATEMENT",
    help="Run STATEMENT and exit (repeat for several, run in order).",
)
@click.option(
    "-f",
    "--file",
    "script",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Run the statements (and :commands) of FILE and exit.",
)
@click.option("--write", is_flag=True, help="Allow statements that write; each asks for confirmation first.")
@click.option("--yes", "-y", is_flag=True, help="With --write: run writes without asking (scripts).")
@settings_options(Neo4jSettings)
@settings_options(ConsoleSettings)
@settings_options(WorkspaceSettings)
def cypher_command(
    statements: tuple[str, ...], script: Path | None, write: bool, yes: bool, **params: Any
) -> None:
    """A Cypher console on the knowledge graph, read-only unless --write.

    \b
    Interactive (no -e, -f or piped input): line editing, history, statements ended by ;
    spanning lines, results as tables with their time, and commands:
      :help  :schema  :saved [NAME k=v ...]  :param NAME VALUE  :params [clear]
      :explain STATEMENT  :format table|csv|json  :exit
    Ctrl-C cancels a running statement without leaving.

    \b
    Scripts: -e STATEMENT, -f FILE or statements on stdin; the first error stops the run
    with exit status 1 and its line and column.
      cosmo-kg cypher -e "MATCH (p:Product) RETURN p.title LIMIT 5"
      echo ":saved top_intentions_of_product product_id=B00000J1U8" | cosmo-kg cypher

    Every write (CREATE, MERGE, SET, DELETE, LOAD CSV, schema and admin commands, write
    procedures) is refused by Neo4j's own planner and a READ session unless --write is given.
    Connects to the local server by default (its password is read for you), or any Neo4j
    with --neo4j-uri (bolt:// or neo4j:// routing), NEO4J_USER and NEO4J_PASSWORD.
    """
    neo4j_settings = pop_settings(Neo4jSettings, params)
    settings = pop_settings(ConsoleSettings, params)
    workspace = pop_settings(WorkspaceSettings, params)
    history = Path(settings.history_file) if settings.history_file else Path(workspace.dir) / "cypher_history"
    config = CypherConfig(statements=statements, file=script, write=write, yes=yes, history_file=history)
    raise SystemExit(run_console(config, neo4j_settings, settings).exit_code)
