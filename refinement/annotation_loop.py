"""Human-in-the-loop annotation: sample candidates, export tasks, import answers, measure agreement.

Sampling weights follow the paper: knowledge frequency (how many candidates share the tail) times
behaviour popularity (pair count), stratified by relation and domain so rare strata are asked too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from cosmo_kg.errors import InputError
from cosmo_kg.files import output_path, reading, write_parquet_atomic
from cosmo_kg.refinement.annotations import ANNOTATIONS, QUESTIONS
from cosmo_kg.refinement.clauses import statement_expr

TASK_COLUMNS = (
    "task_id",
    "behavior_id",
    "kind",
    "query",
    "product_id",
    "product_id_b",
    "title",
    "title_b",
    "domain",
    "relation",
    "tail",
    "statement",
)
ANSWER_WORDS = {"yes": 1.0, "y": 1.0, "1": 1.0, "true": 1.0, "no": 0.0, "n": 0.0, "0": 0.0, "false": 0.0}


def sample_tasks(context: pl.DataFrame, size: int, seed: int = 0) -> pl.DataFrame:
    """``size`` candidates drawn with weight frequency x popularity, stratified by relation and domain."""
    frame = context.with_columns(
        pl.len().over(pl.col("tail").str.to_lowercase()).alias("frequency"),
        pl.col("count").fill_null(1).clip(lower_bound=1).alias("popularity"),
        pl.col("domain").fill_null("Others"),
    ).with_columns((pl.col("frequency") * pl.col("popularity")).cast(pl.Float64).alias("weight"))
    rng = np.random.default_rng(seed)
    chosen = []
    strata = frame.partition_by("relation", "domain", maintain_order=True)
    for stratum in strata:
        quota = min(len(stratum), max(1, round(size * len(stratum) / max(len(frame), 1))))
        weights = stratum["weight"].to_numpy()
        picked = rng.choice(len(stratum), quota, replace=False, p=weights / weights.sum())
        chosen.append(stratum[np.sort(picked).tolist()])
    sample = pl.concat(chosen).sort("weight", "candidate_id", descending=[True, False]).head(size)
    return sample.with_columns(statement_expr(), pl.col("candidate_id").alias("task_id")).select(TASK_COLUMNS)


@dataclass(frozen=True)
class TaskSampleConfig:
    """Candidates and their context to draw ``size`` tasks from, written to ``output``."""

    candidates: Path
    pairs: Path
    products: Path
    output: Path
    size: int = 200
    seed: int = 0


def sample_to_file(config: TaskSampleConfig) -> int:
    """Draw tasks (``sample_tasks``) and write them as .parquet, or as a .csv / .jsonl answer sheet;
    returns how many."""
    from cosmo_kg.refinement.runner import load_context

    if config.output.suffix not in (".parquet", ".csv", ".jsonl"):
        raise InputError(
            f"cannot write tasks to {config.output}", hint="use a .parquet, .csv or .jsonl file name"
        )
    tasks = sample_tasks(load_context(config).filter(pl.col("kind").is_not_null()), config.size, config.seed)
    if config.output.suffix == ".parquet":
        write_parquet_atomic(tasks, config.output)
    else:
        export_tasks(tasks, config.output)
    return tasks.height


def export_tasks(tasks: pl.DataFrame, path: Path) -> None:
    """Write tasks as CSV or JSONL (by suffix) with one empty column per question."""
    sheet = tasks.with_columns(pl.lit("").alias("annotator"), *(pl.lit("").alias(q) for q in QUESTIONS))
    if path.suffix == ".jsonl":
        sheet.write_ndjson(output_path(path))
    elif path.suffix == ".csv":
        sheet.write_csv(output_path(path))
    else:
        raise InputError(f"cannot export tasks to {path}", hint="use a .csv or .jsonl file name")


def export_task_file(tasks: Path, output: Path) -> None:
    """Tasks written by ``annotate sample`` (.parquet) as an answer sheet (.csv / .jsonl)."""
    with reading(tasks, "tasks parquet file"):
        frame = pl.read_parquet(tasks)
    export_tasks(frame, output)


def _read_sheet(path: Path) -> pl.DataFrame:
    with reading(path, "answer sheet"):
        if path.suffix == ".jsonl":
            return pl.read_ndjson(path, infer_schema_length=None).cast(pl.String())
        if path.suffix == ".csv":
            return pl.read_csv(path, infer_schema_length=0)
    raise InputError(f"cannot read answers from {path}", hint="answers are .csv or .jsonl files")


def _answer(column: str) -> pl.Expr:
    text = pl.col(column).cast(pl.String()).str.strip_chars().str.to_lowercase()
    number = text.cast(pl.Float64, strict=False)
    return (
        pl.when(number.is_between(0, 1))
        .then(number)
        .otherwise(text.replace_strict(ANSWER_WORDS, default=None, return_dtype=pl.Float64()))
    )


@dataclass(frozen=True)
class ImportResult:
    annotations: pl.DataFrame
    rejected: pl.DataFrame


def import_answers(paths: Sequence[Path]) -> ImportResult:
    """Answer sheets (exported tasks filled in, one annotator per row) -> annotation rows.

    Rows without an annotator or with an answer that is not yes/no/0-1 are rejected with a reason.
    """
    sheets = []
    for path in paths:
        sheet = _read_sheet(path)
        missing = [c for c in ("task_id", "annotator", *QUESTIONS) if c not in sheet.columns]
        if missing:
            raise InputError(
                f"{path}: not an answer sheet, missing {', '.join(missing)}",
                hint="fill in a sheet written by `cosmo-kg annotate export`",
            )
        sheets.append(sheet.with_columns(pl.lit(str(path)).alias("file")))
    raw = pl.concat(sheets, how="diagonal_relaxed")
    parsed = raw.with_columns(*(_answer(q).alias(f"_{q}") for q in QUESTIONS))
    bad_answer = pl.any_horizontal(
        pl.col(q).is_not_null() & (pl.col(q).str.strip_chars() != "") & pl.col(f"_{q}").is_null()
        for q in QUESTIONS
    )
    reason = (
        pl.when(pl.col("annotator").fill_null("").str.strip_chars() == "")
        .then(pl.lit("no_annotator"))
        .when(bad_answer)
        .then(pl.lit("bad_answer"))
        .otherwise(pl.lit(None, pl.String()))
    )
    tagged = parsed.with_columns(reason.alias("reason"))
    good = tagged.filter(pl.col("reason").is_null()).drop(*QUESTIONS).rename({f"_{q}": q for q in QUESTIONS})
    annotations = good.with_columns(
        pl.lit("annotation").alias("source"),
        (pl.lit("annotation:") + pl.col("annotator") + ":" + pl.col("task_id")).alias("annotation_id"),
    )
    rejected = tagged.filter(pl.col("reason").is_not_null()).drop(*(f"_{q}" for q in QUESTIONS))
    return ImportResult(ANNOTATIONS.conform(annotations.lazy()).collect(), rejected)


@dataclass(frozen=True)
class AnswersImportConfig:
    """Filled-in answer sheets into ``output``; bad rows go to ``rejects_dir``."""

    answers: tuple[Path, ...]
    output: Path
    rejects_dir: Path
    adjudicate: bool = False


@dataclass(frozen=True)
class AnswersImportReport:
    answers: int
    annotations: int
    output: str
    rejected: dict[str, int]
    rejects_file: str | None


def import_answer_files(config: AnswersImportConfig) -> AnswersImportReport:
    """Read answer sheets (``import_answers``), adjudicate if asked, write the annotations and the
    rejected rows with their reason."""
    result = import_answers(config.answers)
    annotations = adjudicate(result.annotations) if config.adjudicate else result.annotations
    write_parquet_atomic(annotations, config.output)
    rejects_file = None
    if not result.rejected.is_empty():
        rejects_file = config.rejects_dir / f"annotations-{config.output.stem}.rejects.parquet"
        write_parquet_atomic(result.rejected, rejects_file)
    counts = dict(result.rejected["reason"].value_counts(sort=True).iter_rows()) if rejects_file else {}
    return AnswersImportReport(
        len(result.annotations),
        len(annotations),
        str(config.output),
        counts,
        None if rejects_file is None else str(rejects_file),
    )


def cohen_kappa(first: Sequence[int] | np.ndarray, second: Sequence[int] | np.ndarray) -> float:
    """Cohen's kappa of two annotators' labels on the same items."""
    a, b = np.asarray(first), np.asarray(second)
    labels = np.union1d(a, b)
    observed = float((a == b).mean())
    expected = float(sum((a == k).mean() * (b == k).mean() for k in labels))
    return 1.0 if expected == 1.0 else (observed - expected) / (1.0 - expected)


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa from an items x categories matrix of rating counts (same raters per item)."""
    raters = counts.sum(axis=1)[0]
    p_item = ((counts * (counts - 1)).sum(axis=1)) / (raters * (raters - 1))
    p_category = counts.sum(axis=0) / counts.sum()
    observed, expected = p_item.mean(), float((p_category**2).sum())
    return 1.0 if expected == 1.0 else float((observed - expected) / (1.0 - expected))


