"""Sampling: thresholds and drop reasons, coverage of every domain and type, seeded reproducibility."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from cosmo_kg.errors import InputError
from cosmo_kg.ingest.pipeline import run_co_buy, run_products, run_search_buy
from cosmo_kg.ingest.sampler import SampleConfig, SampleSettings, sample, type_cap
from cosmo_kg.schemas import PAIRS
from tests.ingest.conftest import FOLKSCOPE, INTENTIONQA, WANDS_PRODUCTS, WANDS_QUERIES, config


@pytest.fixture(scope="module")
def shipped_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace holding every shipped behaviour sample."""
    workspace = tmp_path_factory.mktemp("samples") / "ws"
    run_co_buy(config(FOLKSCOPE, workspace, adapter="folkscope"))
    run_co_buy(config(INTENTIONQA, workspace, adapter="intentionqa"))
    run_products(config(WANDS_PRODUCTS, workspace))
    run_search_buy(config(WANDS_QUERIES, workspace, adapter="wands"))
    return workspace


def test_same_seed_same_sample_other_seed_other_sample(shipped_store: Path, tmp_path: Path) -> None:
    small = SampleSettings(max_per_type=2, seed=5)
    sample(SampleConfig(shipped_store, tmp_path / "a.parquet", settings=small))
    sample(SampleConfig(shipped_store, tmp_path / "b.parquet", settings=small))
    other_seed = SampleSettings(max_per_type=2, seed=6)
    sample(SampleConfig(shipped_store, tmp_path / "c.parquet", settings=other_seed))
    a, b, c = (pl.read_parquet(tmp_path / f"{name}.parquet") for name in "abc")
    assert a.equals(b)
    assert not a.equals(c)
    assert a.schema == pl.Schema(PAIRS.columns)


def test_every_domain_and_type_present_stays_covered(shipped_store: Path, tmp_path: Path) -> None:
    report = sample(
        SampleConfig(
            shipped_store,
            tmp_path / "p.parquet",
            tmp_path / "products.parquet",
            SampleSettings(max_pairs=250),
        )
    )
    assert report.type_cap < 1000 and sum(report.pairs_out.values()) <= 250
    for axis in ("domain", "product_type"):
        assert set(report.coverage_after[axis]) == set(report.coverage_before[axis])
    assert report.dropped["over_type_cap"] > 0
    pairs = pl.read_parquet(tmp_path / "p.parquet")
    products = pl.read_parquet(tmp_path / "products.parquet")
    assert set(pairs["product_id"]) <= set(products["product_id"])
    assert (pairs["weight"] >= 1).all()


def test_near_duplicates_random_co_buys_and_bad_queries_are_dropped(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(
        "product_id,title,product_type,domain\n"
        "A1,Trail Tent 2 Person,tent,Sports & Outdoors\n"
        "A2,Trail Tent 2 Person - Green,tent,Sports & Outdoors\n"
        "B1,Sleeping Bag,sleeping bag,Sports & Outdoors\n"
        "C1,Coffee Mug,mug,Home & Kitchen\n"
        "D1,Desk Lamp,lamp,Office Products\n"
        'E1,Garden Hose,hose,"Patio, Lawn & Garden"\n'
    )
    run_products(config(catalog, workspace))
    co_buy = tmp_path / "cb.csv"
    co_buy.write_text(
        "product_id_a,product_id_b,count\nA1,A2,5\nA1,B1,9\nB1,C1,1\nC1,D1,1\nA1,C1,1\n"
        "A1,D1,1\nB1,D1,1\nA2,C1,1\nA2,D1,1\nA1,E1,1\n"
    )
    run_co_buy(config(co_buy, workspace))
    search_buy = tmp_path / "sb.csv"
    search_buy.write_text(
        "query,product_id,count\nstuff,A1,1\nstuff,C1,1\nstuff,D1,1\nstuff,E1,1\n"
        "stuff,B1,1\ndesk lamp,D1,3\ntent,A1,1\nmug,C1,1\n"
    )
    run_search_buy(config(search_buy, workspace))
    report = sample(
        SampleConfig(
            workspace,
            tmp_path / "p.parquet",
            settings=SampleSettings(
                min_pmi=0.5, max_query_entropy=1.5, min_search_buy_count=1, min_co_buy_count=1
            ),
        )
    )
    assert report.dropped == {
        "query_too_broad": 5,
        "near_duplicate_products": 1,
        "query_is_title": 1,
        "random_co_buy": 2,
    }  # A1-C1 and A1-D1: PMI 0.37 bits
    kept = pl.read_parquet(tmp_path / "p.parquet")
    assert set(kept.filter(pl.col("kind") == "search_buy")["query"]) == {"tent", "mug"}


def test_minimum_counts(shipped_store: Path, tmp_path: Path) -> None:
    report = sample(
        SampleConfig(shipped_store, tmp_path / "p.parquet", settings=SampleSettings(min_co_buy_count=2))
    )
    co_buy = pl.read_parquet(tmp_path / "p.parquet").filter(pl.col("kind") == "co_buy")
    assert (co_buy["count"] >= 2).all()
    assert report.dropped["below_min_count"] >= report.pairs_in["co_buy"] - 1  # one pair is in both files


def test_empty_store_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="holds no pairs"):
        sample(SampleConfig(tmp_path / "empty", tmp_path / "p.parquet"))


def test_type_cap_shrinks_evenly_to_fit_the_total() -> None:
    assert type_cap([10, 3, 1], max_per_type=100, max_pairs=0) == 100
    assert type_cap([10, 3, 1], max_per_type=100, max_pairs=8) == 4  # 4 + 3 + 1
    assert type_cap([10, 3, 1], max_per_type=100, max_pairs=1) == 1  # coverage beats the total


def test_chunk_size_changes_memory_not_the_sample(shipped_store: Path, tmp_path: Path) -> None:
    whole = sample(
        SampleConfig(shipped_store, tmp_path / "whole.parquet", settings=SampleSettings(max_per_type=3))
    )
    chunked = sample(
        SampleConfig(
            shipped_store, tmp_path / "chunked.parquet", settings=SampleSettings(max_per_type=3, chunk_rows=7)
        )
    )
    assert pl.read_parquet(tmp_path / "whole.parquet").equals(pl.read_parquet(tmp_path / "chunked.parquet"))
    assert (whole.dropped, whole.coverage_before) == (chunked.dropped, chunked.coverage_before)
