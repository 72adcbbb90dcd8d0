"""Critic quality on held-out pairs: AUC, F1 at the threshold, calibration, IntentionQA task 1 accuracy.

Splits are by behaviour pair (``behavior_id``), never by row: the public data repeat a pair in many
rows, and a row split would leak the pair's other assertions into training.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from cosmo_kg.embeddings import Embedder
from cosmo_kg.refinement.critic import LABELS, Critic
from cosmo_kg.vocabulary import BehaviorKind


def in_test_split(behavior_ids: pl.Series, test_fraction: float, seed: int) -> pl.Series:
    """True for the pairs of the held-out split: a stable hash of (seed, pair), so splits never drift."""
    cut = int(test_fraction * 10_000)
    return behavior_ids.map_elements(
        lambda key: (
            int.from_bytes(hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()) % 10_000 < cut
        ),
        return_dtype=pl.Boolean(),
    )


@dataclass(frozen=True)
class LabelMetrics:
    examples: int
    auc: float | None
    f1: float | None
    accuracy: float
    calibration_error: float


@dataclass(frozen=True)
class GroupMetrics:
    """One row of the per-relation / per-kind tables."""

    group: str
    examples: int
    positives: int
    plausibility_auc: float | None
    typicality_auc: float | None
    typicality_spearman: float | None


@dataclass
class CriticEvaluation:
    """Held-out quality of one critic.

    ``typicality_spearman``: rank correlation of the typicality score with human typicality among
    the held-out positives that have one; ``typicality_graded_calibration_error``: calibration of the
    typicality score against the graded human value (implausible = 0), and
    ``typicality_positive_calibration_error`` among the graded positives only (the scale the score
    is calibrated to).
    """

    labels: dict[str, LabelMetrics] = field(default_factory=dict)
    by_relation: dict[str, float | None] = field(default_factory=dict)
    by_domain: dict[str, float | None] = field(default_factory=dict)
    relation_table: list[GroupMetrics] = field(default_factory=list)
    kind_table: list[GroupMetrics] = field(default_factory=list)
    typicality_spearman: float | None = None
    typicality_positives: int = 0
    typicality_graded_calibration_error: float | None = None
    typicality_positive_calibration_error: float | None = None
    scores_differ: bool = False
    task1_accuracy: float | None = None
    task1_questions: int = 0
    task1_cosine_accuracy: float | None = None


def expected_calibration_error(probabilities: np.ndarray, target: np.ndarray, bins: int = 10) -> float:
    """Mean |accuracy - confidence| over equal-width probability bins, weighted by bin size."""
    edges = np.minimum((probabilities * bins).astype(int), bins - 1)
    error = 0.0
    for b in range(bins):
        members = edges == b
        if members.any():
            error += members.mean() * abs(target[members].mean() - probabilities[members].mean())
    return float(error)


def label_metrics(probabilities: np.ndarray, target: np.ndarray, threshold: float) -> LabelMetrics:
    from sklearn.metrics import f1_score, roc_auc_score

    predicted = (probabilities > threshold).astype(int)
    both = len(set(target.tolist())) == 2
    return LabelMetrics(
        examples=len(target),
        auc=float(roc_auc_score(target, probabilities)) if both else None,
        f1=float(f1_score(target, predicted, zero_division=0.0)) if both else None,
        accuracy=float((predicted == target).mean()) if len(target) else 0.0,
        calibration_error=expected_calibration_error(probabilities, target) if len(target) else 0.0,
    )


def _group_auc(frame: pl.DataFrame, column: str, label: str) -> dict[str, float | None]:
    from sklearn.metrics import roc_auc_score

    out: dict[str, float | None] = {}
    for (key,), group in frame.drop_nulls(label).group_by(column, maintain_order=True):
        target = (group[label].to_numpy() >= 0.5).astype(int)
        both = len(set(target.tolist())) == 2
        out[str(key)] = float(roc_auc_score(target, group[f"score_{label}"].to_numpy())) if both else None
    return out


def _auc(target: np.ndarray, scores: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(target, scores)) if len(set(target.tolist())) == 2 else None


def typicality_spearman(scored: pl.DataFrame) -> tuple[float | None, int]:
    """Spearman of ``score_typicality`` with human typicality among positives that have one."""
    from scipy.stats import spearmanr

    graded = scored.filter((pl.col("plausibility") >= 0.5) & pl.col("typicality").is_not_null())
    if len(graded) < 3 or graded["typicality"].n_unique() < 2:
        return None, len(graded)
    return float(spearmanr(graded["score_typicality"], graded["typicality"]).statistic), len(graded)


def group_table(scored: pl.DataFrame, column: str) -> list[GroupMetrics]:
    """Per value of ``column``: examples, positives, plausibility / typicality AUC, typicality Spearman."""
    rows = []
    for (key,), group in scored.group_by(column, maintain_order=True):
        plausible = group.drop_nulls("plausibility")
        target = (plausible["plausibility"].to_numpy() >= 0.5).astype(int)
        typical = group.drop_nulls("typicality")
        typical_target = (typical["typicality"].to_numpy() >= 0.5).astype(int)
        rho, _ = typicality_spearman(group)
        rows.append(
            GroupMetrics(
                str(key),
                len(group),
                int(target.sum()),
                _auc(target, plausible["score_plausibility"].to_numpy()),
                _auc(typical_target, typical["score_typicality"].to_numpy()),
                rho,
            )
        )
    return sorted(rows, key=lambda row: -row.examples)


def graded_calibration_error(scored: pl.DataFrame, bins: int = 10, positives: bool = False) -> float | None:
    """Mean |human typicality - score| over score bins; implausible examples count as typicality 0
    (``positives``: only the plausible examples people graded)."""
    known = scored.filter(
        pl.col("typicality").is_not_null() & ((pl.col("plausibility") >= 0.5) | (not positives))
    )
    if known.is_empty():
        return None
    return expected_calibration_error(
        known["score_typicality"].to_numpy(), known["typicality"].to_numpy(), bins
    )


def score_annotations(critic: Critic, test: pl.DataFrame) -> pl.DataFrame:
    """``test`` with the critic's ``score_plausibility`` and ``score_typicality`` columns."""
    scores = critic.score(test)
    return test.with_columns(*(scores[label].alias(f"score_{label}") for label in LABELS))


