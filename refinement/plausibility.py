"""Plausibility: one logistic regression per behaviour kind over the critic's standardised features.

Search-buy statements ("the product is ...", a query and a title) and co-buy statements ("they
are both ...", two titles) differ in form and in what makes them fit; one model fitted on both
lost 0.02 co-buy AUC and 3.5 points of within-pair ranking in grouped cross-validation on the
training pairs, separate models lost nothing on either kind. A kind without its own training
rows is scored by the model of the kind with the most rows (``default``). Each model's strength
is chosen by grouped cross-validation (out-of-fold AUC) among ``REGULARIZATIONS``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The optimum sat at the grid's edge (0.01 of 0.01 / 0.03) in cross-validation, so the grid reaches
# further down: the ~2,000 features are many for ~10,000 rows.
REGULARIZATIONS = (0.0003, 0.001, 0.003, 0.01, 0.03)
FOLDS = 5


@dataclass
class KindModels:
    """(coef, bias) per kind, the kind whose model scores the others, and each chosen strength."""

    weights: dict[str, tuple[np.ndarray, float]]
    default: str
    regularization: dict[str, float]

    def logits(self, features: np.ndarray, kinds: np.ndarray) -> np.ndarray:
        coef, bias = self.weights[self.default]
        logits = features @ coef + bias
        for kind, (coef, bias) in self.weights.items():
            rows = kinds == kind
            if kind != self.default and rows.any():
                logits[rows] = features[rows] @ coef + bias
        return logits

    def arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            "plausibility_coef": self.weights[self.default][0],
            "plausibility_bias": np.array([self.weights[self.default][1]]),
        }
        for kind, (coef, bias) in self.weights.items():
            arrays |= {f"plausibility@{kind}_coef": coef, f"plausibility@{kind}_bias": np.array([bias])}
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, object]) -> KindModels:
        """Also reads critics saved with one plausibility model (it scores every kind)."""
        default = str(meta.get("default_kind", "co_buy"))
        kinds = [
            key[len("plausibility@") : -len("_coef")]
            for key in arrays
            if key.startswith("plausibility@") and key.endswith("_coef")
        ]
        weights = {
            kind: (arrays[f"plausibility@{kind}_coef"], float(arrays[f"plausibility@{kind}_bias"][0]))
            for kind in kinds
        }
        weights.setdefault(default, (arrays["plausibility_coef"], float(arrays["plausibility_bias"][0])))
        strengths = meta.get("regularizations")
        return cls(weights, default, dict(strengths) if isinstance(strengths, dict) else {})


def logistic(
    features: np.ndarray, target: np.ndarray, regularization: float, seed: int
) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=regularization, max_iter=5000, random_state=seed)
    model.fit(features, target)
    return model.coef_[0].astype(np.float64), float(model.intercept_[0])


def choose_regularization(features: np.ndarray, target: np.ndarray, groups: np.ndarray, seed: int) -> float:
    """The strength with the best out-of-fold AUC, folds grouped by pair."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold

    folds = list(GroupKFold(FOLDS).split(features, groups=groups))

    def auc(regularization: float) -> float:
        logits = np.zeros(len(target))
        for train, test in folds:
            coef, bias = logistic(features[train], target[train], regularization, seed)
            logits[test] = features[test] @ coef + bias
        return float(roc_auc_score(target, logits))

    return max(REGULARIZATIONS, key=auc)


def trainable_kinds(target: np.ndarray, kinds: np.ndarray, groups: np.ndarray) -> list[str]:
    """Kinds with both classes and enough pairs for their own cross-validated model, most rows first."""
    found = [
        str(k)
        for k in np.unique(kinds)
        if len(set(target[kinds == k].tolist())) == 2 and len(set(groups[kinds == k].tolist())) >= FOLDS
    ]
    return sorted(found, key=lambda k: -int((kinds == k).sum()))


def fit_kind_models(
    features: np.ndarray,
    target: np.ndarray,
    kinds: np.ndarray,
    groups: np.ndarray,
    seed: int,
    regularization: dict[str, float] | None = None,
) -> KindModels:
    """One model per trainable kind (``regularization`` given: no cross-validation)."""
    chosen = trainable_kinds(target, kinds, groups)
    strengths = regularization or {
        kind: choose_regularization(features[rows], target[rows], groups[rows], seed)
        for kind, rows in ((kind, kinds == kind) for kind in chosen)
    }
    weights = {
        kind: logistic(features[kinds == kind], target[kinds == kind], strengths[kind], seed)
        for kind in chosen
    }
    return KindModels(weights, chosen[0], strengths)
