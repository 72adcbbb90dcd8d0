"""The critic: deterministic training, better than a trivial baseline on held-out pairs, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from cosmo_kg.embeddings import EmbeddingSettings
from cosmo_kg.refinement.critic import load_critic
from cosmo_kg.refinement.training import CriticTrainConfig, read_annotations, train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_annotations(tmp_path_factory: pytest.TempPathFactory, shipped_annotations: Path) -> Path:
    frame = read_annotations(shipped_annotations, ("intentionqa",))
    pairs = frame["behavior_id"].unique().sort().head(160)
    path = tmp_path_factory.mktemp("critic") / "annotations.parquet"
    frame.filter(pl.col("behavior_id").is_in(pairs.implode())).write_parquet(path)
    return path


def test_training_twice_with_one_seed_gives_the_same_critic_that_beats_chance(
        tmp_path: Path, small_annotations: Path, embedding_settings: EmbeddingSettings) -> None:
    reports = [train(CriticTrainConfig(annotations=small_annotations, output=tmp_path / name,
                                       test_fraction=0.3, embedding=embedding_settings))
               for name in ("one", "two")]
    with np.load(tmp_path / "one" / "weights.npz") as one, np.load(tmp_path / "two" / "weights.npz") as two:
        assert all(np.array_equal(one[key], two[key]) for key in one.files)
    plausibility = reports[0].evaluation.labels["plausibility"]
    assert plausibility.examples > 100
    assert plausibility.auc is not None and plausibility.auc > 0.7  # a constant scorer has AUC 0.5


def test_saved_critic_scores_like_the_trained_one(
        tmp_path: Path, small_annotations: Path, embedding_settings: EmbeddingSettings) -> None:
    train(CriticTrainConfig(annotations=small_annotations, output=tmp_path / "critic",
                            embedding=embedding_settings))
    examples = read_annotations(small_annotations).head(8)
    first = load_critic(tmp_path / "critic", embedding_settings).score(examples)
    again = load_critic(tmp_path / "critic", embedding_settings).score(examples)
    assert first.equals(again)
    assert first["plausibility"].is_between(0, 1).all()


def test_cross_encoder_trains_and_scores_on_cpu(
        tmp_path: Path, small_annotations: Path, embedding_settings: EmbeddingSettings) -> None:
    from cosmo_kg.refinement.cross_encoder import CrossEncoderCritic

    examples = read_annotations(small_annotations).head(32)
    critic = CrossEncoderCritic(embedding_settings, epochs=1, batch_size=16, max_length=64)
    assert critic.fit(examples)["plausibility"] == 32
    critic.save(tmp_path / "ce")
    scores = load_critic(tmp_path / "ce", embedding_settings).score(examples.head(4))
    assert scores.shape == (4, 2) and scores["typicality"].is_between(0, 1).all()
