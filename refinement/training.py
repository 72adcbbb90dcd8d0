"""``cosmo-kg critic train|eval``: fit a critic on annotations and measure it on held-out pairs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from cosmo_kg.embeddings import Embedder, EmbeddingSettings
from cosmo_kg.errors import InputError
from cosmo_kg.refinement.annotations import ANNOTATIONS
from cosmo_kg.refinement.critic import Critic, load_critic, new_critic
from cosmo_kg.refinement.evaluation import (
    CriticEvaluation,
    evaluate_scored,
    in_test_split,
    score_annotations,
    task1_accuracy,
    task1_cosine_accuracy,
)

# The shipped critic learns from people's co-buy judgements and the constructed search-buy examples.
DEFAULT_SOURCES = ("intentionqa", "wands")


@dataclass(frozen=True)
class CriticTrainConfig:
    """Train ``critic`` on ``annotations`` minus the held-out pairs; save it to ``output``.

    ``task1``: IntentionQA task 1 questions (parquet from ``annotate import-public``); only questions
    about held-out pairs are asked. ``sources``: keep annotations of these sources only (empty = all).
    ``diagram``: also write a reliability diagram (PNG) of the held-out scores there.
    """

    annotations: Path
    output: Path
    critic: str = "embedding-lr"
    task1: Path | None = None
    sources: tuple[str, ...] = ()
    test_fraction: float = 0.2
    seed: int = 0
    threshold: float = 0.5
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    critic_options: dict[str, Any] = field(default_factory=dict)
    diagram: Path | None = None


@dataclass
class CriticReport:
    """Counts and held-out quality of one training (or evaluation) run."""

    critic: str
    output: str
    train_examples: int
    test_examples: int
    test_pairs: int
    trained_on: dict[str, int]
    evaluation: CriticEvaluation
    seconds: float


def read_annotations(path: Path, sources: tuple[str, ...] = ()) -> pl.DataFrame:
    """Annotations conformed to the ``ANNOTATIONS`` contract, optionally of some sources only."""
    if not path.is_file():
        raise InputError(f"annotations file {path} does not exist")
    frame = pl.scan_parquet(path)
    ANNOTATIONS.check_columns(frame, path)
    data = ANNOTATIONS.conform(frame).collect()
    return data.filter(pl.col("source").is_in(list(sources))) if sources else data


def split(frame: pl.DataFrame, test_fraction: float, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    held_out = in_test_split(frame["behavior_id"], test_fraction, seed)
    return frame.filter(~held_out), frame.filter(held_out)


def _evaluate(critic: Critic, test: pl.DataFrame, config: CriticTrainConfig) -> CriticEvaluation:
    evaluation = CriticEvaluation()
    if not test.is_empty():
        scored = score_annotations(critic, test)
        evaluation = evaluate_scored(scored, config.threshold)
        if config.diagram is not None:
            from cosmo_kg.refinement.reliability import write_reliability_diagram

            write_reliability_diagram(scored, config.diagram)
    if config.task1 is not None:
        questions = pl.read_parquet(config.task1)
        questions = questions.filter(
            in_test_split(questions["behavior_id"], config.test_fraction, config.seed)
        )
        evaluation.task1_questions = len(questions)
        if len(questions):
            evaluation.task1_accuracy = task1_accuracy(critic, questions)
            evaluation.task1_cosine_accuracy = task1_cosine_accuracy(Embedder(config.embedding), questions)
    return evaluation


def train(config: CriticTrainConfig) -> CriticReport:
    """Train, save and evaluate a critic. Deterministic for a given seed and data.

    Raises:
        InputError: the annotations are missing, malformed or lack a label class.
    """
    started = time.perf_counter()
    train_rows, test_rows = split(
        read_annotations(config.annotations, config.sources), config.test_fraction, config.seed
    )
    critic = new_critic(config.critic, config.embedding, seed=config.seed, **config.critic_options)
    trained_on = critic.fit(train_rows)
    critic.save(config.output)
    evaluation = _evaluate(critic, test_rows, config)
    return CriticReport(
        config.critic,
        str(config.output),
        len(train_rows),
        len(test_rows),
        test_rows["behavior_id"].n_unique(),
        trained_on,
        evaluation,
        time.perf_counter() - started,
    )


def evaluate(config: CriticTrainConfig) -> CriticReport:
    """Evaluate the saved critic in ``config.output`` on the held-out split of ``config.annotations``."""
    started = time.perf_counter()
    _, test_rows = split(
        read_annotations(config.annotations, config.sources), config.test_fraction, config.seed
    )
    critic = load_critic(config.output, config.embedding)
    evaluation = _evaluate(critic, test_rows, config)
    return CriticReport(
        getattr(critic, "name", config.critic),
        str(config.output),
        0,
        len(test_rows),
        test_rows["behavior_id"].n_unique(),
        {},
        evaluation,
        time.perf_counter() - started,
    )
