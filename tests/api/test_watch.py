"""``refresh --watch``: files are taken once they settle, once each, and their pairs explained."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import neo4j
import polars as pl
import pytest
from click.testing import CliRunner

from cosmo_kg.api.services import ServeSettings
from cosmo_kg.api.settings import CacheSettings, IndexSettings
from cosmo_kg.api.watch import WatchConfig, landed_files, watch
from cosmo_kg.cli import cli
from cosmo_kg.graph.connection import Neo4jSettings
from cosmo_kg.graph.loader import LoaderSettings
from cosmo_kg.workspace import WorkspaceSettings
from tests.api.test_refresh import PRODUCTS


def _touch(path: Path, age: float) -> Path:
    path.write_text("x")
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


def test_only_settled_event_files_not_taken_before_land(tmp_path: Path) -> None:
    old = _touch(tmp_path / "a.parquet", 60)
    _touch(tmp_path / "b.csv.gz", 30)
    _touch(tmp_path / "c.parquet", 0)  # still being written
    _touch(tmp_path / ".partial.parquet", 60)
    _touch(tmp_path / "notes.txt", 60)
    config = WatchConfig(tmp_path, settle_seconds=5)
    assert [p.name for p in landed_files(config, {}, time.time())] == ["a.parquet", "b.csv.gz"]
    taken = {"a.parquet": f"{old.stat().st_size}:{old.stat().st_mtime_ns}"}
    assert [p.name for p in landed_files(config, taken, time.time())] == ["b.csv.gz"]
    _touch(old, 20)  # rewritten since: taken again, after the older file
    assert [p.name for p in landed_files(config, taken, time.time())] == ["b.csv.gz", "a.parquet"]


def _events(path: Path) -> Path:
    start = datetime(2026, 11, 24, 10, tzinfo=UTC)
    rows = []
    for i, (query, product) in enumerate((("camping tent", "T1"), ("tennis racket", "R1"))):
        for step, action in enumerate(("search", "click", "purchase")):
            rows.append(
                {
                    "session_id": f"s{i}",
                    "timestamp": start + timedelta(minutes=10 * i, seconds=step),
                    "action": action,
                    "product_id": None if action == "search" else product,
                    "query": None if action == "purchase" else query,
                    "order_id": f"o{i}" if action == "purchase" else None,
                }
            )
    pl.DataFrame(rows).write_parquet(path)
    return path


@pytest.mark.neo4j
@pytest.mark.slow
def test_a_landed_events_file_is_ingested_and_its_new_pairs_explained(
    driver: neo4j.Driver,
    neo4j_env: dict[str, str],
    neo4j_settings: Neo4jSettings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COSMO_GEN_RELATIONS", "USED_FOR_EVE")
    (tmp_path / "products.csv").write_text(PRODUCTS)
    ingested = CliRunner().invoke(cli, ["ingest", "products", str(tmp_path / "products.csv")], env=neo4j_env)
    assert ingested.exit_code == 0, ingested.output
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    landed = _events(inbox / "events.parquet")
    os.utime(landed, (time.time() - 10, time.time() - 10))
    settings = ServeSettings(
        neo4j=neo4j_settings,
        index=IndexSettings(dir=str(tmp_path / "index")),
        cache=CacheSettings(path=str(tmp_path / "cache.sqlite")),
        workspace=WorkspaceSettings(dir=neo4j_env["COSMO_WORKSPACE"]),
    )

    (done,) = watch(WatchConfig(inbox, poll_seconds=0.1, preload_top=0, rounds=1), settings, LoaderSettings())
    assert done.files == [str(landed)] and done.served_after_seconds >= done.seconds
    assert done.refresh["steps"] == ["sample", "generate", "refine", "load", "index", "cache"]
    records, _, _ = driver.execute_query("MATCH (:Query)-[s:SEARCH_BUY]->(:Product) RETURN count(s) AS n")
    assert records[0]["n"] == 2
    explained = pl.read_parquet(Path(neo4j_env["COSMO_WORKSPACE"]) / "refresh" / "explained.parquet")
    assert explained.height == 2
    assert landed_files(WatchConfig(inbox, settle_seconds=0), _ledger(neo4j_env), time.time()) == []


def _ledger(env: dict[str, str]) -> dict[str, str]:
    import json

    return json.loads((Path(env["COSMO_WORKSPACE"]) / "refresh" / "watched.json").read_text())
