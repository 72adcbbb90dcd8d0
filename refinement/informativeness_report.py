"""How well the informativeness rule separates restatements from what people wrote.

The labelled restatements (``samples/critic/restatements.parquet``) must be rejected; the human
gold statements of the held-out pairs must be kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from cosmo_kg.refinement.evaluation import in_test_split
from cosmo_kg.refinement.filters import FilterSettings
from cosmo_kg.refinement.informativeness import informativeness


@dataclass(frozen=True)
class InformativenessReport:
    """Share of restatements rejected (overall and per kind) and of held-out gold rejected."""

    threshold: float
    restatements: int
    restatements_rejected: float
    rejected_by_kind: dict[str, float]
    gold: int
    gold_rejected: float


def informativeness_report(
    restatements: pl.DataFrame,
    annotations: pl.DataFrame,
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
    threshold: float | None = None,
) -> InformativenessReport:
    """Apply the ``restates_head`` rule to the restatements and the held-out human gold statements."""
    threshold = FilterSettings().min_informativeness if threshold is None else threshold
    rejected = restatements.with_columns(rejected=informativeness(restatements) < threshold)
    gold = annotations.filter((pl.col("annotator") == "human") & (pl.col("plausibility") >= 0.5))
    gold = gold.filter(in_test_split(gold["behavior_id"], test_fraction, seed))
    by_kind = rejected.group_by("kind").agg(pl.col("rejected").mean()).sort("kind")
    gold_rejected = (informativeness(gold) < threshold).to_numpy()
    return InformativenessReport(
        threshold,
        len(rejected),
        float(rejected["rejected"].to_numpy().mean()),
        dict(zip(by_kind["kind"].to_list(), by_kind["rejected"].to_list(), strict=True)),
        len(gold),
        float(gold_rejected.mean()) if len(gold) else 0.0,
    )
