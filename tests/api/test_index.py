"""The semantic index picks its FAISS kind by size; a large set gets a trained IVF index."""

from __future__ import annotations

import sys
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from cosmo_kg.api import index
from cosmo_kg.api.index import SemanticIndex
from cosmo_kg.api.settings import IndexSettings
from cosmo_kg.errors import ConfigError

DIMENSION = 16


class TopicEmbedder:
    """``t<topic>-<i>`` texts near their topic's direction, so neighbours are known."""

    model_name = "topics"
    dimension = DIMENSION

    def __init__(self, topics: int) -> None:
        self.centres = np.random.default_rng(1).standard_normal((topics, DIMENSION)).astype(np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for text in texts:
            topic = int(text[1:].split("-")[0])
            noise = np.random.default_rng(zlib.crc32(text.encode())).standard_normal(DIMENSION)
            rows.append(self.centres[topic] + 0.05 * noise)
        vectors = np.asarray(rows, dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_large_sets_get_an_ivf_index_that_finds_the_topic(tmp_path: Path) -> None:
    settings = IndexSettings(exact_max=500, ivf_lists=8, ivf_probe=2, gpu="off")
    embedder = TopicEmbedder(topics=20)
    index = SemanticIndex.empty(embedder, settings)
    index.add("intention", (f"t{topic}-{i}" for topic in range(20) for i in range(50)))
    assert index.parts["intention"].params == {"kind": "ivf", "lists": 8, "probe": 2}

    index.save(tmp_path)
    loaded = SemanticIndex.load(tmp_path, embedder, settings)
    hits = loaded.search("t7-3", 5)
    assert hits[0].text == "t7-3"
    assert all(hit.text.startswith("t7-") for hit in hits)


def test_small_sets_stay_exact() -> None:
    index = SemanticIndex.empty(TopicEmbedder(topics=2), IndexSettings(exact_max=500, gpu="off"))
    index.add("intention", (f"t{topic}-{i}" for topic in range(2) for i in range(10)))
    assert index.parts["intention"].params == {"kind": "flat"}


def test_an_install_without_faiss_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)  # what `import faiss` meets without the extra
    with pytest.raises(ConfigError, match="FAISS is not installed") as raised:
        index.set_search_threads(1)
    assert "cosmo-kg[cpu]" in (raised.value.hint or "")
