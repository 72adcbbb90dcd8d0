"""What one ingest is: its settings, its config (source files, workspace, options), where its
increment is loaded, the report it returns, and the id that makes re-ingesting a file idempotent."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import neo4j

from cosmo_kg.files import file_digest
from cosmo_kg.ingest.formats import SourceSpec
from cosmo_kg.ingest.rules import TextLimits
from cosmo_kg.settings import SettingsGroup, setting

INGEST_VERSION = "1"


@dataclass(frozen=True)
class IngestSettings(SettingsGroup):
    section = "ingest"

    window_minutes: float = setting(
        30.0,
        "events: a purchase up to this many minutes after the click makes a search-buy",
        env="COSMO_INGEST_WINDOW_MINUTES",
    )
    max_basket: int = setting(
        50,
        "events: baskets with more distinct products are skipped for co-buy",
        env="COSMO_INGEST_MAX_BASKET",
    )
    bucket_rows: int = setting(
        1_000_000,
        "events: rows read at a time, and about the rows of one session "
        "bucket while deriving (bounds memory)",
        env="COSMO_INGEST_BUCKET_ROWS",
    )
    max_query_chars: int = setting(
        200, "longer queries are rejected as absurd", env="COSMO_INGEST_MAX_QUERY_CHARS"
    )
    max_title_chars: int = setting(
        1000, "longer product titles are rejected as absurd", env="COSMO_INGEST_MAX_TITLE_CHARS"
    )

    def validate(self) -> None:
        for name in ("window_minutes", "max_basket", "bucket_rows", "max_query_chars", "max_title_chars"):
            if getattr(self, name) <= 0:
                raise self.bad_value(name, "use a positive number")

    @property
    def limits(self) -> TextLimits:
        return TextLimits(max_query_chars=self.max_query_chars, max_title_chars=self.max_title_chars)


@dataclass(frozen=True)
class IngestConfig:
    """One ingest: the source file, the workspace whose store it joins, and options.

    ``adapter`` reads a public format instead of our columns; ``day`` labels the increment
    (re-ingesting a day replaces it; without a label the content of the files identifies it).
    ``more_files`` (events only) are the rest of the same log, read after ``source`` in this
    order with its options.
    """

    source: SourceSpec
    workspace_dir: Path
    adapter: str | None = None
    day: str | None = None
    settings: IngestSettings = field(default_factory=IngestSettings)
    more_files: tuple[Path, ...] = ()

    @property
    def sources(self) -> list[SourceSpec]:
        """Every file of this ingest, in order, each read with the options of ``source``."""
        return [self.source, *(replace(self.source, path=path) for path in self.more_files)]

    @property
    def rejects_dir(self) -> Path:
        return self.workspace_dir / "rejects"


@dataclass(frozen=True)
class GraphTarget:
    """Where and how to load an increment: an open driver and the loader's settings."""

    driver: neo4j.Driver
    loader_settings: Any
    database: str = "neo4j"


@dataclass
class IngestReport:
    command: str
    source: dict[str, Any]
    increment_id: str
    rows_in: int = 0
    rows_kept: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    rejects_files: list[str] = field(default_factory=list)
    written: dict[str, int] = field(default_factory=dict)
    store: dict[str, int] = field(default_factory=dict)
    replaced_increment: bool = False
    unknown_products_checked: bool = False
    tolerant_parse: bool = False
    derive: dict[str, Any] | None = None
    load: dict[str, Any] | None = None
    seconds: float = 0.0
    rows_per_second: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


def increment_id(command: str, config: IngestConfig, options: dict[str, Any]) -> str:
    """Same command, options and content of the files in order (or same ``day`` label) → same
    increment."""
    if config.day:
        label = re.sub(r"[^A-Za-z0-9._-]+", "_", config.day)
        return f"{command}-day-{label}"
    described = {
        **(config.source.describe() if not config.adapter else {}),
        "path": None,
        "adapter": config.adapter,
        **options,
    }
    digests = "|".join(file_digest(spec.path) for spec in config.sources)
    text = f"{INGEST_VERSION}|{command}|{sorted(described.items())!r}|{digests}"
    return f"{command}-{hashlib.blake2b(text.encode(), digest_size=10).hexdigest()}"
