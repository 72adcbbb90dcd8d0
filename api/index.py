"""The semantic index: FAISS over intention texts and known queries, persisted with its id map.

One FAISS index per kind of text (``intention``, ``query``) in one directory, each beside a
Parquet id map (row i of the map is FAISS id i) and one ``meta.json`` naming the embedding
model and the build parameters. Small sets get an exact inner-product index; above
``exact_max`` vectors, IVF (or HNSW when asked: it builds too slowly for a million vectors on
a few cores). Vectors are unit length, so the inner product is the cosine similarity.

Every save writes a new version directory beside the previous one and then switches the
``CURRENT`` pointer file atomically, so a killed build leaves the previous index readable and a
running API (``cosmo_kg.api.freshness``) loads the new one whole, never a half-written one.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import polars as pl

from cosmo_kg.api.settings import IndexSettings
from cosmo_kg.errors import ConfigError, InputError
from cosmo_kg.files import write_text_atomic
from cosmo_kg.text import text_key

if TYPE_CHECKING:
    import faiss

KINDS = ("intention", "query")
META_FILE = "meta.json"
CURRENT_FILE = "CURRENT"
# Versions kept on disk: the current one and the one before, which a worker that read the
# pointer just before a switch may still be loading.
KEEP_VERSIONS = 2
FORMAT_VERSION = 1
# k-means needs a few dozen points per IVF list (faiss warns below 39) to place them well.
TRAIN_PER_LIST = 40
# faiss runs 25 k-means rounds; 10 place the lists as well for recall (measured at 200k) in less
# time, and training is most of an IVF build.
TRAIN_ROUNDS = 10


class TextEmbedder(Protocol):
    """What the index needs of ``cosmo_kg.embeddings.Embedder``."""

    model_name: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class Hit:
    text: str
    kind: str
    score: float


@dataclass
class IndexMeta:
    model: str
    dimension: int
    kinds: dict[str, dict[str, Any]] = field(default_factory=dict)
    built_at: str = ""
    updated_at: str = ""
    format_version: int = FORMAT_VERSION


def _faiss() -> Any:
    """The ``faiss`` module, from whichever extra installed it."""
    try:
        import faiss
    except ModuleNotFoundError as missing:
        raise ConfigError(
            "FAISS is not installed, and the semantic index needs it",
            hint="pip install 'cosmo-kg[cpu]' (or 'cosmo-kg[gpu]' on an NVIDIA machine)",
        ) from missing
    return faiss


def gpu_count() -> int:
    return int(getattr(_faiss(), "get_num_gpus", lambda: 0)())


def set_search_threads(threads: int) -> None:
    """Threads of every FAISS search in this process; 0 keeps the FAISS default (all cores)."""
    if threads:
        _faiss().omp_set_num_threads(threads)


def choose_kind(settings: IndexSettings, count: int) -> str:
    if settings.kind != "auto":
        return settings.kind
    return "flat" if count <= settings.exact_max else "ivf"


def new_faiss_index(
    kind: str, dimension: int, settings: IndexSettings, count: int
) -> tuple[faiss.Index, dict[str, Any]]:
    """An empty index of ``kind`` and the parameters it was made with."""
    if kind == "flat":
        return _faiss().IndexFlatIP(dimension), {"kind": "flat"}
    index: Any
    if kind == "hnsw":
        index = _faiss().IndexHNSWFlat(dimension, settings.hnsw_m, _faiss().METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = settings.hnsw_ef_construction
        index.hnsw.efSearch = settings.hnsw_ef_search
        return index, {
            "kind": "hnsw",
            "m": settings.hnsw_m,
            "ef_construction": settings.hnsw_ef_construction,
            "ef_search": settings.hnsw_ef_search,
        }
    lists = settings.ivf_lists or max(1, int(4 * np.sqrt(max(count, 1))))
    quantizer = _faiss().IndexFlatIP(dimension)
    index = _faiss().IndexIVFFlat(quantizer, dimension, lists, _faiss().METRIC_INNER_PRODUCT)
    index.cp.niter = TRAIN_ROUNDS
    index.nprobe = settings.ivf_probe
    return index, {"kind": "ivf", "lists": lists, "probe": settings.ivf_probe}


def _on_device(index: faiss.Index, kind: str, settings: IndexSettings) -> faiss.Index:
    """Move flat and IVF indexes to the GPUs when faiss-gpu is installed (HNSW stays on CPU)."""
    gpus = gpu_count()
    if settings.gpu == "on" and not gpus:
        raise ConfigError(
            "setting index.gpu is on but faiss sees no GPU",
            hint="install faiss-gpu-cu12 (pip install 'cosmo-kg[gpu]') or use gpu=auto",
        )
    if settings.gpu == "off" or not gpus or kind == "hnsw":
        return index
    return _faiss().index_cpu_to_all_gpus(index)


def _on_cpu(index: faiss.Index) -> faiss.Index:
    return _faiss().index_gpu_to_cpu(index) if gpu_count() and hasattr(index, "getDevice") else index


class VectorIndex:
    """One FAISS index and the texts of its ids."""

    def __init__(self, index: faiss.Index, texts: list[str], params: dict[str, Any]) -> None:
        self.index = index
        self.texts = texts
        self.params = params
        self._known = set(texts)

    def __len__(self) -> int:
        return len(self.texts)

    def __contains__(self, text: str) -> bool:
        return text in self._known

    @property
    def training_size(self) -> int:
        """Vectors the first ``add`` should bring to train this index (0: it needs no training)."""
        return 0 if self.index.is_trained else TRAIN_PER_LIST * int(self.params.get("lists", 1))

    def add(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        if not self.index.is_trained:
            self.index.train(vectors)
        self.index.add(vectors)
        self.texts.extend(texts)
        self._known.update(texts)

    def search(self, vectors: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        if not self.texts:
            return [[] for _ in range(len(vectors))]
        scores, ids = self.index.search(vectors, min(k, len(self.texts)))
        return [
            [(self.texts[i], float(s)) for s, i in zip(row_s, row_i, strict=True) if i >= 0]
            for row_s, row_i in zip(scores, ids, strict=True)
        ]


class SemanticIndex:
    """Intention and query texts searchable by meaning; new texts can be added incrementally."""

    def __init__(
        self, embedder: TextEmbedder, settings: IndexSettings, meta: IndexMeta, parts: dict[str, VectorIndex]
    ) -> None:
        self.embedder = embedder
        self.settings = settings
        self.meta = meta
        self.parts = parts
        self.version = ""
        self._query_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        # Searches run in worker threads (cosmo_kg.api.offload): the LRU is shared between them.
        self._lru_lock = threading.Lock()

    @classmethod
    def empty(cls, embedder: TextEmbedder, settings: IndexSettings) -> SemanticIndex:
        meta = IndexMeta(
            model=embedder.model_name, dimension=embedder.dimension, built_at=datetime.now(UTC).isoformat()
        )
        return cls(embedder, settings, meta, {})

    def count(self, kind: str) -> int:
        part = self.parts.get(kind)
        return len(part) if part else 0

    def add(
        self,
        kind: str,
        texts: Iterable[str],
        batch_size: int = 1024,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Embed and add the texts not yet indexed; return how many were added."""
        if kind not in KINDS:
            raise InputError(f"unknown index kind {kind!r}", hint=f"use one of {', '.join(KINDS)}")
        fresh = [t for t in dict.fromkeys(texts) if t not in self.parts.get(kind, ())]
        if not fresh:
            return 0
        part = self.parts.get(kind) or self._new_part(kind, len(fresh))
        if part.training_size:
            # An IVF index trains on its first batch: make it large and a fair sample, not a key range.
            random.Random(0).shuffle(fresh)
        first = max(batch_size, part.training_size)
        for start, stop in _batch_bounds(len(fresh), first, batch_size):
            batch = fresh[start:stop]
            part.add(batch, self.embedder.embed(batch))
            if progress:
                progress(len(batch))
        self.parts[kind] = part
        self.meta.kinds[kind] = {**part.params, "count": len(part)}
        self.meta.updated_at = datetime.now(UTC).isoformat()
        return len(fresh)

    def _new_part(self, kind: str, count: int) -> VectorIndex:
        index_kind = choose_kind(self.settings, count)
        index, params = new_faiss_index(index_kind, self.embedder.dimension, self.settings, count)
        return VectorIndex(_on_device(index, index_kind, self.settings), [], params)

    def embed_query(self, text: str) -> np.ndarray:
        """The embedding of a query text, from the in-memory LRU when seen recently."""
        key = text_key(text)
        with self._lru_lock:
            vector = self._query_vectors.get(key)
            if vector is not None:
                self._query_vectors.move_to_end(key)
                return vector
        vector = self.embedder.embed([key])
        with self._lru_lock:
            self._query_vectors[key] = vector
            if len(self._query_vectors) > self.settings.query_cache_size:
                self._query_vectors.popitem(last=False)
        return vector

    def search(self, text: str, k: int = 10, kind: str = "intention") -> list[Hit]:
        """The ``k`` texts of ``kind`` nearest in meaning to ``text``, best first."""
        part = self.parts.get(kind)
        if part is None:
            return []
        return [Hit(t, kind, s) for t, s in part.search(self.embed_query(text), k)[0]]

    def save(self, directory: Path) -> str:
        """Write a new version of the index beside the current one, switch ``CURRENT`` to it
        atomically, drop the versions before the previous one; return the new version's name."""
        directory.mkdir(parents=True, exist_ok=True)
        name = datetime.now(UTC).strftime("v%Y%m%dT%H%M%S%fZ")
        staging = directory / f".{name}.{os.getpid()}.tmp"
        staging.mkdir()
        try:
            for kind, part in self.parts.items():
                _write_texts(part, staging / f"{kind}.parquet")
                _write_faiss(part, staging / f"{kind}.faiss")
            meta = json.dumps(asdict(self.meta), indent=2)
            (staging / META_FILE).write_text(meta, encoding="utf-8")
            staging.rename(directory / name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        write_text_atomic(name + "\n", directory / CURRENT_FILE)
        _drop_old_versions(directory, name)
        return name

    @classmethod
    def load(cls, directory: Path, embedder: TextEmbedder, settings: IndexSettings) -> SemanticIndex:
        """Read the current version of an index written by ``save``; raise ``InputError`` if it
        is missing or inconsistent. ``version`` names the version read."""
        version, directory = current_version(directory)
        meta = read_meta(directory)
        if meta.model != embedder.model_name or meta.dimension != embedder.dimension:
            raise InputError(
                f"the index in {directory} was built with {meta.model} "
                f"({meta.dimension}-d), not {embedder.model_name}",
                hint="rebuild it: cosmo-kg index build --rebuild",
            )
        parts = {}
        for kind, params in meta.kinds.items():
            index: Any = _faiss().read_index(str(directory / f"{kind}.faiss"))
            texts = pl.read_parquet(directory / f"{kind}.parquet")["text"].to_list()
            if index.ntotal > len(texts):
                raise InputError(
                    f"the {kind} index in {directory} does not match its id map",
                    hint="rebuild it: cosmo-kg index build --rebuild",
                )
            del texts[index.ntotal :]
            if params["kind"] == "hnsw":
                index.hnsw.efSearch = settings.hnsw_ef_search
            if params["kind"] == "ivf":
                index.nprobe = settings.ivf_probe
            parts[kind] = VectorIndex(_on_device(index, params["kind"], settings), texts, params)
        loaded = cls(embedder, settings, meta, parts)
        loaded.version = version
        return loaded


def _batch_bounds(count: int, first: int, size: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of a first batch of ``first`` items, then batches of ``size``."""
    yield 0, min(first, count)
    for start in range(first, count, size):
        yield start, min(start + size, count)


def current_version(directory: Path) -> tuple[str, Path]:
    """(name, directory) of the index version ``CURRENT`` points at; an index written before
    versions (files in ``directory`` itself) is version ``unversioned``."""
    pointer = directory / CURRENT_FILE
    if pointer.exists():
        name = pointer.read_text(encoding="utf-8").strip()
        return name, directory / name
    return "unversioned", directory


def _drop_old_versions(directory: Path, current: str) -> None:
    versions = sorted(p for p in directory.glob("v*") if p.is_dir() and p.name <= current)
    for old in versions[:-KEEP_VERSIONS]:
        shutil.rmtree(old, ignore_errors=True)
    for legacy in (META_FILE, *(f"{k}.{ext}" for k in KINDS for ext in ("faiss", "parquet"))):
        (directory / legacy).unlink(missing_ok=True)


def read_meta(directory: Path) -> IndexMeta:
    """The meta of the index in ``directory`` (its current version when it has versions)."""
    directory = current_version(directory)[1]
    path = directory / META_FILE
    if not path.exists():
        raise InputError(f"no semantic index in {directory}", hint="build it: cosmo-kg index build")
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format_version") != FORMAT_VERSION:
        raise InputError(
            f"the index in {directory} has an old format", hint="rebuild it: cosmo-kg index build --rebuild"
        )
    return IndexMeta(**data)


def _write_texts(part: VectorIndex, tmp: Path) -> None:
    pl.DataFrame({"text": part.texts}, schema={"text": pl.String()}).write_parquet(tmp)


def _write_faiss(part: VectorIndex, tmp: Path) -> None:
    _faiss().write_index(_on_cpu(part.index), str(tmp))
