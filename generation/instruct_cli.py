"""``cosmo-kg instruct build|train|eval``: thin shells over COSMO-LM's data builder, LoRA
training and base-vs-tuned evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.progress import Progress, TextColumn

from cosmo_kg.generation.instruct_data import InstructConfig, InstructReport, build
from cosmo_kg.generation.lm_eval import EVAL_RELATIONS, LmEvalConfig, LmEvalReport, evaluate
from cosmo_kg.generation.settings import BACKEND_NAMES
from cosmo_kg.generation.tuning import TuneConfig, TuneProgress, TuneReport, TuneSettings, train
from cosmo_kg.progress import progress_bar
from cosmo_kg.settings import pop_settings, settings_options

OUT_DIR = click.Path(file_okay=False, path_type=Path)
DATA_DIR = click.Path(exists=True, file_okay=False, path_type=Path)


@click.group("instruct")
def instruct_group() -> None:
    """COSMO-LM: instruction data from the human-judged samples, LoRA tuning of the local model,
    and the base-vs-tuned evaluation on held-out pairs.

    \b
      cosmo-kg instruct build --out data/instruct
      cosmo-kg instruct train --data data/instruct --out runs/cosmo-lm
      cosmo-kg instruct eval  --data data/instruct --adapter runs/cosmo-lm/adapter --out runs/eval
    """


@instruct_group.command("build")
@click.option("--out", type=OUT_DIR, required=True, help="Directory of the JSONL files and the dataset card.")
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the held-out split (keep the critic's: 0) and of sampled non-pairs.",
)
@click.option(
    "--max-per-group",
    type=click.IntRange(1),
    default=InstructConfig.max_per_group,
    show_default=True,
    help="Most examples per (task, relation or label, domain).",
)
def build_command(out: Path, seed: int, max_per_group: int) -> None:
    """Build instruction data for the five COSMO tasks, split by pair like the critic."""
    report = build(InstructConfig(out=out, seed=seed, max_per_group=max_per_group))
    print_build(report)


def print_build(report: InstructReport) -> None:
    click.echo(
        f"Instruction data: {report.examples.get('train', 0):,} train / {report.examples.get('eval', 0):,} "
        f"eval examples over {report.pairs['train']:,} / {report.pairs['eval']:,} pairs "
        f"({report.duplicates_dropped} duplicates dropped)."
    )
    for task, counts in report.by_task.items():
        click.echo(f"  {task:<17} {counts.get('train', 0):>6,} train {counts.get('eval', 0):>6,} eval")
    click.echo(f"  card: {report.out_dir}/README.md")


@instruct_group.command("train")
@click.option("--data", type=DATA_DIR, required=True, help="Directory written by `instruct build`.")
@click.option(
    "--out",
    type=OUT_DIR,
    required=True,
    help="Run directory: checkpoint (resume), adapter/, training_report.json, loss_curve.png.",
)
@click.option(
    "--model", default=None, help="Local HF causal LM directory (default: bundled SmolLM2-135M-Instruct)."
)
@settings_options(TuneSettings)
def train_command(data: Path, out: Path, model: str | None, **params: Any) -> None:
    """LoRA-tune a local causal LM on the instruction data. Killed and run again with the same
    arguments, it resumes from its last checkpoint."""
    settings = pop_settings(TuneSettings, params)
    with progress_bar(TextColumn("{task.fields[rate]}")) as bar:
        task = bar.add_task("training", total=None, rate="")
        report = train(
            TuneConfig(data=data, out=out, settings=settings, model=model),
            progress=lambda p: _update(bar, task, p),
        )
    print_train(report)


def _update(bar: Progress, task: Any, p: TuneProgress) -> None:
    bar.update(
        task, completed=p.step, total=p.steps, rate=f"loss {p.loss:.3f} {p.tokens_per_second:,.0f} tok/s"
    )


def print_train(report: TuneReport) -> None:
    resumed = f" (resumed at step {report.resumed_from_step})" if report.resumed_from_step else ""
    click.echo(
        f"Trained {report.steps} steps{resumed} on {report.examples:,} examples in {report.seconds:,.0f}s "
        f"({report.tokens_per_second:,.0f} tokens/s); loss {report.first_loss:.3f} -> {report.final_loss:.3f}"
        f", held-out {report.eval_loss_before} -> {report.eval_loss}."
    )
    click.echo(f"  adapter: {report.adapter_dir} ({report.adapter_bytes / 1e6:.1f} MB)")


@instruct_group.command("eval")
@click.option(
    "--data", type=DATA_DIR, required=True, help="Directory written by `instruct build` (tasks 2-5)."
)
@click.option("--out", type=OUT_DIR, required=True, help="Directory of the generations and eval_report.json.")
@click.option(
    "--adapter",
    default="default",
    show_default=True,
    help="Adapter to compare with the base model: default (shipped) or a directory.",
)
@click.option("--backend", type=click.Choice(BACKEND_NAMES[:2]), default="llama_cpp", show_default=True)
@click.option(
    "--questions",
    type=click.IntRange(1),
    default=LmEvalConfig.questions,
    show_default=True,
    help="Held-out IntentionQA pairs (one task-1 question each).",
)
@click.option(
    "--search-pairs",
    type=click.IntRange(0),
    default=LmEvalConfig.search_pairs,
    show_default=True,
    help="Held-out WANDS search-buy pairs.",
)
@click.option("--relations", default=EVAL_RELATIONS, show_default=True, help="Relations generated per pair.")
@click.option(
    "--judge-examples",
    type=click.IntRange(0),
    default=LmEvalConfig.judge_examples,
    show_default=True,
    help="Held-out Yes/No examples per task 2-5 (0: skip).",
)
@click.option(
    "--threads", type=click.IntRange(0), default=0, help="Generation threads (0: the backend's default)."
)
def eval_command(out: Path, **options: Any) -> None:
    """Base model vs COSMO-LM on held-out pairs: typical yield, copy rate, distinct tails, gold
    match (and the naive titles-as-tails), accuracy of tasks 2-5 (at a Yes/No threshold calibrated
    on training examples; the raw Yes-beats-No accuracy is in the JSON)."""
    print_eval(evaluate(LmEvalConfig(out=out, **options)), out)


def print_eval(report: LmEvalReport, out: Path) -> None:
    click.echo(f"Held-out: {report.held_out}; relations {report.relations}; backend {report.backend}.")
    rows: list[tuple[str, Any]] = [
        ("model", lambda s: s.model),
        ("pairs/s", lambda s: s.pairs_per_second),
        ("typical yield", lambda s: s.typical_yield),
        ("copy rate", lambda s: s.copy_rate),
        ("distinct tails/pair", lambda s: s.distinct_tails_per_pair),
        ("gold match", lambda s: s.gold_match["accuracy"]),
    ]
    rows += [(task, lambda s, t=task: s.tasks.get(t)) for task in report.base.tasks]
    for label, value in rows:
        click.echo(f"  {label:<20} {_cell(value(report.base)):>28} {_cell(value(report.tuned)):>36}")
    click.echo(f"  naive titles-as-tails gold match: {report.naive_titles_gold_match['accuracy']:.3f}")
    click.echo(f"  report: {out / 'eval_report.json'}")


def _cell(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)
