"""Benchmark: critic scoring speed, today's shipped critic beside the new one, same run, same rows.

"Today's" critic is the default shipped before typicality got its own model (commit
``BASELINE_COMMIT``): its weights and its own code (the packages of that commit, read from git
history into a temporary folder) run in a worker process; the new one is the shipped default
with today's code, in a worker process too. Both score the held-out annotation rows (co-buy and
search-buy statements) from an empty embedding cache, in interleaved rounds so machine load hits
them alike; only ``score`` is timed (not the model load); the load average is recorded beside each
round. Writes benchmarks/results/critic.json and prints a short table.

    python benchmarks/bench_critic.py [--rows 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from cosmo_kg.embeddings import EmbeddingSettings
from cosmo_kg.refinement.runner import default_critic_dir

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
BASELINE_COMMIT = "f4e33c4"
PACKAGES = {
    "graph": "graph",
    "cypher": "cypher",
    "ingest": "ingest",
    "generation": "generation",
    "refinement": "refinement",
    "api": "api",
}


def baseline_tree(folder: Path) -> Path:
    """The baseline commit's code laid out as an importable ``cosmo_kg`` package."""
    folder.mkdir()
    archive = subprocess.run(["git", "archive", BASELINE_COMMIT], cwd=ROOT, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    for name, source in PACKAGES.items():
        (folder / "cosmo_kg" / name).symlink_to(folder / source, target_is_directory=True)
    return folder


def rows(count: int) -> pl.DataFrame:
    from cosmo_kg.refinement.training import DEFAULT_SOURCES, read_annotations, split  # today's code only

    annotations = read_annotations(default_critic_dir().parent / "annotations.parquet", DEFAULT_SOURCES)
    return split(annotations, 0.2, 0)[1].head(count)


def timed(code: Path | None, frame_file: Path) -> float:
    """Seconds of one ``score`` call in a fresh worker running ``code`` (None: today's code)."""
    env = dict(os.environ, PYTHONPATH=str(code)) if code else dict(os.environ)
    result = subprocess.run(
        [sys.executable, __file__, "--worker", str(frame_file)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(result.stdout.strip().splitlines()[-1])


def worker(frame_file: Path) -> None:
    from cosmo_kg.refinement.critic import load_critic

    frame = pl.read_parquet(frame_file)
    critic = load_critic(default_critic_dir(), EmbeddingSettings())
    critic.score(frame.head(50))  # exports / loads the embedding model
    critic = load_critic(default_critic_dir(), EmbeddingSettings())
    started = time.perf_counter()
    critic.score(frame)
    print(time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    frame = rows(args.rows)
    seconds: dict[str, list[float]] = {"today": [], "new": []}
    loads = []
    with tempfile.TemporaryDirectory() as temporary:
        frame_file = Path(temporary) / "rows.parquet"
        frame.write_parquet(frame_file)
        code = {"today": baseline_tree(Path(temporary) / "baseline"), "new": None}
        for _ in range(args.rounds):
            for name, tree in code.items():
                seconds[name].append(timed(tree, frame_file))
            loads.append(os.getloadavg()[0])
    rates = {name: len(frame) / statistics.median(values) for name, values in seconds.items()}
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": len(frame),
        "rounds": args.rounds,
        "seconds": seconds,
        "statements_per_second": rates,
        "new_over_today": rates["new"] / rates["today"],
        "load_average": loads,
        "baseline_commit": BASELINE_COMMIT,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "critic.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        f"{'critic':<8} {'statements/s':>13}  (median of {args.rounds} rounds, {len(frame):,} statements, "
        f"cold embedding cache)"
    )
    for name, rate in rates.items():
        print(f"{name:<8} {rate:>13,.0f}")
    load = ", ".join(f"{x:.1f}" for x in loads)
    print(f"new / today: {result['new_over_today']:.2f}x  load average {load}")


if __name__ == "__main__":
    main()
