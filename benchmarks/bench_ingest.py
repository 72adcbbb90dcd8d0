"""Benchmark: ingest + derive + sample a synthetic event log, beside the naive way.

For each size (default 1M and 10M events, Zipf-skewed products and queries, see
``synthetic_events.py``), two fresh processes run on the same Parquet log, so each peak RSS
is its own:
- ``cosmo-kg``: ``run_products`` (catalog) + ``run_events`` (streaming validation into session
  buckets, bucket-by-bucket derivation) + ``sample``;
- ``naive``: the whole log read into memory, validated, sorted and derived in one piece.
Writes benchmarks/results/ingest.json and prints a short table. The target (issue 3) is
≥ 1,000,000 events/s and ≤ 4 GiB peak RSS on the 2-core machine, flat from 1M to 10M.

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
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

RESULTS = Path(__file__).resolve().parent / "results"
PRODUCTS = 200_000


def _peak_rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_cosmo(log: Path, catalog: Path, workspace: Path) -> dict[str, object]:
    from cosmo_kg.ingest.formats import SourceSpec
    from cosmo_kg.ingest.pipeline import IngestConfig, run_events, run_products
    from cosmo_kg.ingest.sampler import SampleConfig, sample

    shutil.rmtree(workspace, ignore_errors=True)
    run_products(IngestConfig(SourceSpec(catalog), workspace))
    started = time.perf_counter()
    report = run_events(IngestConfig(SourceSpec(log), workspace))
    ingested = time.perf_counter()
    sampled = sample(SampleConfig(workspace, workspace / "pairs.parquet"))
    finished = time.perf_counter()
    return {"events": report.rows_in, "rejected": sum(report.rejected.values()),
            "search_buy_pairs": report.written["search_buy"], "co_buy_pairs": report.written["co_buy"],
            "buckets": (report.derive or {}).get("buckets"), "sampled": sum(sampled.pairs_out.values()),
            "ingest_s": round(ingested - started, 2), "sample_s": round(finished - ingested, 2),
            "total_s": round(finished - started, 2), "timings": report.timings}


def run_naive(log: Path, catalog: Path) -> dict[str, object]:
    from cosmo_kg.ingest.events import DeriveStats, _co_buy, _search_buy
    from cosmo_kg.ingest.rules import TextLimits, event_columns, event_rules, with_reasons

    started = time.perf_counter()
    known = pl.read_parquet(catalog)["product_id"]
    frame = pl.read_parquet(log).with_row_index("row_nr").with_columns(
        pl.lit(None, dtype=pl.String()).alias("parse_error"))
    frame = with_reasons(frame.lazy().with_columns(event_columns(frame.schema["timestamp"])),
                         event_rules(TextLimits(), known)).collect()
    good = frame.filter(pl.col("reason").is_null()).unique(maintain_order=True) \
        .sort("session_id", "timestamp", maintain_order=True)
    stats = DeriveStats()
    search_buy = _search_buy(good, 30 * 60_000, stats)
    co_buy = _co_buy(good, 50, stats)
    return {"events": frame.height, "search_buy_pairs": search_buy.height, "co_buy_pairs": co_buy.height,
            "total_s": round(time.perf_counter() - started, 2)}


def child(args: argparse.Namespace) -> None:
    log, catalog = Path(args.log), Path(args.catalog)
    if args.child == "naive":
        result = run_naive(log, catalog)
    else:
        result = run_cosmo(log, catalog, Path(args.workspace))
    result["peak_rss_mib"] = _peak_rss_mib()
    print(json.dumps(result))


def _measure(way: str, log: Path, catalog: Path, workspace: Path) -> dict[str, object]:
    command = [sys.executable, __file__, "--child", way, "--log", str(log), "--catalog", str(catalog),
               "--workspace", str(workspace)]
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


def main(args: argparse.Namespace) -> None:
    data_dir = Path(args.data_dir)
    rows = []
    for size in args.sizes:
        log, catalog = _data(data_dir, size)
        cosmo = _measure("cosmo", log, catalog, data_dir / f"workspace-{size}")
        naive = _measure("naive", log, catalog, data_dir / "unused")
        rows.append({"events": size, "cosmo_kg": cosmo, "naive": naive,
                     "cosmo_events_per_s": round(size / max(float(cosmo["ingest_s"]), 1e-9)),  # type: ignore[arg-type]
                     "naive_events_per_s": round(size / max(float(naive["total_s"]), 1e-9))})  # type: ignore[arg-type]
    result = {"benchmark": "ingest", "when": datetime.now(UTC).isoformat(), "machine": {
        "cpus": os.cpu_count(), "python": platform.python_version(), "polars": pl.__version__,
        "load_average": os.getloadavg()}, "targets": {"events_per_s": 1_000_000, "peak_rss_gib": 4},
        "runs": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(result, indent=2))
    print("ingest + derive, same work both ways (cosmo-kg also samples: 'sample s')")
    print(f"{'events':>11} {'way':>9} {'seconds':>8} {'events/s':>11} {'peak RSS MiB':>13} {'sample s':>9}")
    for row in rows:
        for way, key, rate in (("cosmo-kg", "cosmo_kg", "cosmo_events_per_s"),
                               ("naive", "naive", "naive_events_per_s")):
            run = row[key]
            print(f"{row['events']:>11,} {way:>9} {run.get('ingest_s', run['total_s']):>8} {row[rate]:>11,} "
                  f"{run['peak_rss_mib']:>13,} {run.get('sample_s', '-'):>9}")
    print(f"load average during the run: {os.getloadavg()}; written {RESULTS / 'ingest.json'}")


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
