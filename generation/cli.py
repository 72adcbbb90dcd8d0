"""``cosmo-kg generate``: a thin shell over :func:`cosmo_kg.generation.runner.run`."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click
from rich.progress import Progress, TextColumn

from cosmo_kg.distributed import pop_ray_settings, ray_options
from cosmo_kg.generation.backend import BackendSettings
from cosmo_kg.generation.runner import GenerateConfig, GenerateProgress, GenerateReport, run
from cosmo_kg.generation.settings import BACKEND_NAMES, GenerationSettings, OpenAISettings, VllmSettings
from cosmo_kg.progress import progress_bar
from cosmo_kg.settings import pop_settings, settings_options
from cosmo_kg.workspace import WorkspaceSettings, write_report

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("generate")
@click.option(
    "--pairs", type=EXISTING_FILE, required=True, help="pairs.parquet: the behaviour pairs to explain."
)
@click.option(
    "--products",
    type=EXISTING_FILE,
    required=True,
    help="products.parquet: the catalog the pairs' product ids refer to (for titles).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory of the sharded candidates-NNNNN.parquet files (and the resume state).",
)
@click.option("--backend", type=click.Choice(BACKEND_NAMES), help="Shorthand for --generation-backend.")
@click.option("--model", help="Shorthand for --generation-model.")
@settings_options(GenerationSettings)
@settings_options(OpenAISettings)
@settings_options(VllmSettings)
@settings_options(WorkspaceSettings)
@ray_options
def generate_command(
    pairs: Path, products: Path, out: Path, backend: str | None, model: str | None, **params: Any
) -> None:
    """Explain behaviour pairs with a language model: one QA prompt per pair and relation,
    several candidate tails per prompt, written as candidates parquet shards to OUT.

    \b
    Backends:
      llama_cpp     default: bundled SmolLM2-135M-Instruct in process on CPU (llama.cpp)
      transformers  local HF model on CPU/GPU (batched; default: the bundled SmolLM2)
      openai        any OpenAI-compatible server (vllm serve, llama.cpp server, TGI)
      vllm          offline batched inference on GPUs (needs the vllm package)

    The bundled model runs with the shipped COSMO-LM adapter (LoRA tuned on human-judged
    intentions, short prompts without worked examples); --generation-adapter none gives the
    base model. To serve the adapter for the openai backend:
    `vllm serve <SmolLM2 dir> --enable-lora --lora-modules cosmo-lm=<adapter dir>`, then
    --backend openai --model cosmo-lm --generation-exemplars 0.

    The run is resumable: killed and started again with the same arguments, it skips the
    finished shards. Pairs with unknown products or missing queries go to a rejects file.

    --ray ADDRESS|auto runs the shards on a Ray cluster, one model load per actor
    (--ray-num-cpus, --ray-num-gpus, --ray-actors); this process writes the same files.
    """
    overrides = {k: v for k, v in (("backend", backend), ("model", model)) if v is not None}
    generation = pop_settings(GenerationSettings, params)
    generation = dataclasses.replace(generation, **overrides)
    generation.validate()
    settings = BackendSettings(
        generation, pop_settings(OpenAISettings, params), pop_settings(VllmSettings, params)
    )
    workspace = pop_settings(WorkspaceSettings, params)
    config = GenerateConfig(
        pairs=pairs,
        products=products,
        out=out,
        rejects_dir=workspace.rejects_dir,
        backend=settings,
        ray=pop_ray_settings(params),
    )
    with progress_bar(TextColumn("{task.fields[rate]}")) as bar:
        task = bar.add_task("generating", total=None, rate="")
        report = run(config, progress=lambda p: _update(bar, task, p))
    print_report(report, write_report(workspace, "generate", report))


def _update(bar: Progress, task: Any, p: GenerateProgress) -> None:
    seconds = max(p.seconds, 1e-9)
    bar.update(
        task,
        completed=p.pairs_done,
        total=p.pairs_total,
        rate=f"{p.pairs_done / seconds:,.2f} pairs/s {p.tokens / seconds:,.1f} tok/s",
    )


def print_report(report: GenerateReport, path: Path) -> None:
    """The short summary a user reads after a generation run."""
    resumed = f", {report.shards_resumed} resumed" if report.shards_resumed else ""
    click.echo(
        f"Generated with {report.backend} / {report.model} ({report.prompt_format} prompts) "
        f"in {report.seconds:.1f}s: {report.pairs_per_second:.2f} pairs/s, "
        f"{report.tokens_per_second:.1f} tokens/s."
    )
    click.echo(f"  pairs:      {report.pairs_in:,} in {report.shards_total} shard(s){resumed}")
    click.echo(f"  prompts:    {report.prompts:,}, parse failures {report.parse_failures:,}")
    click.echo(f"  candidates: {report.candidates:,} -> {report.out_dir}")
    if report.executor != "local":
        click.echo(
            f"  {report.executor}:        {report.workers} actor(s), {report.shards_retried} shard(s) retried"
        )
    if report.pairs_rejected:
        detail = ", ".join(f"{reason} {count:,}" for reason, count in report.pairs_rejected.items())
        click.echo(f"  rejected:   {detail} -> {report.rejects_dir}")
    click.echo(f"  report:     {path}")
