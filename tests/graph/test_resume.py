"""A load killed with SIGKILL at any moment and run again ends in the uninterrupted graph."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import neo4j
import pytest

from tests.conftest import SAMPLES, wipe
from tests.graph.test_loader import graph_dump

KNOWLEDGE = SAMPLES / "intentionqa_knowledge.parquet"
PRODUCTS = SAMPLES / "intentionqa_products.parquet"


def _load_command() -> list[str]:
    return [
        sys.executable,
        "-m",
        "cosmo_kg.cli",
        "ingest",
        "knowledge",
        str(KNOWLEDGE),
        "--products",
        str(PRODUCTS),
        "--seen-at",
        "2026-03-01",
    ]


def _batches_done(driver: neo4j.Driver) -> int:
    records, _, _ = driver.execute_query("MATCH (l:LoadRun) RETURN max(l.batches_done) AS n")
    return int(records[0]["n"] or 0)


@pytest.mark.slow
def test_kill_9_mid_load_then_rerun_gives_the_uninterrupted_graph(
    driver: neo4j.Driver, neo4j_env: dict[str, str]
) -> None:
    env = {**os.environ, **neo4j_env, "COSMO_LOAD_BATCH_SIZE": "40"}
    subprocess.run(_load_command(), env=env, check=True, capture_output=True)
    uninterrupted = graph_dump(driver)
    wipe(driver)

    process = subprocess.Popen(_load_command(), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _batches_done(driver) < 10 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the load finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = _batches_done(driver)
    assert killed_at > 0

    rerun = subprocess.run(_load_command(), env=env, check=True, capture_output=True, text=True)
    assert f"resumed after {killed_at} committed batches" in rerun.stdout
    assert graph_dump(driver) == uninterrupted