def evaluate_annotations(critic: Critic, test: pl.DataFrame, threshold: float) -> CriticEvaluation:
    """See ``evaluate_scored``; scores ``test`` first."""
    return evaluate_scored(score_annotations(critic, test), threshold)


def evaluate_scored(scored: pl.DataFrame, threshold: float) -> CriticEvaluation:
    """AUC / F1 / calibration per label, typicality against the graded human value, and tables per
    relation, kind and domain."""
    evaluation = CriticEvaluation()
    evaluation.typicality_spearman, evaluation.typicality_positives = typicality_spearman(scored)
    evaluation.typicality_graded_calibration_error = graded_calibration_error(scored)
    evaluation.typicality_positive_calibration_error = graded_calibration_error(scored, positives=True)
    evaluation.scores_differ = not np.allclose(
        scored["score_plausibility"].to_numpy(), scored["score_typicality"].to_numpy()
    )
    evaluation.relation_table = group_table(
        scored.with_columns(pl.col("relation").fill_null("(other)")), "relation"
    )
    evaluation.kind_table = group_table(scored, "kind")
    for label in LABELS:
        known = scored.drop_nulls(label)
        target = (known[label].to_numpy() >= 0.5).astype(int)
        evaluation.labels[label] = label_metrics(known[f"score_{label}"].to_numpy(), target, threshold)
    evaluation.by_relation = _group_auc(
        scored.with_columns(pl.col("relation").fill_null("(other)")), "relation", "plausibility"
    )
    evaluation.by_domain = _group_auc(
        scored.with_columns(pl.col("domain").fill_null("Others")), "domain", "plausibility"
    )
    return evaluation


def _argmax_hits(scores: np.ndarray, question_sizes: list[int], gold: list[int]) -> np.ndarray:
    hits, start = [], 0
    for size, answer in zip(question_sizes, gold, strict=True):
        hits.append(int(np.argmax(scores[start : start + size])) == answer)
        start += size
    return np.array(hits, dtype=bool)


def _task1_options(questions: pl.DataFrame) -> pl.DataFrame:
    options = questions.with_columns(kind=pl.lit(BehaviorKind.CO_BUY.value), query=pl.lit(None, pl.String()))
    return options.explode("options").rename({"options": "statement"})


def task1_accuracy(critic: Critic, questions: pl.DataFrame, label: str = "plausibility") -> float:
    """IntentionQA task 1: the share of questions whose gold option the critic scores highest.

    ``questions`` has ``title``, ``title_b``, ``options`` (list of statements) and ``gold`` (index).
    """
    scores = critic.score(_task1_options(questions))[label].to_numpy()
    hits = _argmax_hits(scores, questions["options"].list.len().to_list(), questions["gold"].to_list())
    return float(hits.mean())


def task1_cosine_accuracy(embedder: Embedder, questions: pl.DataFrame) -> float:
    """The baseline: pick the option closest (cosine) to the sum of the two title embeddings."""
    exploded = _task1_options(questions)
    context = embedder.embed(exploded["title"].to_list()) + embedder.embed(exploded["title_b"].to_list())
    cosine = (context * embedder.embed(exploded["statement"].to_list())).sum(axis=1)
    hits = _argmax_hits(cosine, questions["options"].list.len().to_list(), questions["gold"].to_list())
    return float(hits.mean())
