"""`cosmo-kg refresh` from the behaviour store: only new pairs reach the language model."""

from __future__ import annotations

from pathlib import Path

import neo4j
import polars as pl
import pytest
from click.testing import CliRunner

from cosmo_kg.cli import cli

pytestmark = [pytest.mark.neo4j, pytest.mark.slow]

PRODUCTS = """product_id,title,product_type,domain
T1,Coleman Sundome 4-Person Camping Tent,tent,Sports & Outdoors
S1,Coleman Brazos Cold Weather Sleeping Bag,sleeping bag,Sports & Outdoors
R1,Wilson Tour Slam Adult Tennis Racket,tennis racket,Sports & Outdoors
B1,Penn Championship Tennis Balls 3 Pack,tennis ball,Sports & Outdoors
"""
CO_BUY = "product_id_a,product_id_b,count\nT1,S1,12\nR1,B1,9\n"


def _ingest_store(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "products.csv").write_text(PRODUCTS)
    (tmp_path / "co_buy.csv").write_text(CO_BUY)
    runner = CliRunner()
    for command, name in (("products", "products.csv"), ("co-buy", "co_buy.csv")):
        result = runner.invoke(cli, ["ingest", command, str(tmp_path / name), "--no-graph"], env=env)
        assert result.exit_code == 0, result.output


def test_refresh_explains_new_pairs_once(
    driver: neo4j.Driver, neo4j_env: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **neo4j_env,
        "COSMO_GEN_RELATIONS": "USED_FOR_EVE",
        "COSMO_INDEX_DIR": str(tmp_path / "index"),
        "COSMO_CACHE_PATH": str(tmp_path / "cache.sqlite"),
        "COSMO_SAMPLE_MIN_PMI": "-100",
    }
    _ingest_store(tmp_path, env)

    first = CliRunner().invoke(cli, ["refresh", "--preload-top", "0"], env=env)
    assert first.exit_code == 0, first.output
    assert "steps sample, generate, refine, load, index, cache" in first.output
    explained = pl.read_parquet(Path(env["COSMO_WORKSPACE"]) / "refresh" / "explained.parquet")
    assert explained.height == 2
    records, _, _ = driver.execute_query("MATCH (:Product)-[:CO_BUY]->(:Product) RETURN count(*) AS n")
    assert records[0]["n"] == 2

    second = CliRunner().invoke(cli, ["refresh", "--preload-top", "0"], env=env)
    assert second.exit_code == 0, second.output
    assert "steps sample, cache" in second.output
