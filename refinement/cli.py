"""``cosmo-kg refine``, ``annotate ...``, ``critic ...``, ``discover``: thin shells over refinement."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from cosmo_kg.distributed import pop_ray_settings, ray_options
from cosmo_kg.embeddings import EmbeddingSettings
from cosmo_kg.files import write_text_atomic
from cosmo_kg.progress import progress_bar
from cosmo_kg.refinement.annotations import QUESTIONS
from cosmo_kg.refinement.critic import CRITICS
from cosmo_kg.refinement.filters import FilterSettings, RefineSettings
from cosmo_kg.refinement.training import DEFAULT_SOURCES
from cosmo_kg.settings import pop_settings, settings_options
from cosmo_kg.workspace import WorkspaceSettings, report_json, write_report

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
EXISTING_DIR = click.Path(exists=True, file_okay=False, path_type=Path)
OUT_FILE = click.Path(dir_okay=False, path_type=Path)


def _shipped(name: str) -> Path:
    from cosmo_kg import samples

    return Path(samples.__file__).resolve().parent / "critic" / name


def _context_inputs(command: Any) -> Any:
    command = click.option(
        "--products", type=EXISTING_FILE, required=True, help="products.parquet (titles)."
    )(command)
    return click.option("--pairs", type=EXISTING_FILE, required=True, help="pairs.parquet (behaviours).")(
        command
    )


@click.command("refine")
@click.argument("candidates", type=click.Path(exists=True, path_type=Path))
@_context_inputs
@click.option("-o", "--output", type=OUT_FILE, required=True, help="knowledge.parquet to write.")
@click.option(
    "--critic", "critic_dir", type=EXISTING_DIR, help="Trained critic directory (default: shipped)."
)
@settings_options(RefineSettings)
@settings_options(FilterSettings)
@settings_options(EmbeddingSettings)
@settings_options(WorkspaceSettings)
@ray_options
def refine_command(
    candidates: Path, pairs: Path, products: Path, output: Path, critic_dir: Path | None, **params: Any
) -> None:
    """Turn CANDIDATES (candidates.parquet, or the shard directory `cosmo-kg generate --out` wrote)
    into knowledge.parquet: rule filters (incomplete, copies
    of the query / product type / title, generic), the similarity filter (paraphrases of the
    context), then the critic's plausibility and typicality. Rejected candidates go to a rejects
    file with the reason; a killed run, started again, reuses the finished critic chunks.

    --ray ADDRESS|auto scores the critic chunks (--refine-chunk-rows) on a Ray cluster, one
    critic load per actor; the filters run here, and this process writes every file.
    """
    from cosmo_kg.refinement.runner import RefineConfig, run

    workspace = pop_settings(WorkspaceSettings, params)
    config = RefineConfig(
        candidates=candidates,
        pairs=pairs,
        products=products,
        output=output,
        rejects_dir=workspace.rejects_dir,
        critic_dir=critic_dir,
        settings=pop_settings(RefineSettings, params),
        filters=pop_settings(FilterSettings, params),
        embedding=pop_settings(EmbeddingSettings, params),
        ray=pop_ray_settings(params),
    )
    with progress_bar() as bar:
        task = bar.add_task("scoring candidates", total=None)
        report = run(config, progress=lambda done, total: bar.update(task, completed=done, total=total))
    path = write_report(workspace, "refine", report)
    click.echo(
        f"Refined {report.candidates_in:,} candidates into {report.knowledge_out:,} knowledge rows "
        f"in {report.seconds:.1f}s -> {report.output}"
    )
    click.echo("  steps:    " + ", ".join(f"{k} {v:,}" for k, v in report.steps.items()))
    click.echo(
        "  rejected: "
        + ", ".join(f"{k} {v:,}" for k, v in report.rejected.items())
        + f" -> {report.rejects_file}"
    )
    click.echo(f"  typical:  {report.typical_out:,} (yield {report.typical_yield:.1%})")
    if report.executor != "local":
        retried = f"{report.chunks_retried} chunk(s) retried"
        click.echo(f"  {report.executor}:      {report.workers} actor(s), {retried}")
    click.echo(f"  report:   {path}")


@click.group("critic")
def critic_group() -> None:
    """Train, evaluate and apply the plausibility / typicality critic.

    The shipped default critic (embedding-lr) is trained on IntentionQA human judgements; `critic
    train` with no options retrains it from the shipped annotations.
    """


def _train_options(command: Any) -> Any:
    for option in reversed(
        [
            click.option(
                "--annotations",
                type=EXISTING_FILE,
                default=None,
                help="Annotations parquet (default: the shipped public annotations).",
            ),
            click.option(
                "--task1",
                type=EXISTING_FILE,
                default=None,
                help="IntentionQA task 1 questions parquet (default: shipped).",
            ),
            click.option(
                "-o",
                "--output",
                type=click.Path(file_okay=False, path_type=Path),
                required=True,
                help="Directory of the critic.",
            ),
            click.option(
                "--source",
                "sources",
                multiple=True,
                default=DEFAULT_SOURCES,
                show_default=True,
                help="Train on annotations of these sources only (repeat; 'all' for every source).",
            ),
            click.option(
                "--test-fraction",
                type=click.FloatRange(0.0, 0.9),
                default=0.2,
                show_default=True,
                help="Share of pairs held out for evaluation.",
            ),
            click.option(
                "--seed", type=int, default=0, show_default=True, help="Seed of the split and the model."
            ),
        ]
    ):
        command = option(command)
    return command


def _train_config(
    annotations: Path | None,
    task1: Path | None,
    output: Path,
    sources: tuple[str, ...],
    test_fraction: float,
    seed: int,
    params: dict[str, Any],
) -> Any:
    from cosmo_kg.refinement.training import CriticTrainConfig

    return CriticTrainConfig(
        annotations=annotations or _shipped("annotations.parquet"),
        output=output,
        task1=task1 or _shipped("task1.parquet"),
        sources=() if "all" in sources else sources,
        test_fraction=test_fraction,
        seed=seed,
        embedding=pop_settings(EmbeddingSettings, params),
    )


def _show(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _print_table(title: str, rows: list[Any]) -> None:
    click.echo(f"  {title:<16} {'examples':>8} {'positive':>8}  plaus AUC  typ AUC  typ Spearman")
    for row in rows:
        click.echo(
            f"  {row.group:<16} {row.examples:>8,} {row.positives:>8,}  "
            f"{_show(row.plausibility_auc):>9}  {_show(row.typicality_auc):>7}  "
            f"{_show(row.typicality_spearman):>12}"
        )


def _print_critic_report(report: Any, path: Path, tables: bool = False) -> None:
    evaluation = report.evaluation
    click.echo(
        f"Critic {report.critic} at {report.output}: trained on {report.train_examples:,}, "
        f"held out {report.test_examples:,} annotations of {report.test_pairs:,} pairs "
        f"({report.seconds:.0f}s)"
    )
    for label, metrics in evaluation.labels.items():
        click.echo(
            f"  {label:<13} AUC {_show(metrics.auc)}  F1 {_show(metrics.f1)}  "
            f"calibration error {metrics.calibration_error:.3f}"
        )
    click.echo(
        f"  typicality    Spearman {_show(evaluation.typicality_spearman)} with human typicality on "
        f"{evaluation.typicality_positives:,} held-out positives, calibration error "
        f"{_show(evaluation.typicality_positive_calibration_error)} among them, "
        f"{_show(evaluation.typicality_graded_calibration_error)} with implausible = 0"
    )
    if evaluation.task1_accuracy is not None:
        click.echo(
            f"  IntentionQA task 1: {evaluation.task1_accuracy:.1%} on {evaluation.task1_questions} "
            f"held-out questions (cosine baseline {evaluation.task1_cosine_accuracy:.1%}, chance 25%)"
        )
    if tables:
        _print_table("relation", evaluation.relation_table)
        _print_table("kind", evaluation.kind_table)
    click.echo(f"  report: {path}")


@critic_group.command("train")
@_train_options
@click.option(
    "--critic",
    "critic_name",
    type=click.Choice(list(CRITICS)),
    default="embedding-lr",
    show_default=True,
    help="Which model to train (the critic registry).",
)
@click.option("--epochs", type=int, default=2, show_default=True, help="Cross-encoder epochs.")
@settings_options(EmbeddingSettings)
@settings_options(WorkspaceSettings)
def critic_train(
    annotations: Path | None,
    task1: Path | None,
    output: Path,
    sources: tuple[str, ...],
    test_fraction: float,
    seed: int,
    critic_name: str,
    epochs: int,
    **params: Any,
) -> None:
    """Train a critic on annotations (split by pair), save it to --output and evaluate it on the
    held-out pairs: AUC, F1, calibration, and IntentionQA task 1 accuracy."""
    from cosmo_kg.refinement.training import train

    workspace = pop_settings(WorkspaceSettings, params)
    config = _train_config(annotations, task1, output, sources, test_fraction, seed, params)
    options = {"epochs": epochs} if critic_name == "cross-encoder" else {}
    report = train(replace(config, critic=critic_name, critic_options=options))
    _print_critic_report(report, write_report(workspace, "critic-train", report))


@critic_group.command("eval")
@_train_options
@click.option(
    "--diagram",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Reliability diagram PNG to write (default: critic-reliability.png in the reports dir).",
)
@settings_options(EmbeddingSettings)
@settings_options(WorkspaceSettings)
def critic_eval(
    annotations: Path | None,
    task1: Path | None,
    output: Path,
    sources: tuple[str, ...],
    test_fraction: float,
    seed: int,
    diagram: Path | None,
    **params: Any,
) -> None:
    """Evaluate the critic in --output on the held-out pairs of the annotations (same split as train):
    per label, per relation and per kind (search-buy / co-buy), and a reliability diagram."""
    from cosmo_kg.refinement.training import evaluate

    workspace = pop_settings(WorkspaceSettings, params)
    diagram = diagram or workspace.reports_dir / "critic-reliability.png"
    config = _train_config(annotations, task1, output, sources, test_fraction, seed, params)
    report = evaluate(replace(config, diagram=diagram))
    _print_critic_report(report, write_report(workspace, "critic-eval", report), tables=True)
    click.echo(f"  reliability diagram: {diagram}")


@critic_group.command("score")
@click.argument("candidates", type=EXISTING_FILE)
@_context_inputs
@click.option("-o", "--output", type=OUT_FILE, required=True, help="Parquet of candidate_id + scores.")
@click.option("--critic", "critic_dir", type=EXISTING_DIR, help="Critic directory (default: shipped).")
@settings_options(EmbeddingSettings)
def critic_score(
    candidates: Path, pairs: Path, products: Path, output: Path, critic_dir: Path | None, **params: Any
) -> None:
    """Score every candidate (no filters) with plausibility and typicality."""
    from cosmo_kg.refinement.scoring import ScoreConfig, score_candidates

    report = score_candidates(
        ScoreConfig(candidates, pairs, products, output, critic_dir, pop_settings(EmbeddingSettings, params))
    )
    click.echo(f"Scored {report.scored:,} candidates -> {report.output}")


@click.group("annotate")
def annotate_group() -> None:
    """Human-in-the-loop annotation: sample candidates, export tasks with the five questions
    (completeness, relevance, informativeness, plausibility, typicality), import answers from
    several annotators, measure agreement, import the public annotation sets."""


@annotate_group.command("sample")
@click.argument("candidates", type=EXISTING_FILE)
@_context_inputs
@click.option("-n", "--size", type=click.IntRange(1), default=200, show_default=True, help="Tasks to draw.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the weighted draw.")
@click.option("-o", "--output", type=OUT_FILE, required=True, help="Tasks: .parquet, .csv or .jsonl.")
def annotate_sample(
    candidates: Path, pairs: Path, products: Path, size: int, seed: int, output: Path
) -> None:
    """Draw candidates for annotation, weighted by tail frequency x pair popularity and stratified
    by relation and domain; write them as tasks (.csv / .jsonl ready for annotators)."""
    from cosmo_kg.refinement.annotation_loop import TaskSampleConfig, sample_to_file

    drawn = sample_to_file(TaskSampleConfig(candidates, pairs, products, output, size, seed))
    click.echo(f"Sampled {drawn:,} tasks -> {output}")


@annotate_group.command("export")
@click.argument("tasks", type=EXISTING_FILE)
@click.option("-o", "--output", type=OUT_FILE, required=True, help="Answer sheet: .csv or .jsonl.")
def annotate_export(tasks: Path, output: Path) -> None:
    """Write TASKS (parquet from `annotate sample`) as an answer sheet with the five questions."""
    from cosmo_kg.refinement.annotation_loop import export_task_file

    export_task_file(tasks, output)
    click.echo(f"Exported tasks -> {output}. Questions: " + "; ".join(QUESTIONS.values()))


@annotate_group.command("import")
@click.argument("answers", type=EXISTING_FILE, nargs=-1, required=True)
@click.option("-o", "--output", type=OUT_FILE, required=True, help="annotations.parquet to write.")
@click.option("--adjudicate", is_flag=True, help="Merge annotators into one label per item (mean answer).")
@settings_options(WorkspaceSettings)
def annotate_import(answers: tuple[Path, ...], output: Path, adjudicate: bool, **params: Any) -> None:
    """Read filled-in answer sheets (yes/no or 0-1 per question) into annotations; bad rows go to a
    rejects file with the reason."""
    from cosmo_kg.refinement.annotation_loop import AnswersImportConfig, import_answer_files

    workspace = pop_settings(WorkspaceSettings, params)
    report = import_answer_files(AnswersImportConfig(answers, output, workspace.rejects_dir, adjudicate))
    click.echo(f"Imported {report.answers:,} answers -> {report.output}")
    if report.rejects_file:
        click.echo(
            "  rejected: "
            + ", ".join(f"{r} {n}" for r, n in report.rejected.items())
            + f" -> {report.rejects_file}"
        )


@annotate_group.command("agreement")
@click.argument("annotations", type=EXISTING_FILE)
def annotate_agreement(annotations: Path) -> None:
    """Inter-annotator agreement per question: Cohen's kappa (two annotators) and Fleiss' kappa."""
    from cosmo_kg.refinement.annotation_loop import agreement
    from cosmo_kg.refinement.training import read_annotations

    frame = read_annotations(annotations)
    for result in (agreement(frame, q) for q in QUESTIONS):

        def show(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.3f}"

        click.echo(
            f"{result.question:<16} items {result.items:>5}  annotators {result.annotators}  "
            f"Cohen {show(result.cohen_kappa)}  Fleiss {show(result.fleiss_kappa)}"
        )


@annotate_group.command("import-public")
@click.argument("data_dir", type=EXISTING_DIR)
@click.option("-o", "--output", type=OUT_FILE, required=True, help="annotations.parquet to write.")
@click.option("--task1", type=OUT_FILE, help="Also write IntentionQA task 1 questions here.")
def annotate_import_public(data_dir: Path, output: Path, task1: Path | None) -> None:
    """Import FolkScope (silver Yes/No) and IntentionQA (human typicality; distractors as negatives)
    from DATA_DIR (folders folkscope_cobuy_intentions/ and intentionqa/)."""
    from cosmo_kg.refinement.public_annotations import import_public_files

    annotations, questions = import_public_files(data_dir, output, task1)
    click.echo(f"Imported {annotations:,} annotations -> {output}")
    if task1 is not None:
        click.echo(f"IntentionQA task 1 questions ({questions:,}) -> {task1}")


@click.command("discover")
@click.argument("source", type=EXISTING_FILE)
@click.option("-o", "--output", type=OUT_FILE, help="Write the full report as JSON here.")
@click.option(
    "--clusters", type=click.IntRange(1), default=15, show_default=True, help="Clusters across relations."
)
@click.option(
    "--per-relation", type=click.IntRange(1), default=5, show_default=True, help="Clusters per relation."
)
@settings_options(EmbeddingSettings)
def discover_command(
    source: Path, output: Path | None, clusters: int, per_relation: int, **params: Any
) -> None:
    """Relation discovery: cluster the tails of SOURCE (knowledge or candidates parquet) per relation
    (tail types) and across relations (mixed clusters = candidate new relations), with examples."""
    from cosmo_kg.refinement.discover import DiscoverConfig, discover

    report = discover(
        DiscoverConfig(
            source=source,
            clusters_overall=clusters,
            clusters_per_relation=per_relation,
            embedding=pop_settings(EmbeddingSettings, params),
        )
    )
    click.echo(f"{report.tails:,} distinct tails, {len(report.overall)} clusters across relations:")
    for cluster in report.overall:
        mark = "  * candidate new relation" if cluster.mixed else ""
        click.echo(
            f"  {cluster.size:>5}  {dict(list(cluster.relations.items())[:3])}  e.g. "
            f"{'; '.join(cluster.examples[:3])}{mark}"
        )
    if output is not None:
        write_text_atomic(report_json(report), output)
        click.echo(f"Report -> {output}")
