"""Readers and adapters on the shipped real data; files that are not what they claim stop clearly."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from cosmo_kg.cli import cli
from cosmo_kg.errors import InputError
from cosmo_kg.ingest.pipeline import run_co_buy, run_products, run_search_buy
from tests.ingest.conftest import FOLKSCOPE, INTENTIONQA, WANDS_PRODUCTS, WANDS_QUERIES, config, store_state


def _catalog_as(path: Path, fmt: str, compress: bool = False) -> Path:
    frame = pl.read_parquet(WANDS_PRODUCTS)
    if fmt == "csv":
        frame.write_csv(path)
    elif fmt == "tsv":
        frame.write_csv(path, separator="\t")
    elif fmt == "jsonl":
        frame.write_ndjson(path)
    else:
        frame.write_parquet(path)
    if compress:
        packed = path.with_name(path.name + ".gz")
        with path.open("rb") as source, gzip.open(packed, "wb") as sink:
            shutil.copyfileobj(source, sink)
        return packed
    return path


@pytest.mark.parametrize(
    ("fmt", "compress"),
    [("csv", False), ("tsv", False), ("jsonl", False), ("parquet", False), ("csv", True), ("jsonl", True)],
)
def test_every_reader_gives_the_same_catalog(tmp_path: Path, fmt: str, compress: bool) -> None:
    source = _catalog_as(tmp_path / f"products.{fmt}", fmt, compress)
    report = run_products(config(source, tmp_path / fmt))
    catalog, _, _ = store_state(tmp_path / fmt)
    expected = pl.read_parquet(WANDS_PRODUCTS).sort("product_id")
    assert report.rows_in == report.rows_kept == expected.height == 188
    assert catalog.select("product_id", "title", "product_type", "domain").equals(
        expected.select("product_id", "title", "product_type", "domain")
    )


def test_column_mapping_and_headerless_files(tmp_path: Path) -> None:
    shop = tmp_path / "shop.csv"
    shop.write_text("asin,search_term,qty\nhandmade-beds,king bed,4\nhandmade-desks,standing desk,2\n")
    run_products(config(WANDS_PRODUCTS, tmp_path / "ws"))
    report = run_search_buy(
        config(shop, tmp_path / "ws", mapping={"asin": "product_id", "search_term": "query", "qty": "count"})
    )
    assert report.rows_kept == 2
    headerless = tmp_path / "headerless.tsv"
    headerless.write_text("king bed\thandmade-beds\t1\n")
    run_search_buy(config(headerless, tmp_path / "ws", columns=("query", "product_id", "count")))
    _, search_buy, _ = store_state(tmp_path / "ws")
    assert search_buy.rows() == [("king bed", "handmade-beds", 5), ("standing desk", "handmade-desks", 2)]


def test_folkscope_adapter_reads_two_pairs_per_row_with_titles(workspace: Path) -> None:
    report = run_co_buy(config(FOLKSCOPE, workspace, adapter="folkscope"))
    catalog, _, co_buy = store_state(workspace)
    assert report.rows_in == 240  # 120 rows x 2 slots
    assert report.rows_kept + sum(report.rejected.values()) == 240
    assert co_buy.height == report.rows_kept
    assert (co_buy["product_id_a"] < co_buy["product_id_b"]).all()
    assert catalog["title"].null_count() == 0
    assert {"Clothing, Shoes & Jewelry", "Electronics"} <= set(catalog["domain"])


def test_intentionqa_adapter_counts_repeated_pairs_as_duplicates(workspace: Path) -> None:
    report = run_co_buy(config(INTENTIONQA, workspace, adapter="intentionqa"))
    _, _, co_buy = store_state(workspace)
    assert report.rows_in == 150
    assert report.rejected == {"duplicate_row": 150 - co_buy.height}


def test_wands_adapter_pairs_real_queries_with_catalog_products(workspace: Path) -> None:
    run_products(config(WANDS_PRODUCTS, workspace))
    report = run_search_buy(config(WANDS_QUERIES, workspace, adapter="wands"))
    _, search_buy, _ = store_state(workspace)
    assert report.rows_in == 480
    assert report.rejected == {"no_product_for_query_class": 6}  # queries without a class
    assert ("unique coffee tables", "handmade-coffee-cocktail-tables", 1) in search_buy.rows()


def test_wands_adapter_needs_a_catalog(workspace: Path) -> None:
    with pytest.raises(InputError, match="no catalog was ingested"):
        run_search_buy(config(WANDS_QUERIES, workspace, adapter="wands"))


def _error(args: list[str], workspace: Path) -> list[str]:
    result = CliRunner().invoke(cli, args, env={"COSMO_WORKSPACE": str(workspace)})
    assert result.exit_code == 2, result.output
    return [line for line in result.output.splitlines() if line.startswith(("Error:", "Hint:"))]


def test_wrong_delimiter_names_the_file_and_the_fix(tmp_path: Path) -> None:
    bad = tmp_path / "products.csv"
    bad.write_text("product_id;title\nP1;Tent\n")
    assert _error(["ingest", "products", str(bad), "--no-graph"], tmp_path) == [
        f"Error: {bad}: the header has one column, and it contains semicolons: the file is "
        "semicolon-separated, not comma-separated",
        "Hint: pass --delimiter semicolon",
    ]


def test_missing_header_is_explained(tmp_path: Path) -> None:
    bad = tmp_path / "pairs.csv"
    bad.write_text("P1,P2,3\nP2,P3,1\n")
    lines = _error(["ingest", "co-buy", str(bad), "--no-graph"], tmp_path)
    assert lines[0] == (
        f"Error: {bad}: the first line 'P1,P2,3' does not name the columns, so the file "
        "seems to have no header"
    )
    assert lines[1].startswith("Hint: add a header line, or name the columns in order with --columns")


def test_binary_and_parquet_given_as_text_are_refused(tmp_path: Path) -> None:
    binary = tmp_path / "products.csv"
    binary.write_bytes(bytes(range(256)) * 10)
    assert _error(["ingest", "products", str(binary), "--no-graph"], tmp_path)[0] == (
        f"Error: {binary}: looks like a binary file, not csv text"
    )
    parquet = tmp_path / "catalog.csv"
    shutil.copy(WANDS_PRODUCTS, parquet)
    assert _error(["ingest", "products", str(parquet), "--no-graph"], tmp_path) == [
        f"Error: {parquet}: is a Parquet file, not csv text",
        "Hint: pass --format parquet",
    ]


def test_missing_columns_suggest_a_mapping(tmp_path: Path) -> None:
    bad = tmp_path / "products.csv"
    bad.write_text("asin,title\nP1,Tent\n")
    assert _error(["ingest", "products", str(bad), "--no-graph"], tmp_path) == [
        f"Error: {bad}: not a products file, missing column(s) product_id; it has asin, title",
        "Hint: name their columns with --map THEIR_NAME=OUR_NAME, e.g. --map asin=product_id",
    ]
