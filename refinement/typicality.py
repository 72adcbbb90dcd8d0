"""Typicality as its own model: how typical a reason is, given that it is a plausible one.

People grade typicality (IntentionQA: 0.6-1.0) only for assertions they found plausible, and a
plausibility model ranks those positives no better than chance. So typicality is two parts:

- a ridge regression on the graded typicality of the plausible examples, over features that can
  carry it (the statement's own embedding, its length and informativeness, how specific it is to
  its pair: word overlap, cosines, similarity to other pairs);
- a soft gate on the plausibility logit that pushes implausible statements (distractors, "No"
  answers) towards 0: open for nearly every plausible example, closed for most implausible ones.

The regression strength and the gate are chosen by cross-validation on the training pairs (grouped
by pair): the gate with the best rank correlation among positives that still ranks plausible above
implausible with AUC >= ``MIN_GATE_AUC``. The regression is calibrated to the human scale of
plausible statements (0.6-1.0) by isotonic regression on its out-of-fold predictions, so a
plausible statement's typicality reads like a person's grade and an implausible one's is near 0.
Calibrating the gated product against the annotation mix instead (one accepted statement per
five distractors) would squeeze every score below 0.3 and make "typicality > 0.5" mean nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from cosmo_kg.refinement.informativeness import content_words, informativeness

RIDGE_ALPHAS = (300.0, 1000.0, 3000.0)
GATE_QUANTILES = (0.02, 0.05, 0.1, 0.2)
GATE_WIDTHS = (0.25, 0.5, 1.0)
MIN_GATE_AUC = 0.75
FOLDS = 5
# Tie-break added to the calibrated score so equal isotonic steps keep the model's order.
_TIE_BREAK = 1e-3


def typicality_features(
    examples: pl.DataFrame, statement_embeddings: np.ndarray, specificity: np.ndarray
) -> np.ndarray:
    """The statement's embedding, length, informativeness and specificity-to-its-pair columns."""
    statements = examples["statement"].fill_null("").to_list()
    lengths = np.array(
        [[len(s.split()), len(content_words(s)), np.log1p(len(s))] for s in statements], dtype=np.float64
    ).reshape(len(statements), 3)
    novel = informativeness(
        examples.select(
            tail=pl.col("statement"), title=pl.col("title"), title_b=pl.col("title_b"), query=pl.col("query")
        )
    )
    return np.hstack([statement_embeddings, lengths, novel.to_numpy()[:, None], specificity])


@dataclass
class TypicalityModel:
    """Ridge weights over standardised typicality features, the gate and the isotonic calibration."""

    coef: np.ndarray
    bias: float
    mean: np.ndarray
    scale: np.ndarray
    gate_threshold: float
    gate_width: float
    calibration_x: np.ndarray
    calibration_y: np.ndarray

    def gate(self, plausibility_logit: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(plausibility_logit - self.gate_threshold) / self.gate_width))

    def score(self, features: np.ndarray, plausibility_logit: np.ndarray) -> np.ndarray:
        typical = ((features - self.mean) / self.scale) @ self.coef + self.bias
        calibrated = np.interp(typical, self.calibration_x, self.calibration_y) + _TIE_BREAK * typical
        return np.clip(calibrated * self.gate(plausibility_logit), 0.0, 1.0)

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "typ_coef": self.coef,
            "typ_bias": np.array([self.bias]),
            "typ_mean": self.mean,
            "typ_scale": self.scale,
            "typ_gate": np.array([self.gate_threshold, self.gate_width]),
            "typ_calibration_x": self.calibration_x,
            "typ_calibration_y": self.calibration_y,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> TypicalityModel:
        return cls(
            arrays["typ_coef"],
            float(arrays["typ_bias"][0]),
            arrays["typ_mean"],
            arrays["typ_scale"],
            float(arrays["typ_gate"][0]),
            float(arrays["typ_gate"][1]),
            arrays["typ_calibration_x"],
            arrays["typ_calibration_y"],
        )


