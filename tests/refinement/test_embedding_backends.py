"""The ONNX backends give the torch model's vectors, from an export made once per machine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cosmo_kg.embeddings import Embedder, EmbeddingSettings, bundled_model_dir, exported_model, length_batches

TAILS = [
    "camping",
    "sleeping in tents",
    "tennis equipment",
    "golf balls",
    "a vacation to Hawaii",
    "keep the baby warm at night",
    "make a costume of a character from a movie",
    "daily use",
]


@pytest.mark.slow
def test_onnx_backend_matches_torch_with_passes_at_once_or_not_and_exports_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COSMO_CACHE_DIR", str(tmp_path))
    reference = Embedder(EmbeddingSettings(backend="torch")).embed(TAILS)
    vectors = Embedder(EmbeddingSettings(backend="onnx", batch_tokens=16)).embed(TAILS)  # several passes
    assert vectors.dtype == np.float32 and vectors.shape == reference.shape
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert (vectors * reference).sum(axis=1).min() > 0.9999
    one_at_a_time = Embedder(EmbeddingSettings(backend="onnx", batch_tokens=16, concurrent_passes=False))
    assert np.allclose(one_at_a_time.embed(TAILS), vectors, atol=1e-5)
    export = exported_model(bundled_model_dir(), quantized=False)
    stamp = export.stat().st_mtime_ns
    Embedder(EmbeddingSettings(backend="onnx"))
    assert export.stat().st_mtime_ns == stamp and not list(export.parent.glob("*.tmp"))


def test_length_batches_cap_texts_and_padded_tokens_and_cover_every_row_once() -> None:
    lengths = [3, 40, 5, 4, 12, 5, 3, 90, 6]
    batches = length_batches(lengths, max_texts=3, max_tokens=16)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    widths = [[lengths[row] for row in rows] for rows in batches]
    assert widths == [[3, 3, 4], [5, 5], [6], [12], [40], [90]]  # 3 x 6 > 16 tokens; 40 alone
