"""Settings precedence: option > environment > config file > default; bad values are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosmo_kg.errors import ConfigError
from cosmo_kg.graph.connection import Neo4jSettings
from cosmo_kg.graph.loader import LoaderSettings
from cosmo_kg.settings import load_settings


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "cosmo-kg.toml"
    config.write_text('[neo4j]\nuri = "bolt://file:1"\ndatabase = "fromfile"\n[loader]\nbatch_size = 7\n')
    monkeypatch.setenv("COSMO_CONFIG", str(config))
    monkeypatch.setenv("NEO4J_URI", "bolt://env:2")
    settings = load_settings(Neo4jSettings, {"database": None})
    assert (settings.uri, settings.database, settings.user) == ("bolt://env:2", "fromfile", "neo4j")
    assert load_settings(Neo4jSettings, {"uri": "neo4j://option:3"}).uri == "neo4j://option:3"
    assert load_settings(LoaderSettings).batch_size == 7


def test_bad_value_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSMO_LOAD_BATCH_SIZE", "0")
    with pytest.raises(ConfigError, match=r"setting loader.batch_size has a bad value 0"):
        load_settings(LoaderSettings)


def test_missing_config_file_named_by_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COSMO_CONFIG", str(tmp_path / "none.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(Neo4jSettings)
