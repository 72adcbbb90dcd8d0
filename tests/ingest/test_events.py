"""Events → search-buy and co-buy per session; daily increments merge, re-ingesting changes nothing."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl

from cosmo_kg.ingest.pipeline import IngestSettings, run_events, run_products
from tests.ingest.conftest import config, event_log, store_state

DAY1 = [
    ("s1", 0, "search", None, "Camping Tent", None),
    ("s1", 1, "click", "P1", None, None),  # click under the session's latest search
    ("s1", 5, "purchase", "P1", None, None),  # within the window → search-buy
    ("s1", 6, "purchase", "P2", None, None),  # same session → co-buy P1-P2
    ("s2", 0, "click", "P3", "head lamp", None),  # click carries its own query
    ("s2", 90, "purchase", "P3", None, None),  # too late for the 30-minute window
    ("s3", 0, "search", None, "tent", None),
    ("s3", 1, "click", "P1", None, None),
    ("s3", 2, "purchase", "P1", None, "o1"),  # one order spans the two purchases
    ("s3", 3, "purchase", "P3", None, "o1"),
    ("s3", 3, "purchase", "P3", None, "o1"),  # exact repeat → duplicate_row
    ("s4", 0, "wishlist", "P1", None, None),  # unknown action
    (None, 0, "click", "P1", None, None),  # no session
]


def test_events_derive_search_buy_and_co_buy(tmp_path: Path) -> None:
    report = run_events(config(event_log(tmp_path / "day1.parquet", DAY1), tmp_path / "ws"))
    _, search_buy, co_buy = store_state(tmp_path / "ws")
    assert search_buy.rows() == [("camping tent", "P1", 1), ("tent", "P1", 1)]
    assert co_buy.rows() == [("P1", "P2", 1), ("P1", "P3", 1)]
    assert report.rejected == {"duplicate_row": 1, "missing_session_id": 1, "unknown_action": 1}
    assert report.rows_in == len(DAY1) == report.rows_kept + 3


def test_oversized_baskets_are_skipped_and_counted(tmp_path: Path) -> None:
    rows = [("s1", i, "purchase", f"P{i}", None, None) for i in range(5)]
    report = run_events(
        config(
            event_log(tmp_path / "e.parquet", rows), tmp_path / "ws", settings=IngestSettings(max_basket=4)
        )
    )
    assert report.derive is not None and report.derive["baskets_oversized"] == 1
    assert store_state(tmp_path / "ws")[2].is_empty()


def test_a_new_day_merges_and_the_same_day_twice_changes_nothing(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    day1 = event_log(tmp_path / "day1.parquet", DAY1)
    day2 = event_log(
        tmp_path / "day2.parquet",
        [
            ("t1", 0, "search", None, "tent", None),
            ("t1", 1, "click", "P1", None, None),
            ("t1", 2, "purchase", "P1", None, None),
            ("t1", 2, "purchase", "P2", None, None),
        ],
    )
    run_events(config(day1, workspace))
    after_day1 = store_state(workspace)
    again = run_events(config(day1, workspace))
    assert again.replaced_increment
    assert all(a.equals(b) for a, b in zip(store_state(workspace), after_day1, strict=True))
    run_events(config(day2, workspace, day="2024-05-02"))
    run_events(config(day2, workspace, day="2024-05-02"))
    _, search_buy, co_buy = store_state(workspace)
    assert search_buy.rows() == [("camping tent", "P1", 1), ("tent", "P1", 2)]
    assert co_buy.rows() == [("P1", "P2", 2), ("P1", "P3", 1)]


def test_buckets_change_memory_not_results(tmp_path: Path) -> None:
    rows = [
        (f"s{i % 40}", i, ("search", "click", "purchase")[i % 3], f"P{i % 7}", f"q{i % 5}", None)
        for i in range(600)
    ]
    events = event_log(tmp_path / "e.parquet", rows)
    one = run_events(config(events, tmp_path / "one"))
    many = run_events(config(events, tmp_path / "many", settings=IngestSettings(bucket_rows=50)))
    assert one.derive is not None and many.derive is not None
    assert (one.derive["buckets"], many.derive["buckets"]) == (1, 12)
    assert all(
        a.equals(b)
        for a, b in zip(store_state(tmp_path / "one"), store_state(tmp_path / "many"), strict=True)
    )


def test_events_in_csv_with_text_times_and_unknown_products(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("product_id,title\nP1,Tent\nP2,Bag\n")
    run_products(config(catalog, workspace))
    log = tmp_path / "events.csv.gz"
    with gzip.open(log, "wt") as handle:
        handle.write(
            "session_id,timestamp,action,product_id,query\n"
            "s1,2024-05-01T10:00:00Z,search,,tent\n"
            "s1,1714557660,click,P1,\n"
            "s1,2024-05-01 10:02:00,purchase,P1,\n"
            "s1,2024-05-01 10:03:00,purchase,P9,\n"
            "s1,yesterday,purchase,P2,\n"
        )
    report = run_events(config(log, workspace))
    assert report.rejected == {"bad_timestamp": 1, "unknown_product": 1}
    assert store_state(workspace)[1].rows() == [("tent", "P1", 1)]


def test_a_broken_csv_log_is_read_line_by_line_and_its_bad_lines_rejected(tmp_path: Path) -> None:
    # Broken lines after the first hundred, and chunks smaller than the log.
    lines = [
        f"s{i % 7},2024-05-01T10:{i % 60:02d}:00Z,{('search', 'click', 'purchase')[i % 3]},P{i % 5},q"
        for i in range(300)
    ]
    lines.insert(150, '"open quote,2024-05-01T10:00:00Z,click,P1,')
    lines.insert(200, "s1,2024-05-01T10:00:00Z,click,P1,q,extra")
    log = tmp_path / "events.csv"
    log.write_text("\n".join(["session_id,timestamp,action,product_id,query", *lines]) + "\n")
    report = run_events(config(log, tmp_path / "ws", settings=IngestSettings(bucket_rows=50)))
    assert report.tolerant_parse
    assert report.rejected == {"bad_quoting": 1, "wrong_field_count": 1}
    assert report.rows_in == 302 == report.rows_kept + 2
    rejects = pl.read_parquet(report.rejects_files[0]).sort("row_nr")
    assert rejects.select("row_nr", "reason").rows() == [(151, "bad_quoting"), (201, "wrong_field_count")]


def test_a_log_out_of_time_order_derives_the_same_pairs(tmp_path: Path) -> None:
    in_order = event_log(tmp_path / "in_order.parquet", DAY1)
    shuffled = tmp_path / "shuffled.parquet"
    pl.read_parquet(in_order).reverse().write_parquet(shuffled)
    reports = [run_events(config(log, tmp_path / log.stem)) for log in (in_order, shuffled)]
    assert reports[0].rejected == reports[1].rejected
    states = [store_state(tmp_path / name) for name in ("in_order", "shuffled")]
    assert all(a.equals(b) for a, b in zip(*states, strict=True))
