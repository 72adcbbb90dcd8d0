"""Annotation loop: export, fill in, import, agreement (kappa on known examples)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from cosmo_kg.refinement.annotation_loop import (
    adjudicate,
    agreement,
    cohen_kappa,
    export_tasks,
    fleiss_kappa,
    import_answers,
    sample_tasks,
)
from cosmo_kg.refinement.runner import RefineConfig, load_context


def test_cohen_kappa_matches_the_textbook_example() -> None:
    # 50 items: both yes 20, both no 15, A yes/B no 5, A no/B yes 10 -> kappa 0.4
    a = [1] * 20 + [0] * 15 + [1] * 5 + [0] * 10
    b = [1] * 20 + [0] * 15 + [0] * 5 + [1] * 10
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_fleiss_kappa_matches_the_wikipedia_example() -> None:
    counts = np.array(
        [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ]
    )
    assert fleiss_kappa(counts) == pytest.approx(0.210, abs=1e-3)


def test_sample_export_import_round_trip_gives_agreement_and_rejects(
    tmp_path: Path, refine_sample: dict[str, Path]
) -> None:
    config = RefineConfig(**refine_sample, output=tmp_path / "k.parquet", rejects_dir=tmp_path)
    tasks = sample_tasks(load_context(config), 20, seed=1)
    assert len(tasks) == 20 and tasks["task_id"].n_unique() == 20
    assert sample_tasks(load_context(config), 20, seed=1).equals(tasks)
    sheet = tmp_path / "tasks.csv"
    export_tasks(tasks, sheet)
    blank = pl.read_csv(sheet, infer_schema_length=0)
    answers = []
    for name, flip in (("ann1", set()), ("ann2", {0, 1})):
        filled = blank.with_columns(
            annotator=pl.lit(name),
            completeness=pl.lit("yes"),
            relevance=pl.lit("1"),
            informativeness=pl.lit("no"),
            typicality=pl.lit("0.5"),
            plausibility=pl.Series(["no" if (i % 3 == 0) != (i in flip) else "yes" for i in range(20)]),
        )
        path = tmp_path / f"{name}.csv"
        filled.write_csv(path)
        answers.append(path)
    broken = blank.head(1).with_columns(annotator=pl.lit("ann3"), plausibility=pl.lit("maybe"))
    broken.write_csv(tmp_path / "ann3.csv")
    result = import_answers([*answers, tmp_path / "ann3.csv"])
    assert len(result.annotations) == 40
    assert result.rejected["reason"].to_list() == ["bad_answer"]
    plaus = agreement(result.annotations, "plausibility")
    assert (plaus.items, plaus.annotators) == (20, 2)
    assert plaus.cohen_kappa == pytest.approx(plaus.fleiss_kappa, abs=0.05) and plaus.cohen_kappa < 1
    assert agreement(result.annotations, "completeness").fleiss_kappa == 1.0
    assert len(adjudicate(result.annotations)) == 20
