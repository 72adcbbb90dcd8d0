"""Benchmark: generation throughput in one process vs ``--ray`` on a local two-node Ray cluster.

Both modes run the same ``generate`` run (the default backend: llama.cpp with the shipped
COSMO-LM adapter, greedy) on the same real pairs (IntentionQA co-buy + WANDS search-buy samples)
in shards of ``--shard-size`` pairs. The cluster is the tests' (tests/ray_cluster.py): a head and
a second node on 127.0.0.1, one CPU each, so two model actors of one thread; it is started once,
outside the timings (a cluster outlives its runs). Each timing is the wall clock of the whole
``run()``: model loads (in the actors for Ray), actor start-up and connection included. Rounds
rotate the order of the three modes; the table shows the median per mode. The modes: ``single``, one
process as a user runs it (llama.cpp's default threads: half the cores, 1 here); ``single-all``,
one process with one thread per core (the same 2 cores the cluster gets); ``ray``, the cluster. The
Ray candidate shards are checked byte for byte against the single-process ones.

    flock /tmp/cosmo-bench.lock python benchmarks/bench_ray.py            # 16 pairs, 3 rounds
    flock /tmp/cosmo-bench.lock python benchmarks/bench_ray.py --pairs 32 --rounds 3

Writes benchmarks/results/ray_generation.json and prints a short table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cosmo_kg.distributed import RaySettings
from cosmo_kg.generation.backend import BackendSettings
from cosmo_kg.generation.runner import GenerateConfig, run
from cosmo_kg.generation.settings import GenerationSettings, OpenAISettings, VllmSettings
from cosmo_kg.samples.pairs import SampleInputs, sample_pairs, write_inputs
from tests import ray_cluster

RESULTS = Path(__file__).resolve().parent / "results"


# mode -> (Ray address or "", llama.cpp threads: 0 = the backend's default)
Modes = dict[str, tuple[str, int]]


def _config(
    args: argparse.Namespace, inputs: SampleInputs, out: Path, address: str, threads: int
) -> GenerateConfig:
    generation = GenerationSettings(relations=args.relations, shard_size=args.shard_size, threads=threads)
    return GenerateConfig(
        inputs.pairs,
        inputs.products,
        out,
        out.parent / "rejects",
        BackendSettings(generation, OpenAISettings(), VllmSettings()),
        ray=RaySettings(address=address),
    )


def _measure(
    args: argparse.Namespace, inputs: SampleInputs, out: Path, mode: str, setup: tuple[str, int]
) -> dict[str, Any]:
    started = time.perf_counter()
    report = run(_config(args, inputs, out, *setup))
    seconds = time.perf_counter() - started
    return {
        "mode": mode,
        "workers": report.workers,
        "shards": report.shards_total,
        "pairs": report.pairs_in,
        "prompts": report.prompts,
        "tokens": report.tokens,
        "candidates": report.candidates,
        "wall_seconds": round(seconds, 2),
        "pairs_per_second": round(report.pairs_in / seconds, 4),
        "runner_pairs_per_second": round(report.pairs_per_second, 4),
    }


def _shards(out: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(out.glob("candidates-*.parquet"))}


def _median(runs: list[dict[str, Any]], mode: str, key: str) -> float:
    return float(statistics.median(r[key] for r in runs if r["mode"] == mode))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=16, help="pairs (half co-buy, half search-buy)")
    parser.add_argument("--shard-size", type=int, default=2)
    parser.add_argument("--relations", default="CAPABLE_OF,xWANT")
    parser.add_argument("--rounds", type=int, default=3, help="runs per mode, order rotating")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    pairs, products = sample_pairs(co_buy=args.pairs // 2, search_buy=args.pairs - args.pairs // 2)
    inputs = write_inputs(work / "inputs", pairs, products)
    cluster = ray_cluster.start()
    runs: list[dict[str, Any]] = []
    identical = True
    modes: Modes = {"single": ("", 0), "single-all": ("", os.cpu_count() or 1), "ray": (cluster.address, 0)}
    try:
        for round_ in range(args.rounds):
            names = list(modes)
            for mode in names[round_ % 3 :] + names[: round_ % 3]:
                out = work / f"round{round_}-{mode}"
                runs.append(_measure(args, inputs, out, mode, modes[mode]) | {"round": round_})
            ray_shards = _shards(work / f"round{round_}-ray")
            identical &= ray_shards == _shards(work / f"round{round_}-single")
            identical &= ray_shards == _shards(work / f"round{round_}-single-all")
    finally:
        ray_cluster.stop(cluster)
    single, single_all, ray = (_median(runs, mode, "pairs_per_second") for mode in modes)
    result = {
        "benchmark": "ray_generation",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "gpu": False},
        "load_average_1m": round(os.getloadavg()[0], 2),
        "settings": {
            "pairs": args.pairs,
            "shard_size": args.shard_size,
            "relations": args.relations,
            "backend": "llama_cpp (COSMO-LM adapter), greedy",
            "cluster": "2 nodes on 127.0.0.1, 1 CPU each; 2 actors x 1 thread",
            "single_process_threads": {
                "single": "llama_cpp default (half the cores)",
                "single-all": "one per core",
            },
        },
        "runs": runs,
        "median_pairs_per_second": {"single": single, "single-all": single_all, "ray": ray},
        "ray_vs_single": round(ray / single, 3),
        "ray_vs_single_all_cores": round(ray / single_all, 3),
        "identical_candidate_shards": identical,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ray_generation.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"{'mode':<11} {'round':>5} {'workers':>7} {'wall s':>8} {'pairs/s':>8}")
    for r in runs:
        row = f"{r['mode']:<11} {r['round']:>5} {r['workers']:>7}"
        print(f"{row} {r['wall_seconds']:>8.1f} {r['pairs_per_second']:>8.3f}")
    print(
        f"median pairs/s: single {single:.3f}, single-all {single_all:.3f}, ray {ray:.3f} -> "
        f"ray/single {ray / single:.2f}x, ray/single-all {ray / single_all:.2f}x"
    )
    print(f"candidate shards identical: {identical}")


if __name__ == "__main__":
    main()
