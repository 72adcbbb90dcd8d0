"""Benchmark: critic scoring speed, today's shipped critic beside the new one, same run, same rows.

"Today's" critic is the default shipped before typicality got its own model (commit
``BASELINE_COMMIT``, read from git history into a temporary folder); the new one is the shipped
default now. Both score the held-out annotation rows (co-buy and search-buy statements) from an
empty embedding cache, in interleaved rounds so machine load hits them alike; the load average is
recorded beside each round. Writes benchmarks/results/critic.json and prints a short table.

    python benchmarks/bench_critic.py [--rows 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from cosmo_kg.embeddings import EmbeddingSettings
from cosmo_kg.refinement.critic import load_critic
from cosmo_kg.refinement.runner import default_critic_dir
from cosmo_kg.refinement.training import DEFAULT_SOURCES, read_annotations, split

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
BASELINE_COMMIT = "f4e33c4"
CRITIC_FILES = ("critic.json", "weights.npz")


def baseline_critic(folder: Path) -> Path:
    """Today's default critic, written out of git history."""
    for name in CRITIC_FILES:
        blob = subprocess.run(["git", "show", f"{BASELINE_COMMIT}:cosmo_kg/samples/critic/default/{name}"],
                              cwd=ROOT, check=True, capture_output=True).stdout
        (folder / name).write_bytes(blob)
    return folder


def rows(count: int) -> pl.DataFrame:
    annotations = read_annotations(default_critic_dir().parent / "annotations.parquet", DEFAULT_SOURCES)
    return split(annotations, 0.2, 0)[1].head(count)


def timed(critic_dir: Path, frame: pl.DataFrame) -> float:
    critic = load_critic(critic_dir, EmbeddingSettings())
    started = time.perf_counter()
    critic.score(frame)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    frame = rows(args.rows)
    seconds: dict[str, list[float]] = {"today": [], "new": []}
    loads = []
    with tempfile.TemporaryDirectory() as temporary:
        critics = {"today": baseline_critic(Path(temporary)), "new": default_critic_dir()}
        timed(critics["new"], frame.head(50))  # exports / loads the embedding model once
        for _ in range(args.rounds):
            for name, folder in critics.items():
                seconds[name].append(timed(folder, frame))
            loads.append(os.getloadavg()[0])
    rates = {name: len(frame) / statistics.median(values) for name, values in seconds.items()}
    result = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "rows": len(frame),
              "rounds": args.rounds, "seconds": seconds, "statements_per_second": rates,
              "new_over_today": rates["new"] / rates["today"], "load_average": loads,
              "baseline_commit": BASELINE_COMMIT}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "critic.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"{'critic':<8} {'statements/s':>13}  (median of {args.rounds} rounds, {len(frame):,} statements, "
          f"cold embedding cache)")
    for name, rate in rates.items():
        print(f"{name:<8} {rate:>13,.0f}")
    load = ", ".join(f"{x:.1f}" for x in loads)
    print(f"new / today: {result['new_over_today']:.2f}x  load average {load}")


if __name__ == "__main__":
    main()
