"""The local Neo4j server: restart keeps data, clear errors for missing Java or a busy port."""

from __future__ import annotations

import socket
from pathlib import Path

import neo4j
import pytest

from cosmo_kg.errors import ConfigError, GraphError
from cosmo_kg.graph import jvm, server
from cosmo_kg.graph.server import LocalNeo4jSettings


def test_start_is_idempotent_and_status_reports_it(local_neo4j: LocalNeo4jSettings) -> None:
    first = server.status(local_neo4j)
    again = server.start(local_neo4j)
    assert first.running and again.pid == first.pid


def test_restart_keeps_the_data(local_neo4j: LocalNeo4jSettings, session_driver: neo4j.Driver) -> None:
    session_driver.execute_query("MERGE (:Domain {name: 'kept across restarts'})")
    assert server.stop(local_neo4j)
    assert not server.status(local_neo4j).running
    server.start(local_neo4j)
    records, _, _ = session_driver.execute_query(
        "MATCH (d:Domain {name: 'kept across restarts'}) RETURN count(d) AS n"
    )
    assert records[0]["n"] == 1


def test_missing_java_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    settings = LocalNeo4jSettings(home=str(tmp_path / "home"))
    with pytest.raises(ConfigError, match="Java is not installed") as error:
        server.start(settings)
    assert "openjdk-17" in (error.value.hint or "")


def test_busy_port_names_the_option_to_change(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        settings = LocalNeo4jSettings(home=str(tmp_path / "home"), bolt_port=port)
        with pytest.raises(GraphError, match=f"port {port} on 127.0.0.1 is already in use") as error:
            server.start(settings)
    assert "--local-neo4j-bolt-port" in (error.value.hint or "")


def test_conf_listens_on_loopback_only(tmp_path: Path) -> None:
    conf = server.render_conf(LocalNeo4jSettings(home=str(tmp_path), bolt_port=7001, http_port=7002))
    assert "server.bolt.listen_address=127.0.0.1:7001" in conf
    assert "server.http.listen_address=127.0.0.1:7002" in conf
    assert "server.default_listen_address=127.0.0.1" in conf


@pytest.fixture
def first_start(tmp_path: Path) -> tuple[LocalNeo4jSettings, Path]:
    """A server home and jar cache without a class archive, and the draft its first start records."""
    settings = LocalNeo4jSettings(home=str(tmp_path / "home"), cache_dir=str(tmp_path / "cache"))
    (settings.home_path / "run").mkdir(parents=True)
    settings.jar_dir.mkdir(parents=True)
    [record] = jvm.class_sharing_flags(settings, record=True)
    return settings, Path(record.removeprefix("-XX:ArchiveClassesAtExit="))


def test_first_start_records_a_class_archive_that_a_clean_stop_keeps(
    first_start: tuple[LocalNeo4jSettings, Path],
) -> None:
    settings, draft = first_start
    draft.write_bytes(b"written by the JVM at exit")
    jvm.keep_pending_archive(settings)
    assert jvm.class_archive(settings).read_bytes() == b"written by the JVM at exit"
    assert jvm.class_sharing_flags(settings, record=True) == [
        f"-XX:SharedArchiveFile={jvm.class_archive(settings)}"
    ]


def test_a_half_written_class_archive_is_never_used(first_start: tuple[LocalNeo4jSettings, Path]) -> None:
    settings, draft = first_start
    draft.write_bytes(b"cut short by a kill")
    [again] = jvm.class_sharing_flags(settings, record=True)  # the next start, after a crash
    assert not draft.exists() and again.startswith("-XX:ArchiveClassesAtExit=")
    assert jvm.class_sharing_flags(settings) == []
    assert not jvm.class_archive(settings).exists()
