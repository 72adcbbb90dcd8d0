"""Benchmark: the semantic index (api/index.py) on many 384-d vectors, beside exact search.

Builds the index the way ``cosmo-kg index build`` does (``SemanticIndex.add`` with the
project's IVF / HNSW parameters) from precomputed vectors — embedding time is excluded, the
FAISS build is what is timed — then, for each dataset (random unit vectors, and a clustered
set shaped like sentence embeddings), measures recall@10 against exact inner-product search
(``IndexFlatIP``, the naive way, also timed per query) and single-query p50 / p99 latency
through ``SemanticIndex.search`` for a sweep of search widths (IVF nprobe, HNSW efSearch).

Writes benchmarks/results/faiss.json and prints a table.

    python benchmarks/bench_faiss.py                                  # 1,000,000 vectors, IVF
    python benchmarks/bench_faiss.py --vectors 100000 --kinds ivf,hnsw
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from cosmo_kg.api.index import TRAIN_PER_LIST, TRAIN_ROUNDS, SemanticIndex, VectorIndex, set_search_threads
from cosmo_kg.api.settings import IndexSettings

ALL_THREADS = faiss.omp_get_max_threads()
RESULTS = Path(__file__).resolve().parent / "results"
DIMENSION = 384
LATENT = 64  # intrinsic dimension of the clustered set
SWEEPS = {"ivf": [1, 4, 16, 32, 64, 128], "hnsw": [32, 64, 128, 256], "flat": [0]}


class ArrayEmbedder:
    """Texts ``v<i>`` / ``q<i>`` name rows of precomputed vectors, so no model runs in the timing."""

    model_name = "precomputed"
    dimension = DIMENSION

    def __init__(self, vectors: np.ndarray, queries: np.ndarray) -> None:
        self.rows = {"v": vectors, "q": queries}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.rows[t[0]][int(t[1:])] for t in texts])


def unit(rows: np.ndarray) -> np.ndarray:
    faiss.normalize_L2(rows)
    return rows


def random_set(rng: np.random.Generator, count: int) -> np.ndarray:
    return unit(rng.standard_normal((count, DIMENSION), dtype=np.float32))


def clustered_set(rng: np.random.Generator, count: int, centers: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Topic clusters in a low-dimensional subspace, the shape sentence embeddings have: points
    scatter around their topic centre (overlapping neighbours) in ``basis``' few dimensions."""
    picks = rng.integers(0, len(centers), count)
    rows = np.empty((count, DIMENSION), dtype=np.float32)
    for start in range(0, count, 100_000):
        stop = min(start + 100_000, count)
        latent = centers[picks[start:stop]] + 0.8 * rng.standard_normal(
            (stop - start, LATENT), dtype=np.float32
        )
        rows[start:stop] = latent @ basis
    rows += 0.02 * rng.standard_normal(rows.shape, dtype=np.float32)
    return unit(rows)


