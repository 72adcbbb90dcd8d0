"""The distribution: a built wheel installs every stage under the one `cosmo_kg` namespace."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        cwd=out,
    )
    return next(out.glob("cosmo_kg-*.whl"))


def test_wheel_puts_nothing_generic_in_site_packages(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {n.split("/")[0] for n in names if not n.startswith("cosmo_kg-")}
    assert top_level == {"cosmo_kg"}
    for data in (
        "cosmo_kg/cypher/schema.cypher",
        "cosmo_kg/graph/neo4j/pom.xml",
        "cosmo_kg/samples/intentionqa_knowledge.parquet",
        "cosmo_kg/api/static/explore.html",
        "cosmo_kg/api/static/graphiql.html",
        "cosmo_kg/api/static/vendor/graphiql.min.js",
        "cosmo_kg/api/static/vendor/react.LICENSE",
    ):
        assert data in names


def test_modules_import_from_the_unpacked_wheel(wheel: Path, tmp_path: Path) -> None:
    zipfile.ZipFile(wheel).extractall(tmp_path)
    probe = (
        "import cosmo_kg, cosmo_kg.graph.loader as l; from cosmo_kg.graph.schema import "
        "schema_statements; from cosmo_kg.graph.saved_queries import saved_queries; "
        "print(cosmo_kg.__file__); print(len(schema_statements()), len(saved_queries()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PYTHONPATH": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert out[0].startswith(str(tmp_path))
    statements, queries = map(int, out[1].split())
    assert statements >= 6 and queries >= 10
