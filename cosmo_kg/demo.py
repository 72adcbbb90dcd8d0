"""``cosmo-kg demo``: the main job on the bundled samples, against the local Neo4j.

The whole pipeline, small enough for a laptop CPU:
1. start the local Neo4j (unless NEO4J_URI points elsewhere) and apply the schema;
2. ingest the bundled real behaviour samples (FolkScope / IntentionQA co-buy pairs, WANDS
   search queries over a hand-made catalog) into the behaviour store and the graph;
3. sample representative pairs;
4. generate candidate intentions for 50 of them with COSMO-LM (the local SmolLM2 model with the
   shipped LoRA adapter, in process through llama.cpp);
5. refine them (filters + the shipped critic) into knowledge and load it, together with the
   bundled human-judged IntentionQA knowledge;
6. build the semantic index and show counts, saved-query answers and a semantic lookup.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import click
import neo4j
import polars as pl

from cosmo_kg.graph import local_auth, server
from cosmo_kg.graph.connection import Neo4jSettings, connect
from cosmo_kg.graph.console_output import print_rows
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
    ("most_generic_intentions", {"limit": "5"}),
)
DEMO_RELATIONS = "xWANT"  # what the customer wants to do: COSMO-LM learned it from human judgements
SEMANTIC_PROBE = "going camping in the mountains"
EXAMPLE_PRODUCT = "B00000J1U8"  # in the bundled IntentionQA knowledge the demo loads
GRAPHQL_EXAMPLE = (
    f'{{ product(id: "{EXAMPLE_PRODUCT}") {{ title intentions(first: 3) '
    "{ edges { relation plausibility node { text } } } } }"
)
CYPHER_EXAMPLE = (
    f"MATCH (p:Product {{product_id: '{EXAMPLE_PRODUCT}'}})-[r]->(i:Intention) "
    "RETURN type(r) AS relation, i.text AS intention, r.plausibility AS plausibility "
    "ORDER BY plausibility DESC LIMIT 5"
)


@dataclass(frozen=True)
class DemoConfig:
    """How much of the pipeline's LLM work the demo does (pairs per behaviour kind)."""

    pairs_per_kind: int = 25
    relations: str = DEMO_RELATIONS


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
    return Neo4jSettings(
        uri=local.bolt_uri, user=settings.user, password=settings.password, database=settings.database
    )


def _ingest_behaviours(driver: neo4j.Driver, settings: Neo4jSettings, workspace: Path) -> None:
    from cosmo_kg.ingest.formats import SourceSpec
    from cosmo_kg.ingest.pipeline import GraphTarget, IngestConfig, run_co_buy, run_products, run_search_buy

    target = GraphTarget(driver, load_settings(LoaderSettings), settings.database)
    runs = (
        (run_co_buy, "cobuy_folkscope.csv.gz", "folkscope"),
        (run_co_buy, "cobuy_intentionqa.jsonl.gz", "intentionqa"),
        (run_products, "wands_products.parquet", None),
        (run_search_buy, "wands_queries.tsv", "wands"),
    )
    for run, name, adapter in runs:
        config = IngestConfig(
            source=SourceSpec(path=sample_path(name)), workspace_dir=workspace, adapter=adapter
        )
        report = run(config, target)
        click.echo(
            f"{name}: {report.rows_in:,} rows in, {report.rows_kept:,} kept, "
            f"rejected {report.rejected or 'none'}"
        )


def _sample(workspace: Path, out: Path) -> tuple[Path, Path]:
    from cosmo_kg.ingest.sampler import SampleConfig, SampleSettings, sample

    pairs, products = out / "pairs.parquet", out / "products.parquet"
    report = sample(
        SampleConfig(
            workspace_dir=workspace, out=pairs, products_out=products, settings=load_settings(SampleSettings)
        )
    )
    click.echo(f"sampled pairs {report.pairs_out} from {report.pairs_in}; dropped {report.dropped}")
    return pairs, products


def _demo_pairs(pairs: Path, out: Path, per_kind: int) -> Path:
    chosen = (
        pl.read_parquet(pairs)
        .sort("weight", "behavior_id", descending=[True, False])
        .group_by("kind", maintain_order=True)
        .head(per_kind)
    )
    path = out / "demo_pairs.parquet"
    chosen.write_parquet(path)
    return path


