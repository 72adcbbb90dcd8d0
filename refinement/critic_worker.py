"""The critic as a shard worker (``cosmo_kg.distributed``): one load, then one chunk at a time.

On a Ray cluster the critic directory travels with the worker as bytes (``CriticFiles``), so a
node needs cosmo-kg installed but not the driver's files.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from cosmo_kg.embeddings import EmbeddingSettings
from cosmo_kg.refinement.clauses import statement_expr
from cosmo_kg.refinement.critic import Critic, load_critic


@dataclass(frozen=True)
class CriticFiles:
    """Every file of a critic directory (relative path -> bytes)."""

    files: dict[str, bytes]

    @classmethod
    def read(cls, directory: Path) -> CriticFiles:
        paths = (p for p in sorted(directory.rglob("*")) if p.is_file())
        return cls({str(p.relative_to(directory)): p.read_bytes() for p in paths})

    def unpack(self) -> Path:
        """The files in a new temporary directory (the caller removes it)."""
        directory = Path(tempfile.mkdtemp(prefix="cosmo-critic-"))
        for name, data in self.files.items():
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            (directory / name).write_bytes(data)
        return directory


class CriticWorker:
    """Plausibility and typicality of one chunk of candidates, keyed by ``candidate_id``."""

    def __init__(self, critic: Critic, scratch: Path | None = None) -> None:
        self.critic, self.scratch = critic, scratch

    @classmethod
    def from_files(cls, files: CriticFiles, embedding: EmbeddingSettings) -> CriticWorker:
        scratch = files.unpack()
        return cls(load_critic(scratch, embedding), scratch)

    def run(self, chunk: pl.DataFrame, tick: Callable[[int], None]) -> pl.DataFrame:
        scores = self.critic.score(chunk.with_columns(statement_expr()))
        tick(chunk.height)
        return chunk.select("candidate_id").with_columns(scores)

    def close(self) -> None:
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
