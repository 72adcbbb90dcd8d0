"""The workspace: where run reports, rejects and other local state of the stages go."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cosmo_kg.files import write_text_atomic
from cosmo_kg.settings import SettingsGroup, setting

CACHE_ENV = "COSMO_CACHE_DIR"


def machine_cache_dir() -> Path:
    """The per-machine cache (Neo4j jars, converted models): ``$COSMO_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/cosmo-kg``, else ``~/.cache/cosmo-kg``. Outside every work tree."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cosmo-kg"


@dataclass(frozen=True)
class WorkspaceSettings(SettingsGroup):
    section = "workspace"

    dir: str = setting(".cosmo-kg", "where run reports and rejects files are written", env="COSMO_WORKSPACE")

    @property
    def rejects_dir(self) -> Path:
        return Path(self.dir) / "rejects"

    @property
    def reports_dir(self) -> Path:
        return Path(self.dir) / "reports"


def report_json(report: Any) -> str:
    """The one JSON form of a report: a ``*Report`` dataclass (nested ones included) or a dict."""
    payload = asdict(report) if is_dataclass(report) and not isinstance(report, type) else report
    return json.dumps(payload, indent=2, sort_keys=True, default=str)


def write_report(workspace: WorkspaceSettings, stage: str, report: Any) -> Path:
    """Write one stage's run report as ``reports/<stage>-<UTC time>.json`` and return its path."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = workspace.reports_dir / f"{stage}-{stamp}.json"
    write_text_atomic(report_json(report), path)
    return path