@dataclass(frozen=True)
class Agreement:
    question: str
    items: int
    annotators: int
    cohen_kappa: float | None
    fleiss_kappa: float | None


def agreement(annotations: pl.DataFrame, question: str) -> Agreement:
    """Agreement on one question over the items every annotator answered (labels: answer >= 0.5)."""
    answered = annotations.drop_nulls(question).select(
        "behavior_id", "statement", "annotator", (pl.col(question) >= 0.5).cast(pl.Int8).alias("label")
    )
    wide = answered.pivot(
        on="annotator", index=["behavior_id", "statement"], values="label", aggregate_function="first"
    ).drop_nulls()
    raters = [c for c in wide.columns if c not in ("behavior_id", "statement")]
    if len(raters) < 2 or wide.is_empty():
        return Agreement(question, len(wide), len(raters), None, None)
    labels = wide.select(raters).to_numpy()
    counts = np.stack([(labels == 0).sum(axis=1), (labels == 1).sum(axis=1)], axis=1)
    cohen = cohen_kappa(labels[:, 0], labels[:, 1]) if len(raters) == 2 else None
    return Agreement(question, len(wide), len(raters), cohen, fleiss_kappa(counts))


def adjudicate(annotations: pl.DataFrame) -> pl.DataFrame:
    """One row per (behaviour, statement): each answer is the annotators' mean;
    ``annotator`` = adjudicated."""
    keys = ["behavior_id", "statement"]
    context = [c for c in ANNOTATIONS.columns if c not in (*keys, *QUESTIONS, "annotator", "annotation_id")]
    merged = annotations.group_by(keys, maintain_order=True).agg(
        *(pl.col(c).first() for c in context), *(pl.col(q).mean() for q in QUESTIONS)
    )
    return merged.with_columns(
        pl.lit("adjudicated").alias("annotator"),
        (pl.lit("adjudicated:") + pl.col("behavior_id") + ":" + pl.col("statement")).alias("annotation_id"),
    ).select(list(ANNOTATIONS.columns))
