"""No traceback reaches a user: every command that reads a file copes with a missing, empty or
unreadable one, and every command that writes a file creates its missing parent folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cosmo_kg import samples
from cosmo_kg.cli import cli

SAMPLES = Path(samples.__file__).resolve().parent
REFINE = {name: SAMPLES / "refine" / f"{name}.parquet" for name in ("candidates", "pairs", "products")}

# Each command line, split at spaces before {input} (the bad file), {out} (a fresh output path) and
# {candidates}, {pairs}, {products} (the shipped refine sample) are filled in.
READERS = {
    "generate": "generate --pairs {input} --products {input} --out {out}",
    "refine": "refine {input} --pairs {input} --products {input} -o {out}",
    "critic score": "critic score {input} --pairs {input} --products {input} -o {out}",
    "critic train": "critic train --annotations {input} -o {out}",
    "annotate sample": "annotate sample {input} --pairs {input} --products {input} -o {out}",
    "annotate export": "annotate export {input} -o {out}.csv",
    "annotate import": "annotate import {input} -o {out}",
    "annotate agreement": "annotate agreement {input}",
    "discover": "discover {input}",
}
GRAPH_READERS = {
    "ingest products": "ingest products {input}",
    "ingest co-buy": "ingest co-buy {input}",
    "ingest search-buy": "ingest search-buy {input}",
    "ingest events": "ingest events {input}",
    "ingest knowledge": "ingest knowledge {input}",
    "cypher -f": "cypher -f {input}",
}
CONTEXT = "{candidates} --pairs {pairs} --products {products}"
WRITERS = {
    "critic score": f"critic score {CONTEXT} -o {{out}}/s.parquet",
    "annotate sample": f"annotate sample {CONTEXT} -n 5 -o {{out}}/tasks.csv",
    "refine": f"refine {CONTEXT} -o {{out}}/knowledge.parquet",
    "discover": "discover {candidates} --clusters 2 --per-relation 1 -o {out}/discover.json",
}


def _bad_input(kind: str, folder: Path) -> Path:
    path = folder / f"{kind}.parquet"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "unreadable":
        path.write_bytes(b"PAR1 not really \x00\xff")
        if os.geteuid() != 0:  # root reads any file: there a corrupt file stands in
            path.chmod(0)
    return path


def _run(line: str, input_path: Path, out: Path, env: dict[str, str]) -> Result:
    values = {"input": str(input_path), "out": str(out), **{k: str(v) for k, v in REFINE.items()}}
    return CliRunner().invoke(cli, [word.format(**values) for word in line.split()], env=env)


def _assert_no_traceback(result: Result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    if result.exit_code != 0:
        errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, result.output
        assert "Hint:" in result.output or "for help." in result.output, result.output


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "COSMO_WORKSPACE": str(tmp_path / "workspace"),
        "COSMO_EMBEDDINGS_CACHE_DIR": str(tmp_path / "embeddings"),
    }


@pytest.mark.parametrize("kind", ["missing", "empty", "unreadable"])
@pytest.mark.parametrize("command", list(READERS))
def test_a_bad_input_file_is_one_error_line_with_a_hint(
    command: str, kind: str, tmp_path: Path, env: dict[str, str]
) -> None:
    result = _run(READERS[command], _bad_input(kind, tmp_path), tmp_path / "new" / "out", env)
    assert result.exit_code != 0, result.output
    _assert_no_traceback(result)


@pytest.mark.neo4j
@pytest.mark.parametrize("kind", ["missing", "empty", "unreadable"])
@pytest.mark.parametrize("command", list(GRAPH_READERS))
def test_a_bad_input_file_for_the_graph_is_one_error_line_with_a_hint(
    command: str, kind: str, tmp_path: Path, neo4j_env: dict[str, str]
) -> None:
    result = _run(GRAPH_READERS[command], _bad_input(kind, tmp_path), tmp_path / "out", neo4j_env)
    _assert_no_traceback(result)


@pytest.mark.parametrize("command", list(WRITERS))
def test_an_output_in_a_missing_folder_is_written(command: str, tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "new-dir" / "deeper"
    result = _run(WRITERS[command], tmp_path, out, env)
    assert result.exit_code == 0, result.output
    assert any(out.iterdir())


@pytest.mark.parametrize("command", list(WRITERS))
def test_an_output_under_a_file_is_one_error_line_with_a_hint(
    command: str, tmp_path: Path, env: dict[str, str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = _run(WRITERS[command], tmp_path, blocker / "deeper", env)
    assert result.exit_code != 0, result.output
    _assert_no_traceback(result)
