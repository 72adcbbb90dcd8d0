"""``cosmo-kg critic score``: every candidate scored by a critic, no filters applied."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from cosmo_kg.embeddings import EmbeddingSettings
from cosmo_kg.files import write_parquet_atomic
from cosmo_kg.refinement.clauses import statement_expr
from cosmo_kg.refinement.critic import load_critic
from cosmo_kg.refinement.runner import default_critic_dir, load_context


@dataclass(frozen=True)
class ScoreConfig:
    """Candidates and their context; ``critic_dir`` None = the shipped default critic."""

    candidates: Path
    pairs: Path
    products: Path
    output: Path
    critic_dir: Path | None = None
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)


@dataclass(frozen=True)
class ScoreReport:
    scored: int
    output: str


def score_candidates(config: ScoreConfig) -> ScoreReport:
    """Write ``candidate_id, behavior_id, relation, tail`` + plausibility and typicality of every
    candidate whose pair is known.

    Raises:
        InputError: an input file is missing or not the file it claims to be.
    """
    context = load_context(config).filter(pl.col("kind").is_not_null()).with_columns(statement_expr())
    critic = load_critic(config.critic_dir or default_critic_dir(), config.embedding)
    scores = critic.score(context)
    scored = context.select("candidate_id", "behavior_id", "relation", "tail").with_columns(scores)
    write_parquet_atomic(scored, config.output)
    return ScoreReport(scored=scored.height, output=str(config.output))
