"""``cosmo-kg refresh --watch DIR``: the minutes-fresh path.

Every ``poll_seconds`` the directory is listed; event files that have stopped changing for
``settle_seconds`` (a writer still copying one is left for the next round) and were not taken
before are ingested together as one log (``ingest events``, behaviour into the store and the
graph), then one refresh runs: only their new pairs reach the language model, their knowledge is
loaded (a new graph version: running APIs stop serving older cached answers), the index gets
the new texts (running APIs load it) and the caches are refilled. What was taken is recorded
in ``<workspace>/refresh/watched.json`` by name, size and modification time, so a restarted
watch neither skips nor repeats a file.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cosmo_kg.api import daily_job
from cosmo_kg.api.services import ServeSettings
from cosmo_kg.files import write_text_atomic
from cosmo_kg.graph.connection import connect
from cosmo_kg.graph.loader import LoaderSettings
from cosmo_kg.ingest.formats import SourceSpec
from cosmo_kg.ingest.pipeline import GraphTarget, IngestConfig, IngestSettings, run_events
from cosmo_kg.settings import load_settings

EVENT_SUFFIXES = (".parquet", ".csv", ".tsv", ".jsonl", ".json", ".csv.gz", ".tsv.gz", ".jsonl.gz")


@dataclass(frozen=True)
class WatchConfig:
    directory: Path
    poll_seconds: float = 5.0
    settle_seconds: float = 2.0
    preload_top: int = 1000
    rounds: int | None = None  # stop after this many rounds that found files (None: run until stopped)


@dataclass
class WatchRound:
    """One round: the files taken, when the first landed, and how long until it was served."""

    files: list[str]
    landed_at: float
    ingest: dict[str, Any] = field(default_factory=dict)
    refresh: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    served_after_seconds: float = 0.0


def _ledger(settings: ServeSettings) -> Path:
    return Path(settings.workspace.dir) / "refresh" / "watched.json"


def _signature(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def landed_files(config: WatchConfig, taken: dict[str, str], now: float) -> list[Path]:
    """Event files in the directory, settled and not taken before, oldest first."""
    found = []
    for path in sorted(config.directory.iterdir()):
        if not path.is_file() or path.name.startswith(".") or not path.name.endswith(EVENT_SUFFIXES):
            continue
        if taken.get(path.name) == _signature(path) or now - path.stat().st_mtime < config.settle_seconds:
            continue
        found.append(path)
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))


def watch(
    config: WatchConfig,
    settings: ServeSettings,
    loader: LoaderSettings,
    say: Callable[[str], None] | None = None,
) -> Iterator[WatchRound]:
    """Take new event files as they land and refresh with them; yields each round's report.

    Raises ``InputError`` for unreadable files (the round's files stay untaken: fix or remove
    them), ``BackendError`` when the language model fails and ``GraphError`` when Neo4j fails.
    """
    ledger = _ledger(settings)
    taken: dict[str, str] = json.loads(ledger.read_text()) if ledger.exists() else {}
    done = 0
    while config.rounds is None or done < config.rounds:
        files = landed_files(config, taken, time.time())
        if not files:
            time.sleep(config.poll_seconds)
            continue
        yield _round(files, config, settings, loader, say or (lambda step: None))
        taken |= {path.name: _signature(path) for path in files}
        write_text_atomic(json.dumps(taken, indent=1, sort_keys=True), ledger)
        done += 1


def _round(
    files: list[Path],
    config: WatchConfig,
    settings: ServeSettings,
    loader: LoaderSettings,
    say: Callable[[str], None],
) -> WatchRound:
    started = time.time()
    report = WatchRound([str(p) for p in files], min(p.stat().st_mtime for p in files))
    say(f"ingest {len(files)} event file(s)")
    ingest = IngestConfig(
        SourceSpec(files[0]),
        Path(settings.workspace.dir),
        settings=load_settings(IngestSettings),
        more_files=tuple(files[1:]),
    )
    with connect(settings.neo4j) as driver:
        target = GraphTarget(driver, loader, database=settings.neo4j.database)
        report.ingest = asdict(run_events(ingest, target))
    refreshed = daily_job.run(
        daily_job.RefreshConfig(preload_top=config.preload_top), settings, loader, progress=say
    )
    report.refresh = asdict(refreshed)
    finished = time.time()
    report.seconds = round(finished - started, 2)
    report.served_after_seconds = round(finished - report.landed_at, 2)
    return report
