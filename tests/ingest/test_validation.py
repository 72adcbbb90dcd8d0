"""Bad rows go to the rejects file with a reason; nothing is lost, whatever the bytes."""

from __future__ import annotations

import string
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cosmo_kg.errors import InputError
from cosmo_kg.ingest.pipeline import run_co_buy, run_products, run_search_buy
from tests.ingest.conftest import config, store_state

CATALOG = (
    "product_id,title,product_type,domain,popularity\n"
    "P1,Camping Tent,tent,sports & outdoors,3\n"
    "P2,Sleeping Bag,sleeping bag,Sports & Outdoors,\n"
    "P3,Head Lamp,lamp,Gadgets,1.5\n"
)


def _catalog(workspace: Path, tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_text(CATALOG)
    run_products(config(path, workspace))


def test_bad_product_rows_are_rejected_with_reasons(tmp_path: Path) -> None:
    path = tmp_path / "products.csv"
    path.write_bytes(
        b"product_id,title,popularity\n"
        b"P1,Camping Tent,3\n"
        b",No id,\n"
        b"P2,,\n"
        b"P3,!!!,\n"
        b"P4,Lamp \xff\xfe broken,\n"
        b"P5,Lamp,lots\n"
        b"P1,Camping Tent,3\n"
        b"P1,Camping Tent v2,3\n"
        b"P6," + b"x" * 1200 + b",\n"
        b"P7,\xef\xbc\xb4ent\xe3\x80\x80 Deluxe ,1\n"
    )
    report = run_products(config(path, tmp_path / "ws"))
    assert report.rejected == {
        "absurd_title": 2,
        "bad_encoding": 1,
        "bad_popularity": 1,
        "duplicate_product_id": 1,
        "duplicate_row": 1,
        "missing_product_id": 1,
        "missing_title": 1,
    }
    rejects = pl.read_parquet(report.rejects_files[0])
    assert rejects.height == 8 and rejects["row_nr"].sort().to_list() == [2, 3, 4, 5, 6, 7, 8, 9]
    catalog, _, _ = store_state(tmp_path / "ws")
    assert catalog.select("product_id", "title").rows() == [("P1", "Camping Tent"), ("P7", "Tent Deluxe")]


def test_bad_behaviour_rows_are_rejected_with_reasons(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    _catalog(workspace, tmp_path)
    search_buy = tmp_path / "sb.csv"
    search_buy.write_text(
        "query,product_id,count\n"
        "Camping  TENT,P1,2\n"
        "camping tent,P1,2\n"
        "camping tent,P1,5\n"
        ",P1,1\n"
        "tent,P9,1\n"
        "tent,P1,zero\n"
        "tent,P1,0\n"
        "???,P1,1\n"
        f"{'tent ' * 60},P1,1\n"
    )
    report = run_search_buy(config(search_buy, workspace))
    assert report.rejected == {
        "absurd_query": 2,
        "bad_count": 2,
        "duplicate_pair": 1,
        "duplicate_row": 1,
        "missing_query": 1,
        "unknown_product": 1,
    }
    co_buy = tmp_path / "cb.csv"
    co_buy.write_text("product_id_a,product_id_b,count\nP2,P1,3\nP1,P2,3\nP1,P1,1\nP1,,1\nP1,P9,1\n")
    report = run_co_buy(config(co_buy, workspace))
    assert report.rejected == {
        "duplicate_row": 1,
        "missing_product_id": 1,
        "self_pair": 1,
        "unknown_product": 1,
    }
    _, sb, cb = store_state(workspace)
    assert sb.rows() == [("camping tent", "P1", 2)]
    assert cb.rows() == [("P1", "P2", 3)]


def test_rows_without_count_are_events_and_add_up(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    _catalog(workspace, tmp_path)
    path = tmp_path / "purchases.jsonl"
    path.write_text(
        '{"query": "Tent", "product_id": "P1"}\n{"query": "tent", "product_id": "P1"}\n'
        'not json\n{"query": "lamp", "product_id": "P3", "extra": [1, 2]}\n'
    )
    report = run_search_buy(config(path, workspace))
    assert report.rejected == {"malformed_json": 1}
    _, search_buy, _ = store_state(workspace)
    assert search_buy.rows() == [("lamp", "P3", 1), ("tent", "P1", 2)]


def test_broken_quoting_falls_back_to_line_by_line(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    _catalog(workspace, tmp_path)
    path = tmp_path / "sb.csv"
    path.write_text('query,product_id,count\ntent,P1,1\n"open quote,P1,1\nlamp,P3,2,extra\nbag,P2,1\n')
    report = run_search_buy(config(path, workspace))
    assert report.tolerant_parse
    assert report.rejected == {"bad_quoting": 1, "wrong_field_count": 1}
    rejects = pl.read_parquet(report.rejects_files[0])
    assert rejects.select("row_nr", "raw_line").rows() == [(2, '"open quote,P1,1'), (3, "lamp,P3,2,extra")]
    assert report.rows_kept == 2


_CELL = st.one_of(
    st.text(alphabet=string.printable + "éß漢字\u3000\ufffd\x00\"',;\t", max_size=30),
    st.binary(max_size=20).map(lambda b: b.decode("latin-1")),
    st.just("x" * 5000),
    st.integers(-5, 10**12).map(str),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.lists(_CELL, min_size=1, max_size=4), max_size=12),
    encoding=st.sampled_from(["utf-8", "latin-1", "utf-16-le"]),
)
def test_fuzzed_files_never_crash_and_every_row_is_accounted_for(
    tmp_path_factory: pytest.TempPathFactory, rows: list[list[str]], encoding: str
) -> None:
    tmp = tmp_path_factory.mktemp("fuzz")
    body = "query,product_id,count\n" + "".join(",".join(row) + "\n" for row in rows)
    path = tmp / "sb.csv"
    path.write_bytes(body.encode(encoding, errors="replace"))
    try:
        report = run_search_buy(config(path, tmp / "ws"))
    except InputError:
        return  # a file-level problem (binary, no header) is refused as a whole, with a message
    rejected = sum(report.rejected.values())
    assert report.rows_in == report.rows_kept + rejected
    if rejected:
        assert pl.read_parquet(report.rejects_files[0]).height == rejected
    _, search_buy, _ = store_state(tmp / "ws")
    assert search_buy.height <= report.rows_kept
