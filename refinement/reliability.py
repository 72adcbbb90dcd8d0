"""Reliability diagram of a critic's held-out scores (matplotlib, Agg backend: no display needed).

Plausibility is compared with the 0/1 label; typicality with the human grade of the plausible
statements people graded, the scale it is calibrated to (``typicality.py``): a calibrated score
lies on the diagonal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl


def reliability_bins(
    scores: np.ndarray, target: np.ndarray, bins: int = 10
) -> list[tuple[float, float, int]]:
    """(mean score, mean target, examples) per equal-width score bin that holds examples."""
    edges = np.minimum((scores * bins).astype(int), bins - 1)
    return [
        (float(scores[edges == b].mean()), float(target[edges == b].mean()), int((edges == b).sum()))
        for b in range(bins)
        if (edges == b).any()
    ]


def write_reliability_diagram(scored: pl.DataFrame, path: Path) -> Path:
    """Plot plausibility and typicality reliability of ``scored`` (``score_*`` columns) into ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(9, 4.2))
    for axis, label in zip(axes, ("plausibility", "typicality"), strict=True):
        known = scored.drop_nulls(label)
        if label == "typicality":
            known = known.filter(pl.col("plausibility") >= 0.5)
        target = known[label].to_numpy()
        if label == "plausibility":
            target = (target >= 0.5).astype(float)
        points = reliability_bins(known[f"score_{label}"].to_numpy(), target)
        axis.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
        if points:
            xs, ys, _ = zip(*points, strict=True)
            axis.plot(xs, ys, marker="o")
            for x, y, n in points:
                axis.annotate(str(n), (x, y), textcoords="offset points", xytext=(3, -10), fontsize=7)
        what = "held-out" if label == "plausibility" else "held-out positives"
        axis.set(
            title=f"{label} ({len(known):,} {what})",
            xlabel="critic score",
            ylabel="observed " + ("share plausible" if label == "plausibility" else "human typicality"),
            xlim=(0, 1),
            ylim=(0, 1),
        )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