def _generate(pairs: Path, products: Path, out: Path, workspace: WorkspaceSettings, relations: str) -> Path:
    from cosmo_kg.generation.backend import BackendSettings
    from cosmo_kg.generation.runner import GenerateConfig, run
    from cosmo_kg.generation.settings import GenerationSettings, OpenAISettings, VllmSettings

    generation = load_settings(GenerationSettings, {"relations": relations})
    backend = BackendSettings(generation, load_settings(OpenAISettings), load_settings(VllmSettings))
    candidates = out / "candidates"
    report = run(
        GenerateConfig(
            pairs=pairs,
            products=products,
            out=candidates,
            rejects_dir=workspace.rejects_dir,
            backend=backend,
            replace_other_run=True,  # the demo's scratch output: a changed setup generates afresh
        )
    )
    write_report(workspace, "generate", report)
    click.echo(
        f"{report.model}: {report.prompts} prompts → {report.candidates} candidates in "
        f"{report.seconds:.1f}s ({report.tokens_per_second:,.0f} tokens/s)"
    )
    return candidates


def _refine(candidates: Path, pairs: Path, products: Path, out: Path, workspace: WorkspaceSettings) -> Path:
    from cosmo_kg.refinement.runner import RefineConfig, run

    knowledge = out / "knowledge.parquet"
    report = run(
        RefineConfig(
            candidates=candidates,
            pairs=pairs,
            products=products,
            output=knowledge,
            rejects_dir=workspace.rejects_dir,
        )
    )
    write_report(workspace, "refine", report)
    click.echo(
        f"{report.candidates_in} candidates → {report.knowledge_out} knowledge rows; "
        f"rejected {report.rejected}"
    )
    return knowledge


def _load(
    driver: neo4j.Driver,
    settings: Neo4jSettings,
    workspace: WorkspaceSettings,
    knowledge: Path,
    products: Path | None,
    pairs: Path | None,
) -> None:
    config = LoadConfig(
        rejects_dir=workspace.rejects_dir,
        knowledge=knowledge,
        products=products,
        pairs=pairs,
        database=settings.database,
    )
    report = load(config, driver, load_settings(LoaderSettings))
    write_report(workspace, "load", report)
    click.echo(
        f"{knowledge.name}: {report.knowledge_edges:,} knowledge edges in {report.seconds:.1f}s; "
        f"rejected {report.rejected or 'none'}"
    )


def _index_and_probe(driver: neo4j.Driver, settings: Neo4jSettings) -> None:
    from cosmo_kg.api.index import SemanticIndex
    from cosmo_kg.api.index_build import IndexConfig, build_index
    from cosmo_kg.api.services import make_embedder
    from cosmo_kg.api.settings import IndexSettings
    from cosmo_kg.embeddings import EmbeddingSettings

    embedder = make_embedder(load_settings(EmbeddingSettings))
    index_settings = load_settings(IndexSettings)
    report = build_index(IndexConfig(database=settings.database), index_settings, driver, embedder)
    click.echo(f"semantic index: {report.totals} in {report.seconds:.1f}s -> {report.directory}")
    index = SemanticIndex.load(index_settings.path, embedder, index_settings)
    click.echo(f"nearest intentions to {SEMANTIC_PROBE!r}:")
    for hit in index.search(SEMANTIC_PROBE, 5):
        click.echo(f"  {hit.score:.3f}  {hit.text}")


