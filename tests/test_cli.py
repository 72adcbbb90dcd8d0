"""What a user sees from the command line: help everywhere, versions, exact Error: lines."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cosmo_kg import __version__
from cosmo_kg.cli import cli


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
    return found


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"cosmo-kg, version {__version__}"


@pytest.mark.parametrize("path", _commands(cli), ids=" ".join)
def test_every_command_explains_itself(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    first_line = result.output.split("\n\n")[1].strip()
    assert len(first_line) > 20, f"{' '.join(path)} has no real help text"


def test_unreachable_neo4j_is_one_error_line_with_a_fix(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["graph", "stats"], env={"NEO4J_URI": "bolt://127.0.0.1:9"})
    assert result.exit_code == 3
    lines = result.stderr.splitlines() if hasattr(result, "stderr") else result.output.splitlines()
    assert lines[0] == "Error: Neo4j is not reachable at bolt://127.0.0.1:9"
    assert lines[1].startswith("Hint: start the local server with `cosmo-kg neo4j start`")


def test_bad_setting_value_names_key_and_value() -> None:
    result = CliRunner().invoke(cli, ["graph", "stats"], env={"NEO4J_URI": "http://x"})
    assert result.exit_code == 2
    assert result.output.splitlines()[0] == "Error: setting neo4j.uri has a bad value 'http://x'"


def test_bad_batch_size_from_environment(tmp_path: Path) -> None:
    knowledge = tmp_path / "k.parquet"
    knowledge.write_bytes(b"PAR1")
    result = CliRunner().invoke(
        cli, ["ingest", "knowledge", str(knowledge)], env={"COSMO_LOAD_BATCH_SIZE": "lots"}
    )
    assert result.exit_code == 2
    assert result.output.splitlines()[0] == "Error: setting loader.batch_size has a bad value 'lots'"


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["ingest", "knowledge", str(tmp_path / "nope.parquet")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_unknown_saved_query_exits_with_error() -> None:
    result = CliRunner().invoke(cli, ["graph", "query", "nope"])
    assert result.exit_code == 2
    assert result.output.splitlines()[0] == "Error: no saved query named 'nope'"


def test_settings_reference_is_up_to_date() -> None:
    result = CliRunner().invoke(cli, ["settings", "--markdown"])
    documented = (Path(__file__).resolve().parent.parent / "docs" / "settings.md").read_text()
    assert result.output.strip() == documented.strip(), "run: cosmo-kg settings --markdown > docs/settings.md"


def test_doctor_lists_every_check_with_a_state() -> None:
    result = CliRunner().invoke(cli, ["doctor"], env={"NEO4J_URI": "bolt://127.0.0.1:9"})
    names = [
        line.split("]")[1].split(":")[0].strip()
        for line in result.output.splitlines()
        if line.startswith("[")
    ]
    assert {"python", "java", "neo4j jars", "neo4j", "gpu"} <= set(names)
    assert "[warn] neo4j: Neo4j is not reachable at bolt://127.0.0.1:9" in result.output
