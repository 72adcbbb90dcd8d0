"""Similarity filter: a tail that merely paraphrases the query or a product title adds nothing."""

from __future__ import annotations

import numpy as np
import polars as pl

from cosmo_kg.embeddings import Embedder


def context_similarity(embedder: Embedder, frame: pl.DataFrame) -> np.ndarray:
    """Highest cosine between each tail and its behaviour's query / title / second title (0 if absent)."""
    tails = embedder.embed(frame["tail"].fill_null("").to_list())
    best = np.zeros(len(frame), dtype=np.float32)
    for column in ("query", "title", "title_b"):
        values = frame[column].fill_null("").to_list()
        present = np.array([bool(v) for v in values])
        if present.any():
            cosine = (tails * embedder.embed(values)).sum(axis=1)
            best = np.maximum(best, np.where(present, cosine, 0.0))
    return best
