"""The local Neo4j runs locked: a generated password (mode 0600) that cosmo-kg's own clients
find by themselves, that `neo4j password` prints and `doctor` checks; an old data directory
without a password is migrated."""

from __future__ import annotations

import stat
from pathlib import Path

import neo4j
import pytest
from click.testing import CliRunner

from cosmo_kg.cli import cli
from cosmo_kg.graph import local_auth, server
from cosmo_kg.graph.connection import CredentialsError, Neo4jSettings, create_driver
from cosmo_kg.graph.server import LocalNeo4jSettings
from tests.conftest import free_port

pytestmark = pytest.mark.neo4j


def local_env(local: LocalNeo4jSettings) -> dict[str, str]:
    return {
        "COSMO_NEO4J_HOME": str(local.home_path),
        "COSMO_NEO4J_BOLT_PORT": str(local.bolt_port),
        "COSMO_NEO4J_HTTP_PORT": str(local.http_port),
        "NEO4J_URI": local.bolt_uri,
    }


def test_the_password_file_is_private_and_anonymous_clients_are_refused(
    local_neo4j: LocalNeo4jSettings,
) -> None:
    path = local_auth.password_path(local_neo4j.home_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(local_auth.read_password(local_neo4j.home_path)) >= 24
    with (
        neo4j.GraphDatabase.driver(local_neo4j.bolt_uri) as anonymous,
        pytest.raises(neo4j.exceptions.AuthError),
    ):
        anonymous.verify_connectivity()
    with pytest.raises(CredentialsError, match="refused the credentials"):
        create_driver(Neo4jSettings(uri=local_neo4j.bolt_uri, password="not-the-password"))


def test_clients_without_neo4j_password_read_the_local_one(
    local_neo4j: LocalNeo4jSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in local_env(local_neo4j).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("NEO4J_PASSWORD", raising=False)
    with create_driver(Neo4jSettings(uri=local_neo4j.bolt_uri)) as driver:
        assert driver.execute_query("RETURN 1 AS one").records[0]["one"] == 1
    result = CliRunner().invoke(cli, ["cypher", "-e", "RETURN 'in' AS logged", "--console-format", "csv"])
    assert result.exit_code == 0 and result.stdout == "logged\nin\n"


def test_neo4j_password_prints_user_and_password_and_doctor_checks_the_file(
    local_neo4j: LocalNeo4jSettings,
) -> None:
    env = local_env(local_neo4j)
    result = CliRunner().invoke(cli, ["neo4j", "password"], env=env)
    assert result.exit_code == 0
    assert "user:     neo4j" in result.output
    assert f"password: {local_auth.read_password(local_neo4j.home_path)}" in result.output
    doctor = CliRunner().invoke(cli, ["doctor"], env=env)
    assert "[  ok] neo4j password: " in doctor.output and "[  ok] neo4j: Neo4j/5.26" in doctor.output


def test_a_password_file_readable_by_others_fails_the_doctor(tmp_path: Path) -> None:
    home = tmp_path / "home"
    local_auth.write_secret(local_auth.password_path(home), "secret")
    local_auth.password_path(home).chmod(0o644)
    doctor = CliRunner().invoke(
        cli, ["doctor"], env={"COSMO_NEO4J_HOME": str(home), "NEO4J_URI": "bolt://127.0.0.1:9"}
    )
    assert "[FAIL] neo4j password: " in doctor.output and "chmod 600" in doctor.output


@pytest.mark.slow
def test_a_generated_password_starting_with_a_dash_locks_a_new_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # token_urlsafe starts with "-" once in 64 draws: CI met it when neo4j-admin read it as an option.
    monkeypatch.setattr(local_auth, "new_password", lambda: "-starts-with-a-dash-0123456789")
    local = LocalNeo4jSettings(
        home=str(tmp_path / "a"), bolt_port=free_port(), http_port=free_port(), heap="512m", pagecache="64m"
    )
    server.start(local)
    try:
        assert local_auth.read_password(local.home_path) == "-starts-with-a-dash-0123456789"
        with create_driver(server.client_settings(local)) as driver:
            assert driver.execute_query("RETURN 1 AS one").records[0]["one"] == 1
    finally:
        server.stop(local)


def test_a_data_directory_without_a_password_is_locked_on_its_next_start(tmp_path: Path) -> None:
    local = LocalNeo4jSettings(
        home=str(tmp_path / "old"), bolt_port=free_port(), http_port=free_port(), heap="512m", pagecache="64m"
    )
    server.start(local)
    with create_driver(server.client_settings(local)) as driver:
        driver.execute_query("CREATE (:Kept {name: 'from before'})")
    server.stop(local)
    old = local_auth.read_password(local.home_path)
    local_auth.password_path(local.home_path).unlink()  # as a workspace from before authentication
    try:
        server.start(local)
        new = local_auth.read_password(local.home_path)
        assert new and new != old
        with create_driver(server.client_settings(local)) as driver:
            kept = driver.execute_query("MATCH (n:Kept) RETURN n.name AS name").records
        assert [r["name"] for r in kept] == ["from before"]
        with pytest.raises(CredentialsError):
            create_driver(Neo4jSettings(uri=local.bolt_uri, password=old))
    finally:
        server.stop(local)
