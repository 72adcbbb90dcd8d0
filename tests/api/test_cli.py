"""The serving commands as users run them."""

from __future__ import annotations

from pathlib import Path

import neo4j
import pytest
from click.testing import CliRunner

from cosmo_kg.cli import cli
from tests.api.conftest import write_fixture_files

pytestmark = pytest.mark.neo4j


@pytest.fixture
def env(neo4j_env: dict[str, str], tmp_path: Path, built_index: Path) -> dict[str, str]:
    return {**neo4j_env, "COSMO_INDEX_DIR": str(built_index), "COSMO_CACHE_PATH": str(tmp_path / "c.sqlite")}


def test_every_serving_command_explains_itself() -> None:
    for args in (
        ["serve"],
        ["index", "build"],
        ["cache", "preload"],
        ["features", "export"],
        ["refresh"],
        ["apikey", "create"],
        ["graphql-schema"],
    ):
        result = CliRunner().invoke(cli, [*args, "--help"])
        assert result.exit_code == 0 and len(result.output) > 150, args


def test_refresh_from_knowledge_loads_indexes_and_answers_the_queue(
    env: dict[str, str], fixture_graph: neo4j.Driver, tmp_path: Path
) -> None:
    files = write_fixture_files(tmp_path / "in")
    result = CliRunner().invoke(
        cli,
        [
            "refresh",
            "--knowledge",
            str(files["knowledge"]),
            "--products",
            str(files["products"]),
            "--preload-top",
            "2",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert "steps load, index, cache" in result.output and "2 tier-1 answers" in result.output
    stats = CliRunner().invoke(cli, ["cache", "stats"], env=env)
    assert '"tier1": 2' in stats.output
