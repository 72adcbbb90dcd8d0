"""The critic: deterministic training, better than a trivial baseline on held-out pairs, save/load,
typicality of its own, the registry, and the shipped critic reproduced by retraining."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.stats import spearmanr

from cosmo_kg.embeddings import EmbeddingSettings
from cosmo_kg.errors import InputError
from cosmo_kg.refinement.critic import CRITICS, load_critic, new_critic
from cosmo_kg.refinement.evaluation import in_test_split
from cosmo_kg.refinement.runner import default_critic_dir
from cosmo_kg.refinement.training import CriticTrainConfig, read_annotations, train

SHIPPED_CRITIC = default_critic_dir()

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_annotations(tmp_path_factory: pytest.TempPathFactory, shipped_annotations: Path) -> Path:
    frame = read_annotations(shipped_annotations, ("intentionqa",))
    pairs = frame["behavior_id"].unique().sort().head(160)
    path = tmp_path_factory.mktemp("critic") / "annotations.parquet"
    frame.filter(pl.col("behavior_id").is_in(pairs.implode())).write_parquet(path)
    return path


def test_training_twice_with_one_seed_gives_the_same_critic_that_beats_chance(
    tmp_path: Path, small_annotations: Path, embedding_settings: EmbeddingSettings
) -> None:
    reports = [
        train(
            CriticTrainConfig(
                annotations=small_annotations,
                output=tmp_path / name,
                test_fraction=0.3,
                embedding=embedding_settings,
            )
        )
        for name in ("one", "two")
    ]
    with np.load(tmp_path / "one" / "weights.npz") as one, np.load(tmp_path / "two" / "weights.npz") as two:
        assert all(np.array_equal(one[key], two[key]) for key in one.files)
    plausibility = reports[0].evaluation.labels["plausibility"]
    assert plausibility.examples > 100
    assert plausibility.auc is not None and plausibility.auc > 0.7  # a constant scorer has AUC 0.5


def test_saved_critic_scores_like_the_trained_one(
    tmp_path: Path, small_annotations: Path, embedding_settings: EmbeddingSettings
) -> None:
    train(
        CriticTrainConfig(
            annotations=small_annotations, output=tmp_path / "critic", embedding=embedding_settings
        )
    )
    examples = read_annotations(small_annotations).head(8)
    first = load_critic(tmp_path / "critic", embedding_settings).score(examples)
    again = load_critic(tmp_path / "critic", embedding_settings).score(examples)
    assert first.equals(again)
    assert first["plausibility"].is_between(0, 1).all()


def test_cross_encoder_trains_and_scores_on_cpu(
    tmp_path: Path, small_annotations: Path, embedding_settings: EmbeddingSettings
) -> None:
    from cosmo_kg.refinement.cross_encoder import CrossEncoderCritic

    examples = read_annotations(small_annotations).head(32)
    critic = CrossEncoderCritic(embedding_settings, epochs=1, batch_size=16, max_length=64)
    assert critic.fit(examples)["plausibility"] == 32
    critic.save(tmp_path / "ce")
    scores = load_critic(tmp_path / "ce", embedding_settings).score(examples.head(4))
    assert scores.shape == (4, 2) and scores["typicality"].is_between(0, 1).all()


def test_the_registry_refuses_an_unknown_critic_and_names_the_known_ones(
    embedding_settings: EmbeddingSettings,
) -> None:
    with pytest.raises(InputError) as error:
        new_critic("gpt", embedding_settings)
    assert error.value.message == "unknown critic 'gpt'"
    assert error.value.hint == f"use one of: {', '.join(CRITICS)}"


def test_shipped_typicality_ranks_plausible_statements_by_how_typical_people_found_them(
    shipped_annotations: Path, embedding_settings: EmbeddingSettings
) -> None:
    # Every held-out gold statement was judged plausible; people graded how typical (0.6-1.0).
    # Plausibility cannot tell them apart, typicality must, and the two scores must differ.
    annotations = read_annotations(shipped_annotations, ("intentionqa",))
    gold = annotations.filter(
        (pl.col("annotator") == "human") & in_test_split(annotations["behavior_id"], 0.2, 0)
    )
    scores = load_critic(SHIPPED_CRITIC, embedding_settings).score(gold)
    human = gold["typicality"].to_numpy()
    typical = spearmanr(scores["typicality"].to_numpy(), human).statistic
    plausible = spearmanr(scores["plausibility"].to_numpy(), human).statistic
    assert typical > 0.2 and typical > plausible + 0.15
    atypical = gold.with_row_index().filter(pl.col("typicality") == 0.6)["index"].to_numpy()
    gap = np.abs(scores["typicality"].to_numpy() - scores["plausibility"].to_numpy())
    assert (gap[atypical] > 0.05).mean() > 0.5


def test_retraining_with_no_options_reproduces_the_shipped_critics_evaluation(
    tmp_path: Path, embedding_settings: EmbeddingSettings
) -> None:
    from click.testing import CliRunner

    from cosmo_kg.cli import cli

    # Only where to write and the embedding cache: neither changes the model.
    result = CliRunner().invoke(
        cli,
        [
            "critic",
            "train",
            "-o",
            str(tmp_path / "critic"),
            "--workspace-dir",
            str(tmp_path / "ws"),
            "--embeddings-cache-dir",
            embedding_settings.cache_dir,
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(next((tmp_path / "ws" / "reports").glob("critic-train-*.json")).read_text())
    shipped = json.loads((SHIPPED_CRITIC / "evaluation.json").read_text())
    new, old = report["evaluation"], shipped["evaluation"]
    assert abs(new["task1_accuracy"] - old["task1_accuracy"]) <= 0.01
    assert abs(new["typicality_spearman"] - old["typicality_spearman"]) <= 0.02
    for label in ("plausibility", "typicality"):
        assert abs(new["labels"][label]["auc"] - old["labels"][label]["auc"]) <= 0.01
