"""Plausibility: one logistic regression per behaviour kind over the critic's standardised features.

Search-buy statements ("the product is ...", a query and a title) and co-buy statements ("they
are both ...", two titles) differ in form and in what makes them fit; one model fitted on both
lost 0.02 co-buy AUC and 3.5 points of within-pair ranking in grouped cross-validation on the
training pairs, separate models lost nothing on either kind. A kind without its own training
rows is scored by the model of the kind with the most rows (``default``). Each model's strength
is chosen by grouped cross-validation (out-of-fold AUC) among ``REGULARIZATIONS``.

A model only knows the relations it saw both ways. The search-buy examples are constructed
(``search_buy.py``): their plausible statements are all ``xINTERESTED_IN``, and every other
relation appears only in restatements labelled implausible, so that model learned "any other
relation is implausible" and gave "used in the location of the patio" for an outdoor dining set
0.02. A statement whose relation its kind's model never saw both plausible and implausible is
scored by the default model (people's co-buy judgements: 0.80 for the patio, 0.08 for "the
bathroom"); restatements are the informativeness rule's to reject (``restates_head``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    known_relations: dict[str, list[str]] = field(default_factory=dict)  # none recorded: no rerouting

    def scoring_kinds(self, kinds: np.ndarray, relations: np.ndarray | None) -> np.ndarray:
        """The model per row: its kind's, or the default one where that model never saw the row's
        relation both ways (rows without a relation keep their kind's model)."""
        chosen = kinds.astype(object).copy()
        if relations is None:
            return chosen
        for kind, known in self.known_relations.items():
            if kind != self.default:
                unseen = (kinds == kind) & (relations != "") & ~np.isin(relations, known)
                chosen[unseen] = self.default
        return chosen

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
        known = meta.get("known_relations")
        return cls(
            weights,
            default,
            dict(strengths) if isinstance(strengths, dict) else {},
            {str(k): list(v) for k, v in known.items()} if isinstance(known, dict) else {},
        )


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


def known_relations(target: np.ndarray, kinds: np.ndarray, relations: np.ndarray) -> dict[str, list[str]]:
    """Per kind, the relations it has both plausible and implausible examples of."""
    known: dict[str, list[str]] = {}
    for kind in np.unique(kinds):
        rows = kinds == kind
        known[str(kind)] = sorted(
            str(r) for r in np.unique(relations[rows]) if r and len(set(target[rows & (relations == r)])) == 2
        )
    return known


def fit_kind_models(
    features: np.ndarray,
    target: np.ndarray,
    kinds: np.ndarray,
    groups: np.ndarray,
    seed: int,
    regularization: dict[str, float] | None = None,
    relations: np.ndarray | None = None,
) -> KindModels:
    """One model per trainable kind (``regularization`` given: no cross-validation); with the rows'
    ``relations``, also which relations each model knows."""
    chosen = trainable_kinds(target, kinds, groups)
    strengths = regularization or {
        kind: choose_regularization(features[rows], target[rows], groups[rows], seed)
        for kind, rows in ((kind, kinds == kind) for kind in chosen)
    }
    weights = {
        kind: logistic(features[kinds == kind], target[kinds == kind], strengths[kind], seed)
        for kind in chosen
    }
    known = known_relations(target, kinds, relations) if relations is not None else {}
    return KindModels(weights, chosen[0], strengths, known)
