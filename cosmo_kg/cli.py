"""The ``cosmo-kg`` command: a thin shell over the stage libraries.

Each stage folder owns a ``cli.py`` with its click commands; this module assembles them and
turns ``CosmoKGError`` into ``Error: ...`` on stderr and a non-zero exit.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from cosmo_kg import __version__
from cosmo_kg.errors import CosmoKGError
from cosmo_kg.settings import SettingsGroup, settings_markdown


class CosmoGroup(click.Group):
    """Root group: reports cosmo-kg errors as one ``Error:`` line plus a hint."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CosmoKGError as exc:
            click.echo(f"Error: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"Hint: {exc.hint}", err=True)
            sys.exit(exc.exit_code)


@click.group(
    cls=CosmoGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, prog_name="cosmo-kg")
def cli() -> None:
    """cosmo-kg: an open e-commerce commonsense knowledge graph (COSMO, SIGMOD 2024).

    It turns shop behaviour (search→buy, bought-together) into intention knowledge with a
    language model, refines it with a critic, stores it in Neo4j and serves it.

    \b
    Start here:
      cosmo-kg doctor                 check Java, Maven, Neo4j, Python packages, GPU
      cosmo-kg neo4j start            run the local Neo4j on 127.0.0.1
      cosmo-kg graph init             create constraints and indexes
      cosmo-kg ingest knowledge K     load knowledge (and --products, --pairs)
      cosmo-kg graph stats            counts per label and relationship type
      cosmo-kg cypher                 a read-only Cypher console (-e STATEMENT for one)

    Settings come from options, environment variables (NEO4J_URI, COSMO_*), a cosmo-kg.toml
    file, then defaults: `cosmo-kg settings` lists them all.
    """


def all_settings_groups() -> list[type[SettingsGroup]]:
    """Every settings group of every stage, in documentation order."""
    from cosmo_kg.api.settings import ApiSettings, CacheSettings, IndexSettings
    from cosmo_kg.distributed import RaySettings
    from cosmo_kg.embeddings import EmbeddingSettings
    from cosmo_kg.generation.settings import GenerationSettings, OpenAISettings, VllmSettings
    from cosmo_kg.generation.tuning import TuneSettings
    from cosmo_kg.graph.connection import Neo4jSettings
    from cosmo_kg.graph.console import ConsoleSettings
    from cosmo_kg.graph.loader import LoaderSettings
    from cosmo_kg.graph.server import LocalNeo4jSettings
    from cosmo_kg.ingest.pipeline import IngestSettings
    from cosmo_kg.ingest.sampler import SampleSettings
    from cosmo_kg.refinement.filters import FilterSettings, RefineSettings
    from cosmo_kg.workspace import WorkspaceSettings

    return [
        Neo4jSettings,
        LocalNeo4jSettings,
        LoaderSettings,
        WorkspaceSettings,
        IngestSettings,
        SampleSettings,
        ApiSettings,
        IndexSettings,
        CacheSettings,
        GenerationSettings,
        OpenAISettings,
        VllmSettings,
        TuneSettings,
        RefineSettings,
        FilterSettings,
        EmbeddingSettings,
        RaySettings,
        ConsoleSettings,
    ]


@cli.command("settings")
@click.option("--markdown", is_flag=True, help="Print the reference as Markdown (docs/settings.md).")
def settings_command(markdown: bool) -> None:
    """List every setting: its option, environment variable, default and meaning."""
    groups = all_settings_groups()
    if markdown:
        click.echo(settings_markdown(groups))
        return
    for group in groups:
        click.echo(f"[{group.section}]")
        for f, _ in group.fields():
            default = "(hidden)" if f.metadata["secret"] else repr(f.default)
            click.echo(f"  {f.name:<16} {f.metadata['env']:<30} {default:<22} {f.metadata['help']}")


def _register() -> None:
    from cosmo_kg.api.cli import COMMANDS as SERVING_COMMANDS
    from cosmo_kg.demo import demo_command
    from cosmo_kg.doctor import doctor_command
    from cosmo_kg.generation.cli import generate_command
    from cosmo_kg.generation.instruct_cli import instruct_group
    from cosmo_kg.graph.cli import cypher_command, graph_group, neo4j_group
    from cosmo_kg.ingest.cli import ingest_group, sample_command
    from cosmo_kg.refinement.cli import (
        annotate_group,
        critic_group,
        discover_command,
        refine_command,
    )

    cli.add_command(demo_command)
    cli.add_command(doctor_command)
    cli.add_command(neo4j_group)
    from cosmo_kg.graph.knowledge_cli import export_command, import_command, retract_command

    for command in (retract_command, export_command, import_command):
        graph_group.add_command(command)
    cli.add_command(graph_group)
    cli.add_command(cypher_command)
    cli.add_command(ingest_group)
    cli.add_command(sample_command)
    cli.add_command(generate_command)
    cli.add_command(instruct_group)
    for command in (refine_command, annotate_group, critic_group, discover_command):
        cli.add_command(command)
    for command in SERVING_COMMANDS:
        cli.add_command(command)


_register()


def main() -> None:
    cli(prog_name="cosmo-kg")


if __name__ == "__main__":
    main()
