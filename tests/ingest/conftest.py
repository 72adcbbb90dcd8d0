"""Fixtures of the ingest tests: a private workspace and helpers to run a command on a file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from cosmo_kg.ingest.formats import SourceSpec
from cosmo_kg.ingest.pipeline import IngestConfig, IngestSettings
from cosmo_kg.ingest.store import BehaviourStore
from tests.conftest import SAMPLES

WANDS_PRODUCTS = SAMPLES / "wands_products.parquet"
WANDS_QUERIES = SAMPLES / "wands_queries.tsv"
FOLKSCOPE = SAMPLES / "cobuy_folkscope.csv.gz"
INTENTIONQA = SAMPLES / "cobuy_intentionqa.jsonl.gz"
EVENTS_T0 = datetime(2024, 5, 1, 10, 0)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return tmp_path / "workspace"


def config(path: Path, workspace: Path, **kwargs: object) -> IngestConfig:
    """An IngestConfig for ``path``; ``adapter``, ``day``, ``settings``, ``more_files`` or SourceSpec
    fields in kwargs."""
    spec_fields = {k: kwargs.pop(k) for k in ("fmt", "delimiter", "mapping", "columns") if k in kwargs}
    settings = kwargs.pop("settings", IngestSettings())
    return IngestConfig(SourceSpec(path, **spec_fields), workspace, settings=settings, **kwargs)  # type: ignore[arg-type]


def store_state(workspace: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The merged catalog, search-buy and co-buy tables of a workspace."""
    store = BehaviourStore(workspace)
    return store.catalog().collect(), store.search_buy().collect(), store.co_buy().collect()


def event_log(path: Path, rows: list[tuple]) -> Path:
    """Write events ``(session_id, minute after EVENTS_T0, action, product_id, query, order_id)``
    as Parquet, or as CSV with ISO 8601 times when ``path`` ends in ``.csv``."""
    frame = pl.DataFrame(
        rows, schema=["session_id", "minute", "action", "product_id", "query", "order_id"], orient="row"
    )
    frame = frame.with_columns((pl.lit(EVENTS_T0) + pl.duration(minutes=pl.col("minute"))).alias("timestamp"))
    frame = frame.drop("minute")
    if path.suffix == ".csv":
        frame.with_columns(pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%S")).write_csv(path)
    else:
        frame.write_parquet(path)
    return path
