"""The local server's Java: its version, and a class-data-sharing archive of the Neo4j classes
that a clean stop keeps so that later starts (and the offline importer) start faster."""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from cosmo_kg.errors import ConfigError

if TYPE_CHECKING:
    from cosmo_kg.graph.server import LocalNeo4jSettings

MIN_JAVA = 17
CLASS_ARCHIVE_PENDING = "class-archive.pending"


def java_major_version() -> int:
    """The major version of ``java`` on PATH; ``ConfigError`` if it is missing."""
    text = _java_version_text()
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not match:
        raise ConfigError(f"cannot read the Java version from: {text.strip()[:200]}")
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major


def _java_version_text() -> str:
    java = shutil.which("java")
    if java is None:
        raise ConfigError(
            "Java is not installed (the local Neo4j needs Java 17)",
            hint="install a JDK 17, e.g. `apt-get install openjdk-17-jre-headless`",
        )
    return _version_output(java)


@functools.cache
def _version_output(java: str) -> str:
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    return out.stderr + out.stdout


def class_archive(settings: LocalNeo4jSettings) -> Path:
    """Java's class-data-sharing archive of the Neo4j classes, one per jar cache and Java build:
    a JVM that maps it starts in about 6 s instead of 10 s (the importer saves seconds too)."""
    java = hashlib.sha256(_java_version_text().encode()).hexdigest()[:12]
    return settings.jar_dir.parent / f"classes-{java}.jsa"


def class_sharing_flags(settings: LocalNeo4jSettings, *, record: bool = False) -> list[str]:
    """JVM flags that use the class archive; without one and with ``record``, flags that make
    this JVM write it when it exits (``stop`` then moves it into place)."""
    archive = class_archive(settings)
    if archive.is_file():
        return [f"-XX:SharedArchiveFile={archive}"]
    if not record:
        return []
    pending = _pending_archive(settings)
    _drop_pending(pending)
    draft = archive.with_name(f"{archive.name}.{os.getpid()}-{time.time_ns()}.tmp")
    pending.write_text(str(draft), encoding="utf-8")
    return [f"-XX:ArchiveClassesAtExit={draft}"]


def keep_pending_archive(settings: LocalNeo4jSettings) -> None:
    """The server exited cleanly: the archive it wrote at exit is complete."""
    pending = _pending_archive(settings)
    if pending.is_file():
        draft = Path(pending.read_text(encoding="utf-8"))
        if draft.is_file():
            draft.replace(class_archive(settings))
        pending.unlink()


def _pending_archive(settings: LocalNeo4jSettings) -> Path:
    """Names the archive draft a running server will write at exit."""
    return settings.home_path / "run" / CLASS_ARCHIVE_PENDING


def drop_pending_archive(settings: LocalNeo4jSettings) -> None:
    """A server that did not stop cleanly may have left half an archive behind."""
    _drop_pending(_pending_archive(settings))


def _drop_pending(pending: Path) -> None:
    if pending.is_file():
        Path(pending.read_text(encoding="utf-8")).unlink(missing_ok=True)
        pending.unlink()
