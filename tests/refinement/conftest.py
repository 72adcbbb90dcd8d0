"""Fixtures of the refinement tests: the shipped sample files and one embedding cache per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosmo_kg import samples
from cosmo_kg.embeddings import EmbeddingSettings

SAMPLES = Path(samples.__file__).resolve().parent


@pytest.fixture(scope="session")
def embedding_settings(tmp_path_factory: pytest.TempPathFactory) -> EmbeddingSettings:
    return EmbeddingSettings(cache_dir=str(tmp_path_factory.mktemp("embedding-cache")))


@pytest.fixture(scope="session")
def refine_sample() -> dict[str, Path]:
    folder = SAMPLES / "refine"
    return {name: folder / f"{name}.parquet" for name in ("candidates", "pairs", "products")}


@pytest.fixture(scope="session")
def shipped_annotations() -> Path:
    return SAMPLES / "critic" / "annotations.parquet"
