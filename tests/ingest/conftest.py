"""Fixtures of the ingest tests: a private workspace and helpers to run a command on a file."""

from __future__ import annotations

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


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return tmp_path / "workspace"


def config(path: Path, workspace: Path, **kwargs: object) -> IngestConfig:
    """An IngestConfig for ``path``; ``adapter``, ``day``, ``settings`` or SourceSpec fields in kwargs."""
    spec_fields = {k: kwargs.pop(k) for k in ("fmt", "delimiter", "mapping", "columns") if k in kwargs}
    settings = kwargs.pop("settings", IngestSettings())
    return IngestConfig(SourceSpec(path, **spec_fields), workspace, settings=settings, **kwargs)  # type: ignore[arg-type]


def store_state(workspace: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The merged catalog, search-buy and co-buy tables of a workspace."""
    store = BehaviourStore(workspace)
    return store.catalog().collect(), store.search_buy().collect(), store.co_buy().collect()
