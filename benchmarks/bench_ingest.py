"""Benchmark: ingest + derive + sample a synthetic event log, beside the naive way.

For each size (default 1M and 10M events, Zipf-skewed products and queries, see
``synthetic_events.py``), two fresh processes run on the same Parquet log, so each peak RSS
is its own:
- ``cosmo-kg``: ``run_products`` (catalog) + ``run_events`` (the log read in bounded chunks,
  validated into session buckets on disk, derived bucket by bucket; the next chunk or bucket is
  read in a thread meanwhile) + ``sample``;
- ``naive``: the whole log read into memory, validated, de-duplicated, sorted and derived in
  one piece (same derivation functions).
Each run reports wall seconds and CPU seconds (user + system, all threads): the machine is
shared, so wall time depends on the load average (sampled during each run, printed and stored;
it counts the run's own threads too); events per CPU second do much less. Writes
benchmarks/results/ingest.json and prints a short table. The target (issue 3) is ≥ 1,000,000
events/s and ≤ 4 GiB peak RSS on the 2-core machine, flat from 1M to 10M.

    python benchmarks/bench_ingest.py                     # 1M and 10M events
    python benchmarks/bench_ingest.py --sizes 200000      # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

RESULTS = Path(__file__).resolve().parent / "results"
PRODUCTS = 200_000


def _peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class _Clock:
    """Wall and CPU seconds (user + system of every thread) since the last lap."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), self._cpu()

    @staticmethod
    def _cpu() -> float:
        times = os.times()
        return times.user + times.system

    def lap(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), self._cpu()
        spent = (round(wall - self.wall, 2), round(cpu - self.cpu, 2))
        self.wall, self.cpu = wall, cpu
        return spent


def run_cosmo(log: Path, catalog: Path, workspace: Path) -> dict[str, object]:
    from cosmo_kg.ingest.formats import SourceSpec
    from cosmo_kg.ingest.pipeline import IngestConfig, run_events, run_products
    from cosmo_kg.ingest.sampler import SampleConfig, sample

    shutil.rmtree(workspace, ignore_errors=True)
    run_products(IngestConfig(SourceSpec(catalog), workspace))
    clock = _Clock()
    report = run_events(IngestConfig(SourceSpec(log), workspace))
    ingest_s, ingest_cpu_s = clock.lap()
    sampled = sample(SampleConfig(workspace, workspace / "pairs.parquet"))
    sample_s, sample_cpu_s = clock.lap()
    return {
        "events": report.rows_in,
        "rejected": sum(report.rejected.values()),
        "search_buy_pairs": report.written["search_buy"],
        "co_buy_pairs": report.written["co_buy"],
        "buckets": (report.derive or {}).get("buckets"),
        "sampled": sum(sampled.pairs_out.values()),
        "ingest_s": ingest_s,
        "ingest_cpu_s": ingest_cpu_s,
        "sample_s": sample_s,
        "sample_cpu_s": sample_cpu_s,
        "total_s": round(ingest_s + sample_s, 2),
        "timings": report.timings,
    }


def run_naive(log: Path, catalog: Path) -> dict[str, object]:
    from cosmo_kg.ingest.events import (
        EVENT_KEY,
        DeriveStats,
        co_buy_counts,
        search_buy_counts,
        sessions_in_order,
    )
    from cosmo_kg.ingest.rules import TextLimits, event_columns, event_rules, with_reasons

    clock = _Clock()
    known = pl.read_parquet(catalog)["product_id"]
    frame = (
        pl.read_parquet(log)
        .with_row_index("row_nr")
        .with_columns(pl.lit(None, dtype=pl.String()).alias("parse_error"))
    )
    frame = with_reasons(
        frame.lazy().with_columns(event_columns(frame.schema["timestamp"])), event_rules(TextLimits(), known)
    ).collect()
    good = sessions_in_order(
        frame.filter(pl.col("reason").is_null())
        .select("row_nr", *EVENT_KEY)
        .unique(EVENT_KEY, maintain_order=True)
    )
    stats = DeriveStats()
    search_buy = search_buy_counts(good, 30 * 60_000, stats)
    co_buy = co_buy_counts(good, 50, stats)
    total_s, total_cpu_s = clock.lap()
    return {
        "events": frame.height,
        "search_buy_pairs": search_buy.height,
        "co_buy_pairs": co_buy.height,
        "total_s": total_s,
        "total_cpu_s": total_cpu_s,
    }


