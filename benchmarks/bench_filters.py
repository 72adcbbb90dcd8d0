"""Benchmark: the rule filters (incomplete, copies of the context, generic) on many candidates, vectorised
beside the naive per-row Python way on a slice of the same rows.

Candidates are the shipped FolkScope refine sample repeated (with distinct behaviour ids) to --rows;
copy i rotates the tails by i rows, so a tail meets many behaviour contexts (titles, product types)
as in real generations, not the same (tail, context) pair over and over. The two ways run in
interleaved rounds so machine load hits them alike; the load average is recorded beside each round.
Writes benchmarks/results/filters.json and prints a short table.

    python benchmarks/bench_filters.py               # 1,000,000 candidates
    python benchmarks/bench_filters.py --rows 100000
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from rapidfuzz import fuzz

from cosmo_kg import samples
from cosmo_kg.refinement.filters import FilterSettings
from cosmo_kg.refinement.runner import RefineConfig, load_context, rule_reasons

RESULTS = Path(__file__).resolve().parent / "results"
SAMPLE = Path(samples.__file__).resolve().parent / "refine"


def candidates(rows: int) -> pl.DataFrame:
    config = RefineConfig(
        candidates=SAMPLE / "candidates.parquet",
        pairs=SAMPLE / "pairs.parquet",
        products=SAMPLE / "products.parquet",
        output=Path("unused"),
        rejects_dir=Path("."),
    )
    base = load_context(config)
    copies = -(-rows // len(base))
    tails = base["tail"]

    def rotated(shift: int) -> pl.Series:
        return pl.concat([tails.tail(shift), tails.head(len(tails) - shift)])

    return pl.concat(
        [
            base.with_columns(
                behavior_id=pl.col("behavior_id") + f"#{i}",
                candidate_id=pl.col("candidate_id") + f"#{i}",
                tail=rotated(i % len(base)),
            )
            for i in range(copies)
        ]
    ).head(rows)


def naive(frame: pl.DataFrame, settings: FilterSettings) -> list[str | None]:
    """The per-row way: a Python loop with a rapidfuzz call and set arithmetic per candidate."""
    counts: dict[str, set[str]] = {}
    for row in frame.iter_rows(named=True):
        counts.setdefault(row["tail"].lower().strip(), set()).add(row["behavior_id"])
    reasons: list[str | None] = []
    for row in frame.iter_rows(named=True):
        tail = row["tail"].strip()
        words = {w.rstrip("s") for w in tail.lower().split()}
        title_words = {w.rstrip("s") for w in (row["title"] or "").lower().split()}
        if len(tail) < settings.min_chars or len(tail.split()) > settings.max_words:
            reasons.append("incomplete")
        elif any(
            fuzz.ratio(tail.lower(), (row[c] or "").lower()) >= settings.copy_ratio
            for c in ("query", "product_type")
            if row[c]
        ) or (len(words) >= 2 and words <= title_words):
            reasons.append("copies_context")
        elif len(counts[tail.lower()]) >= settings.generic_min_behaviors:
            reasons.append("generic")
        else:
            reasons.append(None)
    return reasons


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--naive-rows", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = FilterSettings()
    frame = candidates(args.rows)
    slice_ = frame.head(args.naive_rows)
    fast_s = naive_s = 0.0
    loads = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        tagged = rule_reasons(frame, settings)
        fast_s += time.perf_counter() - started
        started = time.perf_counter()
        naive(slice_, settings)
        naive_s += time.perf_counter() - started
        loads.append(os.getloadavg()[0])
    result = {
        "benchmark": "filters",
        "when": datetime.now(UTC).isoformat(),
        "rows": len(frame),
        "distinct_tails": frame["tail"].n_unique(),
        "distinct_tail_title_pairs": frame.select("tail", "title").n_unique(),
        "rounds": args.rounds,
        "cpu_cores": os.cpu_count(),
        "load_average_1m": loads,
        "vectorised_seconds": fast_s / args.rounds,
        "vectorised_rows_per_s": len(frame) * args.rounds / fast_s,
        "naive_rows": len(slice_),
        "naive_seconds": naive_s / args.rounds,
        "naive_rows_per_s": len(slice_) * args.rounds / naive_s,
        "rejected": tagged["reason"].value_counts(sort=True).to_dicts(),
    }
    result["speedup"] = result["vectorised_rows_per_s"] / result["naive_rows_per_s"]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "filters.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(
        f"{args.rounds} interleaved rounds, "
        f"load average {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores"
    )
    print(f"{'way':<12}{'rows':>12}{'seconds':>10}{'rows/s':>14}")
    print(
        f"{'vectorised':<12}{len(frame):>12,}{result['vectorised_seconds']:>10.2f}{result['vectorised_rows_per_s']:>14,.0f}"
    )
    print(
        f"{'naive':<12}{len(slice_):>12,}{result['naive_seconds']:>10.2f}{result['naive_rows_per_s']:>14,.0f}"
    )
    print(f"speed-up x{result['speedup']:.1f}")


if __name__ == "__main__":
    main()