def run_demo(config: DemoConfig) -> None:
    """Run the demo end to end; raises CosmoKGError subclasses on failure."""
    settings = _neo4j_settings()
    workspace = load_settings(WorkspaceSettings)
    out = Path(workspace.dir) / "demo"
    out.mkdir(parents=True, exist_ok=True)
    with connect(settings) as driver:
        _step("Applying the schema (constraints and indexes)")
        schema = apply_schema(driver, settings.database)
        click.echo(f"{schema.constraints} constraints, {schema.indexes} indexes online")
        _step("Ingesting the bundled behaviour samples (co-buy and search-buy)")
        _ingest_behaviours(driver, settings, Path(workspace.dir))
        _step("Sampling representative pairs")
        pairs, products = _sample(Path(workspace.dir), out)
        _step(
            f"Generating intentions for {config.pairs_per_kind} pairs per kind with COSMO-LM "
            f"({config.relations})"
        )
        demo_pairs = _demo_pairs(pairs, out, config.pairs_per_kind)
        candidates = _generate(demo_pairs, products, out, workspace, config.relations)
        _step("Refining candidates (rule and similarity filters, critic)")
        knowledge = _refine(candidates, demo_pairs, products, out, workspace)
        _step("Loading knowledge: the refined candidates and the human-judged IntentionQA sample")
        _load(driver, settings, workspace, knowledge, products, demo_pairs)
        _load(
            driver,
            settings,
            workspace,
            sample_path("intentionqa_knowledge.parquet"),
            sample_path("intentionqa_products.parquet"),
            None,
        )
        _step("Building the semantic index")
        _index_and_probe(driver, settings)
        _step("Graph counts")
        stats = graph_stats(driver, settings.database)
        click.echo("nodes: " + ", ".join(f"{k} {v:,}" for k, v in stats.nodes.items()))
        click.echo("edges: " + ", ".join(f"{k} {v:,}" for k, v in stats.relationships.items()))
        _show_generated(knowledge)
        for name, params in DEMO_QUERIES:
            query = get_saved_query(name)
            _step(f"Saved query {name}")
            print_rows(
                run_saved_query(driver, query, query.bind(params), settings.database),
                as_json=False,
                title=query.answers,
            )
    write_report(workspace, "demo", config)
    _step("Done. Explore the graph")
    for line in explore_lines(settings):
        click.echo(line)


def explore_lines(settings: Neo4jSettings) -> list[str]:
    """Where to look next: the URLs and three copy-paste examples (GraphQL, console, saved query)."""
    from cosmo_kg.api.settings import ApiSettings

    api = load_settings(ApiSettings)
    base = f"http://{api.host}:{api.port}"
    lines = [
        "Start the API with `cosmo-kg serve`, then open:",
        f"  GraphiQL       {base}/graphql",
        f"  explorer       {base}/explore?product={EXAMPLE_PRODUCT}",
    ]
    local = load_settings(LocalNeo4jSettings)
    if local_auth.is_loopback_port(settings.uri, local.bolt_port):
        lines.append(
            f"  Neo4j Browser  {local.browser_url}  (user {local_auth.USER}; the password: "
            "`cosmo-kg neo4j password`)"
        )
    else:
        lines.append(f"  Neo4j          {settings.uri}  (user {settings.user})")
    return [*lines, "Try:", *(f"  {example}" for example in example_commands(base))]


def example_commands(base: str) -> list[str]:
    """One GraphQL query (curl), one console line, one saved query, on a demo product."""
    graphql = json.dumps({"query": GRAPHQL_EXAMPLE})
    return [
        f"curl -s {base}/graphql -H 'Content-Type: application/json' -d '{graphql}'",
        f'cosmo-kg cypher -e "{CYPHER_EXAMPLE}"',
        f"cosmo-kg graph query top_intentions_of_product -p product_id={EXAMPLE_PRODUCT}",
    ]


def _show_generated(knowledge: Path) -> None:
    _step("Knowledge the pipeline generated and kept")
    rows = (
        pl.read_parquet(knowledge)
        .select(
            "kind",
            pl.coalesce("query", "product_id").alias("head"),
            "relation",
            "tail",
            pl.col("plausibility").round(2),
            pl.col("typicality").round(2),
        )
        .sort("plausibility", descending=True)
        .head(12)
        .to_dicts()
    )
    print_rows(rows, as_json=False)


@click.command("demo")
@click.option(
    "--pairs-per-kind",
    default=DemoConfig.pairs_per_kind,
    show_default=True,
    help="Sampled pairs per behaviour kind that the language model explains.",
)
@click.option(
    "--relations",
    default=DemoConfig.relations,
    show_default=True,
    help="Comma-separated relations asked about (more relations, more model time).",
)
def demo_command(pairs_per_kind: int, relations: str, **_: Any) -> None:
    """Run the main job on the bundled sample data with the local Neo4j, and show the result.

    Ingests the real behaviour samples, samples pairs, generates intentions with the local
    SmolLM2 model and the shipped COSMO-LM adapter, refines them with the shipped critic, loads
    the graph, builds the semantic index and prints counts and answers. Starts the local Neo4j
    unless NEO4J_URI is set. Safe to run again: every stage is idempotent.
    """
    run_demo(DemoConfig(pairs_per_kind=pairs_per_kind, relations=relations))