def datasets(name: str, count: int, queries: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if name == "random":
        return random_set(rng, count), random_set(rng, queries)
    centers = rng.standard_normal((max(count // 200, 10), LATENT), dtype=np.float32)
    basis = np.linalg.qr(rng.standard_normal((DIMENSION, LATENT)))[0].T.astype(np.float32)
    return clustered_set(rng, count, centers, basis), clustered_set(rng, queries, centers, basis)


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Built:
    index: SemanticIndex
    part: VectorIndex
    seconds: float
    memory_mib: float


def build(kind: str, embedder: ArrayEmbedder, count: int, settings: IndexSettings) -> Built:
    set_search_threads(ALL_THREADS)  # building is batch work, as in `cosmo-kg index build`
    index = SemanticIndex.empty(embedder, replace(settings, kind=kind))
    before = rss_bytes()
    started = time.perf_counter()
    index.add("intention", (f"v{i}" for i in range(count)), batch_size=50_000)
    seconds = time.perf_counter() - started
    return Built(index, index.parts["intention"], round(seconds, 1), round((rss_bytes() - before) / 2**20, 1))


def set_width(part: VectorIndex, kind: str, width: int) -> None:
    if kind == "ivf":
        part.index.nprobe = width
    elif kind == "hnsw":
        part.index.hnsw.efSearch = width


def vector_ids(part: VectorIndex, ids: np.ndarray) -> np.ndarray:
    """FAISS ids → dataset rows (the index may have added texts in another order)."""
    rows = np.array([int(t[1:]) for t in part.texts])
    return np.where(ids >= 0, rows[np.maximum(ids, 0)], -1)


def recall_at_10(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)]))


def latencies_ms(index: SemanticIndex, queries: int) -> tuple[float, float]:
    times = []
    for q in range(queries):
        started = time.perf_counter()
        index.search(f"q{q}", 10)
        times.append(time.perf_counter() - started)
    p50, p99 = np.percentile(times, [50, 99]) * 1000
    return round(float(p50), 3), round(float(p99), 3)


def sweep(
    built: Built, kind: str, query_vectors: np.ndarray, truth: np.ndarray, timed: int, settings: IndexSettings
) -> list[dict]:
    """Recall and single-query latency per search width, with the served thread count and with all."""
    rows = []
    for width in SWEEPS[kind]:
        set_width(built.part, kind, width)
        _, ids = built.part.index.search(query_vectors, 10)
        row: dict[str, Any] = {"width": width}
        row["recall_at_10"] = round(recall_at_10(vector_ids(built.part, ids), truth), 4)
        for threads, label in ((settings.search_threads, ""), (ALL_THREADS, "all_threads_")):
            set_search_threads(threads or ALL_THREADS)
            row[f"{label}p50_ms"], row[f"{label}p99_ms"] = latencies_ms(built.index, timed)
        rows.append(row)
    return rows


def bench_dataset(name: str, args: argparse.Namespace, settings: IndexSettings) -> dict[str, Any]:
    vectors, query_vectors = datasets(name, args.vectors, args.queries)
    embedder = ArrayEmbedder(vectors, query_vectors)
    exact = build("flat", embedder, args.vectors, settings)
    started = time.perf_counter()
    _, truth_ids = exact.part.index.search(query_vectors, 10)
    truth = vector_ids(exact.part, truth_ids)
    result: dict[str, Any] = {"ground_truth_batch_seconds": round(time.perf_counter() - started, 1)}
    result["flat"] = {
        "build_seconds": exact.seconds,
        "memory_mib": exact.memory_mib,
        "sweep": sweep(exact, "flat", query_vectors, truth, args.flat_timed, settings),
    }
    del exact
    for kind in args.kinds:
        built = build(kind, embedder, args.vectors, settings)
        result[kind] = {
            "params": built.part.params,
            "build_seconds": built.seconds,
            "memory_mib": built.memory_mib,
            "sweep": sweep(built, kind, query_vectors, truth, args.queries, settings),
        }
        print(f"  {name} {kind}: built in {built.seconds}s")
    return result


def best(rows: list[dict], recall: float) -> dict | None:
    good = [r for r in rows if r["recall_at_10"] >= recall]
    return min(good, key=lambda r: r["p99_ms"]) if good else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300, help="queries for recall and latency")
    parser.add_argument("--flat-timed", type=int, default=30, help="queries timed one by one on exact search")
    parser.add_argument("--kinds", default="ivf", help="approximate indexes to build: ivf, hnsw or both")
    parser.add_argument("--datasets", default="random,clustered")
    parser.add_argument("--output", default="faiss.json", help="result file name under benchmarks/results")
    args = parser.parse_args()
    args.kinds = args.kinds.split(",")
    settings = IndexSettings(gpu="off")
    results = {}
    for name in args.datasets.split(","):
        results[name] = bench_dataset(name, args, settings)
    write_results(args, settings, results)


def write_results(args: argparse.Namespace, settings: IndexSettings, results: dict[str, Any]) -> None:
    summary = {}
    for name, by_kind in results.items():
        for kind in args.kinds:
            chosen = best(by_kind[kind]["sweep"], 0.95)
            summary[f"{name}/{kind}"] = {
                "build_seconds": by_kind[kind]["build_seconds"],
                "at_recall_0.95": chosen,
                "target_met": bool(
                    chosen and chosen["p99_ms"] <= 5.0 and by_kind[kind]["build_seconds"] <= 600
                ),
                "exact_p99_ms": by_kind["flat"]["sweep"][0]["p99_ms"],
            }
    result = {
        "benchmark": "faiss",
        "when": datetime.now(UTC).isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "faiss": faiss.__version__,
            "faiss_threads": ALL_THREADS,
            "search_threads": settings.search_threads,
            "load_average_1m": round(os.getloadavg()[0], 1),
        },
        "vectors": args.vectors,
        "dimension": DIMENSION,
        "queries": args.queries,
        "settings": {
            "hnsw_m": settings.hnsw_m,
            "hnsw_ef_construction": settings.hnsw_ef_construction,
            "ivf_lists": settings.ivf_lists or "4*sqrt(n)",
            "ivf_training_vectors_per_list": TRAIN_PER_LIST,
            "ivf_kmeans_rounds": TRAIN_ROUNDS,
        },
        "summary": summary,
        "datasets": results,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{'dataset/index':<18}{'width':>7}{'recall@10':>11}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'p99 all thr':>13}{'build s':>9}"
    )
    for name, by_kind in results.items():
        for kind in ("flat", *args.kinds):
            for row in by_kind[kind]["sweep"]:
                print(
                    f"{name + '/' + kind:<18}{row['width']:>7}{row['recall_at_10']:>11}"
                    f"{row['p50_ms']:>9}{row['p99_ms']:>9}{row['all_threads_p99_ms']:>13}{by_kind[kind]['build_seconds']:>9}"
                )


if __name__ == "__main__":
    main()