class _LoadSampler:
    """The 1-minute load average once a second while a run lasts (it counts this run's threads too)."""

    def __init__(self) -> None:
        self.samples = [os.getloadavg()[0]]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.stop.wait(1.0):
            self.samples.append(os.getloadavg()[0])

    def summary(self) -> dict[str, float]:
        self.stop.set()
        self.thread.join()
        return {
            "start": round(self.samples[0], 2),
            "mean": round(sum(self.samples) / len(self.samples), 2),
            "max": round(max(self.samples), 2),
        }


def child(args: argparse.Namespace) -> None:
    log, catalog = Path(args.log), Path(args.catalog)
    load = _LoadSampler()
    if args.child == "naive":
        result = run_naive(log, catalog)
    else:
        result = run_cosmo(log, catalog, Path(args.workspace))
    result["peak_rss_mib"] = _peak_rss_mib()
    result["load_average_1min"] = load.summary()
    print(json.dumps(result))


def _measure(way: str, log: Path, catalog: Path, workspace: Path) -> dict[str, object]:
    command = [
        sys.executable,
        __file__,
        "--child",
        way,
        "--log",
        str(log),
        "--catalog",
        str(catalog),
        "--workspace",
        str(workspace),
    ]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _data(data_dir: Path, size: int) -> tuple[Path, Path]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.synthetic_events import catalog, write_events

    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / f"events-{size}.parquet"
    products = data_dir / f"catalog-{PRODUCTS}.parquet"
    if not products.exists():
        catalog(PRODUCTS).write_parquet(products)
    if not log.exists():
        write_events(log, size, PRODUCTS)
    return log, products


def _row(size: int, cosmo: dict[str, Any], naive: dict[str, Any]) -> dict[str, Any]:
    return {
        "events": size,
        "cosmo_kg": cosmo,
        "naive": naive,
        "cosmo_events_per_s": round(size / max(cosmo["ingest_s"], 1e-9)),
        "cosmo_events_per_cpu_s": round(size / max(cosmo["ingest_cpu_s"], 1e-9)),
        "naive_events_per_s": round(size / max(naive["total_s"], 1e-9)),
        "naive_events_per_cpu_s": round(size / max(naive["total_cpu_s"], 1e-9)),
    }


def _print_table(rows: list[dict[str, Any]]) -> None:
    print("ingest + derive, same work both ways (cosmo-kg also samples: 'sample s')")
    print(
        f"{'events':>11} {'way':>9} {'wall s':>7} {'events/s':>10} {'CPU s':>7} {'events/CPU s':>13} "
        f"{'peak RSS MiB':>13} {'sample s':>9} {'load mean/max':>14}"
    )
    for row in rows:
        for way, key, measured in (("cosmo-kg", "cosmo", "ingest"), ("naive", "naive", "total")):
            run = row["cosmo_kg" if key == "cosmo" else "naive"]
            wall, cpu = run[f"{measured}_s"], run[f"{measured}_cpu_s"]
            rate, cpu_rate = row[f"{key}_events_per_s"], row[f"{key}_events_per_cpu_s"]
            load = f"{run['load_average_1min']['mean']}/{run['load_average_1min']['max']}"
            print(
                f"{row['events']:>11,} {way:>9} {wall:>7} {rate:>10,} {cpu:>7} {cpu_rate:>13,} "
                f"{run['peak_rss_mib']:>13,} {run.get('sample_s', '-'):>9} {load:>14}"
            )


def main(args: argparse.Namespace) -> None:
    data_dir = Path(args.data_dir)
    load_before = os.getloadavg()
    rows = []
    for size in args.sizes:
        log, catalog = _data(data_dir, size)
        cosmo = _measure("cosmo", log, catalog, data_dir / f"workspace-{size}")
        naive = _measure("naive", log, catalog, data_dir / "unused")
        rows.append(_row(size, cosmo, naive))
    result = {
        "benchmark": "ingest",
        "when": datetime.now(UTC).isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "polars": pl.__version__,
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
        "targets": {"events_per_s": 1_000_000, "peak_rss_gib": 4},
        "runs": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(result, indent=2))
    _print_table(rows)
    print(
        f"load average before {load_before}, after {os.getloadavg()} (on {os.cpu_count()} CPUs); "
        f"written {RESULTS / 'ingest.json'}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--data-dir", default="/tmp/cosmo-kg-bench-ingest")
    parser.add_argument("--child", choices=["cosmo", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    parser.add_argument("--catalog", help=argparse.SUPPRESS)
    parser.add_argument("--workspace", help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    if parsed.child:
        child(parsed)
    else:
        main(parsed)
