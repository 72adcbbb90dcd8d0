"""Several event files are one log: sessions, baskets and repeats run across the files, and the
result is that of the files concatenated into one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

from cosmo_kg.cli import cli
from cosmo_kg.errors import ConfigError
from cosmo_kg.ingest.pipeline import IngestReport, IngestSettings, run_events, run_products
from cosmo_kg.ingest.store import BehaviourStore
from tests.ingest.conftest import config, event_log, store_state

PART1 = [
    ("s1", 0, "search", None, "tent", None),
    ("s1", 1, "click", "P1", None, None),  # purchased in part 2 → search-buy
    ("s2", 0, "purchase", "P2", None, None),  # a basket without order_id, more in part 2
    ("s3", 0, "purchase", "P3", None, "o1"),  # order o1, more in part 3
    ("s5", 0, "click", "P4", "lamp", None),  # purchased in part 3 → search-buy
    ("s4", 0, "wishlist", "P1", None, None),  # unknown_action
]
PART2 = [
    ("s1", 5, "purchase", "P1", None, None),
    ("s2", 3, "purchase", "P5", None, None),  # → co-buy P2-P5
    ("s5", 0, "click", "P4", "lamp", None),  # the same row as in part 1 → duplicate_row
    (None, 0, "click", "P1", None, None),  # missing_session_id
]
PART3 = [
    ("s3", 2, "purchase", "P6", None, "o1"),  # → co-buy P3-P6
    ("s5", 10, "purchase", "P4", None, None),
    ("s7", 0, "search", None, None, None),  # missing_query
]
SEARCH_BUY = [("lamp", "P4", 1), ("tent", "P1", 1)]
CO_BUY = [("P2", "P5", 1), ("P3", "P6", 1)]
REJECTED = {"duplicate_row": 1, "missing_query": 1, "missing_session_id": 1, "unknown_action": 1}


def _parts(folder: Path, suffixes: tuple[str, str, str] = (".parquet",) * 3) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [
        event_log(folder / f"part-{number}{suffix}", rows)
        for number, (suffix, rows) in enumerate(zip(suffixes, (PART1, PART2, PART3), strict=True))
    ]


def _ingest(files: list[Path], workspace: Path, **kwargs: Any) -> IngestReport:
    return run_events(config(files[0], workspace, more_files=tuple(files[1:]), **kwargs))


def _same_counts(a: IngestReport, b: IngestReport) -> bool:
    def seen(report: IngestReport) -> tuple:
        derive = {k: v for k, v in (report.derive or {}).items() if k != "buckets"}
        return report.rows_in, report.rows_kept, report.rejected, report.written, derive

    return seen(a) == seen(b)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
@pytest.mark.parametrize("bucket_rows", [1_000_000, 2])
def test_files_of_one_log_derive_what_the_concatenated_log_derives(
    tmp_path: Path, suffix: str, bucket_rows: int
) -> None:
    settings = IngestSettings(bucket_rows=bucket_rows)
    whole = event_log(tmp_path / f"whole{suffix}", PART1 + PART2 + PART3)
    one = run_events(config(whole, tmp_path / "one", settings=settings))
    split = _ingest(_parts(tmp_path / "parts", (suffix,) * 3), tmp_path / "split", settings=settings)
    _, search_buy, co_buy = store_state(tmp_path / "split")
    assert (search_buy.rows(), co_buy.rows(), split.rejected) == (SEARCH_BUY, CO_BUY, REJECTED)
    assert _same_counts(one, split)
    assert all(
        a.equals(b)
        for a, b in zip(store_state(tmp_path / "one"), store_state(tmp_path / "split"), strict=True)
    )


def test_files_ingested_one_by_one_are_derived_apart(tmp_path: Path) -> None:
    for number, part in enumerate(_parts(tmp_path / "parts")):
        run_events(config(part, tmp_path / "ws", day=f"part-{number}"))
    _, search_buy, co_buy = store_state(tmp_path / "ws")
    assert (search_buy.rows(), co_buy.rows()) == ([], [])


@pytest.mark.parametrize("out_of_time_order", [False, True])
def test_equal_times_keep_the_order_of_the_files(tmp_path: Path, out_of_time_order: bool) -> None:
    # The click and the second search share a minute: the click comes first in the log (part 1),
    # so it is under the first search, though the search is an earlier row of its own file.
    other = [("o", 9, "search", None, "x", None), ("o", 0, "search", None, "y", None)]
    first = event_log(
        tmp_path / "a.parquet",
        [
            *(other if out_of_time_order else []),
            ("s", 0, "search", None, "first", None),
            ("s", 1, "click", "P1", None, None),
        ],
    )
    second = event_log(
        tmp_path / "b.parquet",
        [("s", 1, "search", None, "second", None), ("s", 2, "purchase", "P1", None, None)],
    )
    _ingest([first, second], tmp_path / "ws")
    assert store_state(tmp_path / "ws")[1].rows() == [("first", "P1", 1)]


def test_rejects_name_their_file_and_row_and_no_row_is_lost(tmp_path: Path) -> None:
    parts = _parts(tmp_path / "parts")
    report = _ingest(parts, tmp_path / "ws")
    rejects = pl.read_parquet(report.rejects_files[0])
    assert rejects.columns[:2] == ["file", "row_nr"]
    assert sorted(rejects.select("file", "row_nr", "reason").rows()) == [
        (str(parts[0]), 6, "unknown_action"),
        (str(parts[1]), 3, "duplicate_row"),
        (str(parts[1]), 4, "missing_session_id"),
        (str(parts[2]), 3, "missing_query"),
    ]
    assert report.rows_in == len(PART1 + PART2 + PART3) == report.rows_kept + rejects.height
    assert report.source["files"] == [str(part) for part in parts]
    one = run_events(config(parts[0], tmp_path / "one"))
    assert pl.read_parquet(one.rejects_files[0]).columns[0] == "row_nr"


def test_chunks_and_progress_run_over_all_the_files(tmp_path: Path) -> None:
    parts, steps = _parts(tmp_path / "parts"), []
    run_events(
        config(
            parts[0], tmp_path / "ws", more_files=tuple(parts[1:]), settings=IngestSettings(bucket_rows=2)
        ),
        progress=lambda phase, done, total: steps.append((phase, done, total)),
    )
    validating = [(done, total) for phase, done, total in steps if phase == "validating events"]
    assert validating == [(done, 7) for done in range(1, 8)]  # 13 rows in chunks of 2


def test_files_of_different_formats_and_time_types_make_one_log(tmp_path: Path) -> None:
    parts = _parts(tmp_path / "parts", (".parquet", ".csv", ".parquet"))
    in_paris = pl.col("timestamp").dt.replace_time_zone("UTC").dt.convert_time_zone("Europe/Paris")
    pl.read_parquet(parts[2]).with_columns(in_paris).write_parquet(parts[2])  # the same instants
    report = _ingest(parts, tmp_path / "ws", settings=IngestSettings(bucket_rows=5))
    _, search_buy, co_buy = store_state(tmp_path / "ws")
    assert (search_buy.rows(), co_buy.rows(), report.rejected) == (SEARCH_BUY, CO_BUY, REJECTED)


def test_a_broken_csv_among_the_files_is_read_line_by_line(tmp_path: Path) -> None:
    header = "session_id,timestamp,action,product_id,query"
    lines = [
        f"s{i % 7},2024-05-01T10:{i % 60:02d}:00Z,{('search', 'click', 'purchase')[i % 3]},P{i % 5},q"
        for i in range(300)
    ]
    broken = [*lines[100:200]]
    broken.insert(50, '"open quote,2024-05-01T10:00:00Z,click,P1,')
    texts = [lines[:100], broken, lines[200:]]
    parts = [tmp_path / f"part-{number}.csv" for number in range(3)]
    for part, text in zip(parts, texts, strict=True):
        part.write_text("\n".join([header, *text]) + "\n")
    whole = tmp_path / "whole.csv"
    whole.write_text("\n".join([header, *lines[:100], *broken, *lines[200:]]) + "\n")
    settings = IngestSettings(bucket_rows=40)
    one = run_events(config(whole, tmp_path / "one", settings=settings))
    split = _ingest(parts, tmp_path / "split", settings=settings)
    assert split.tolerant_parse and split.rejected == {"bad_quoting": 1}
    assert _same_counts(one, split)
    assert all(
        a.equals(b)
        for a, b in zip(store_state(tmp_path / "one"), store_state(tmp_path / "split"), strict=True)
    )
    rejects = pl.read_parquet(split.rejects_files[0])
    assert rejects.select("file", "row_nr").rows() == [(str(parts[1]), 51)]


def test_the_same_files_again_change_nothing_even_after_a_killed_run(tmp_path: Path) -> None:
    parts, workspace = _parts(tmp_path / "parts"), tmp_path / "ws"
    first = _ingest(parts, workspace)
    after = store_state(workspace)
    # What a run killed while spreading would leave: a stray bucket file of other events.
    leftover = BehaviourStore(workspace).staging_dir(first.increment_id) / "buckets" / "000000"
    leftover.mkdir(parents=True)
    pl.read_parquet(parts[0]).with_columns(pl.lit(1, pl.Int64()).alias("row_nr")).write_ipc(
        leftover / "000099.ipc"
    )
    again = _ingest(parts, workspace)
    assert again.replaced_increment and again.increment_id == first.increment_id
    assert all(a.equals(b) for a, b in zip(store_state(workspace), after, strict=True))
    assert len(BehaviourStore(workspace).increments()) == 1
    assert _ingest(parts[::-1], tmp_path / "other").increment_id != first.increment_id


def test_only_events_take_several_files(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("product_id,title\nP1,Tent\n")
    with pytest.raises(ConfigError, match="ingest products reads one file"):
        run_products(config(catalog, tmp_path / "ws", more_files=(catalog,)))


def _cli(args: list[str], workspace: Path) -> Any:
    return CliRunner().invoke(
        cli, ["ingest", "events", *args, "--no-graph"], env={"COSMO_WORKSPACE": str(workspace)}
    )


def test_the_command_takes_several_files_as_one_increment(tmp_path: Path) -> None:
    parts = _parts(tmp_path / "parts")
    result = _cli([str(part) for part in parts], tmp_path / "ws")
    assert result.exit_code == 0, result.output
    assert "rows in 13, kept 9, rejected 4" in result.output
    _, search_buy, co_buy = store_state(tmp_path / "ws")
    assert (search_buy.rows(), co_buy.rows()) == (SEARCH_BUY, CO_BUY)
    assert len(BehaviourStore(tmp_path / "ws").increments()) == 1


def test_a_file_that_is_not_an_event_log_stops_the_whole_set(tmp_path: Path) -> None:
    parts = _parts(tmp_path / "parts")
    bad = tmp_path / "clicks.csv"
    bad.write_text("session_id,timestamp,product_id\ns1,2024-05-01T10:00:00Z,P1\n")
    result = _cli([str(parts[0]), str(bad), str(parts[1])], tmp_path / "ws")
    assert result.exit_code == 2, result.output
    assert [line for line in result.output.splitlines() if line.startswith("Error:")] == [
        f"Error: {bad}: not a events file, missing column(s) action; it has session_id, timestamp, product_id"
    ]
    assert BehaviourStore(tmp_path / "ws").increments() == []


def test_a_damaged_parquet_file_is_named(tmp_path: Path) -> None:
    parts = _parts(tmp_path / "parts")
    damaged = tmp_path / "damaged.parquet"
    pl.DataFrame(
        {
            "session_id": [f"s{i}" for i in range(1000)],
            "timestamp": ["2024-05-01T10:00:00Z"] * 1000,
            "action": ["click"] * 1000,
        }
    ).write_parquet(damaged, compression="uncompressed")
    data = bytearray(damaged.read_bytes())
    data[20 : len(data) // 2] = b"\xff" * (len(data) // 2 - 20)  # column data, not the footer
    damaged.write_bytes(bytes(data))
    result = _cli([str(parts[0]), str(damaged)], tmp_path / "ws")
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert errors[0].startswith(f"Error: {damaged}: cannot read the input ("), result.output
    assert BehaviourStore(tmp_path / "ws").increments() == []