def _ridge(
    features: np.ndarray, target: np.ndarray, alpha: float
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    from sklearn.linear_model import Ridge

    mean, std = features.mean(axis=0), features.std(axis=0)
    scale = np.where(std > 0, std, 1.0)
    model = Ridge(alpha=alpha).fit((features - mean) / scale, target)
    return model.coef_.astype(np.float64), float(model.intercept_), mean, scale


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic) if len(x) > 2 else 0.0


@dataclass(frozen=True)
class TypicalityData:
    """Training rows for typicality: features, plausibility (0/1), graded typicality (nan = unknown)."""

    features: np.ndarray
    plausible: np.ndarray
    typicality: np.ndarray
    groups: np.ndarray


def _groups(data: TypicalityData) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import GroupKFold

    return list(GroupKFold(FOLDS).split(data.features, groups=data.groups))


def _out_of_fold_ridge(
    data: TypicalityData, folds: list[tuple[np.ndarray, np.ndarray]], alpha: float
) -> np.ndarray:
    graded = data.plausible & ~np.isnan(data.typicality)
    predicted = np.zeros(len(data.plausible))
    for train, test in folds:
        coef, bias, mean, scale = _ridge(
            data.features[train[graded[train]]], data.typicality[train[graded[train]]], alpha
        )
        predicted[test] = ((data.features[test] - mean) / scale) @ coef + bias
    return predicted


def _choose_gate(data: TypicalityData, logits: np.ndarray, typical: np.ndarray) -> tuple[float, float]:
    """The gate (threshold, width) with the best Spearman among positives at AUC >= MIN_GATE_AUC."""
    from sklearn.metrics import roc_auc_score

    graded = data.plausible & ~np.isnan(data.typicality)
    best = (-2.0, float(np.quantile(logits[data.plausible], GATE_QUANTILES[-1])), GATE_WIDTHS[-1])
    for quantile in GATE_QUANTILES:
        threshold = float(np.quantile(logits[data.plausible], quantile))
        for width in GATE_WIDTHS:
            scores = typical / (1.0 + np.exp(-(logits - threshold) / width))
            rho = _spearman(scores[graded], data.typicality[graded])
            if roc_auc_score(data.plausible, scores) >= MIN_GATE_AUC and rho > best[0]:
                best = (rho, threshold, width)
    return best[1], best[2]


def fit_typicality(
    data: TypicalityData, logit_of: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> TypicalityModel:
    """Choose the ridge strength and the gate by grouped cross-validation, then fit on all rows.

    ``logit_of(train_rows, test_rows)`` trains the plausibility model on ``train_rows`` and returns
    its logits on ``test_rows``. The gate and the calibration are placed on out-of-fold logits and
    scores, which behave like those of unseen data (logits on training rows are overconfident).
    """
    from sklearn.isotonic import IsotonicRegression

    folds = _groups(data)
    logits = np.zeros(len(data.plausible))
    for train, test in folds:
        logits[test] = logit_of(train, test)
    graded = data.plausible & ~np.isnan(data.typicality)
    predictions = {alpha: _out_of_fold_ridge(data, folds, alpha) for alpha in RIDGE_ALPHAS}
    alpha = max(RIDGE_ALPHAS, key=lambda a: _spearman(predictions[a][graded], data.typicality[graded]))
    typical = np.clip(predictions[alpha], 0.01, 1.0)
    threshold, width = _choose_gate(data, logits, typical)
    isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(
        predictions[alpha][graded], data.typicality[graded]
    )
    coef, bias, mean, scale = _ridge(data.features[graded], data.typicality[graded], alpha)
    steps = (isotonic.X_thresholds_.astype(np.float64), isotonic.y_thresholds_.astype(np.float64))
    return TypicalityModel(coef, bias, mean, scale, threshold, width, *steps)
