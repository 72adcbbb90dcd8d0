"""The workspace: where run reports, rejects and other local state of the stages go."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cosmo_kg.settings import SettingsGroup, setting


@dataclass(frozen=True)
class WorkspaceSettings(SettingsGroup):
    section = "workspace"

    dir: str = setting(".cosmo-kg", "where run reports and rejects files are written",
                       env="COSMO_WORKSPACE")

    @property
    def rejects_dir(self) -> Path:
        return Path(self.dir) / "rejects"

    @property
    def reports_dir(self) -> Path:
        return Path(self.dir) / "reports"


def write_report(workspace: WorkspaceSettings, stage: str, payload: dict[str, Any]) -> Path:
    """Write one stage's run report as ``reports/<stage>-<UTC time>.json`` and return its path."""
    workspace.reports_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = workspace.reports_dir / f"{stage}-{stamp}.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str), encoding="utf-8")
    return path
