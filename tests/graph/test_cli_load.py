"""`cosmo-kg ingest knowledge` and `graph stats` end to end against the real Neo4j."""

from __future__ import annotations

import json
from pathlib import Path

import neo4j
from click.testing import CliRunner

from cosmo_kg.cli import cli
from tests.conftest import SAMPLES


def test_ingest_then_stats_json(driver: neo4j.Driver, neo4j_env: dict[str, str]) -> None:
    runner = CliRunner()
    loaded = runner.invoke(
        cli,
        [
            "ingest",
            "knowledge",
            str(SAMPLES / "intentionqa_knowledge.parquet"),
            "--products",
            str(SAMPLES / "intentionqa_products.parquet"),
        ],
    )
    assert loaded.exit_code == 0, loaded.output
    assert "rejected knowledge: duplicate_row 9" in loaded.output
    report_path = Path(loaded.output.split("report:")[1].strip())
    report = json.loads(report_path.read_text())
    assert report["rows_in"] == {"knowledge": 1320, "products": 1690}
    stats = runner.invoke(cli, ["graph", "stats", "--json"])
    assert stats.exit_code == 0, stats.output
    counts = json.loads(stats.output)
    assert counts["nodes"]["Product"] == 1690
    assert counts["relationships"]["CAPABLE_OF"] > 0


def test_not_parquet_is_a_clear_input_error(neo4j_env: dict[str, str], tmp_path: Path) -> None:
    bogus = tmp_path / "knowledge.parquet"
    bogus.write_text("product_id,tail\nP1,camping\n")
    result = CliRunner().invoke(cli, ["ingest", "knowledge", str(bogus)])
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: {bogus}: not a readable Parquet file")


def test_routing_uri_works_against_a_single_server(
    driver: neo4j.Driver, neo4j_env: dict[str, str], monkeypatch: object
) -> None:
    routing = neo4j_env["NEO4J_URI"].replace("bolt://", "neo4j://")
    result = CliRunner().invoke(cli, ["graph", "stats", "--json"], env={"NEO4J_URI": routing})
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"nodes": {}, "relationships": {}}
