"""`cosmo-kg refine` end to end on the shipped FolkScope sample, and resuming after a kill."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from cosmo_kg.cli import cli
from cosmo_kg.embeddings import EmbeddingSettings
from cosmo_kg.refinement.filters import RefineSettings
from cosmo_kg.refinement.runner import RefineConfig, run
from cosmo_kg.schemas import KNOWLEDGE

pytestmark = pytest.mark.slow


class Killed(Exception):
    pass


def _config(tmp: Path, sample: dict[str, Path], embedding: EmbeddingSettings) -> RefineConfig:
    return RefineConfig(
        **sample,
        output=tmp / "knowledge.parquet",
        rejects_dir=tmp / "rejects",
        settings=RefineSettings(chunk_rows=100),
        embedding=embedding,
    )


def test_refine_keeps_plausible_knowledge_and_rejects_the_rest_with_reasons(
    tmp_path: Path, refine_sample: dict[str, Path], embedding_settings: EmbeddingSettings
) -> None:
    report = run(_config(tmp_path, refine_sample, embedding_settings))
    knowledge = pl.read_parquet(report.output)
    rejects = pl.read_parquet(report.rejects_file)
    assert knowledge.columns == list(KNOWLEDGE.columns)
    assert 0 < report.knowledge_out < report.candidates_in
    assert (knowledge["plausibility"] > 0.5).all()
    assert knowledge["support"].sum() + len(rejects) == report.candidates_in
    assert {"incomplete", "copies_context", "low_plausibility"} <= set(report.rejected)
    assert report.steps["candidates"] >= report.steps["after_rules"] >= report.steps["after_critic"]


def test_refine_killed_mid_scoring_resumes_and_equals_an_uninterrupted_run(
    tmp_path: Path, refine_sample: dict[str, Path], embedding_settings: EmbeddingSettings
) -> None:
    whole = run(_config(tmp_path / "whole", refine_sample, embedding_settings))

    def kill_after_two(done: int, total: int) -> None:
        if done == 2:
            raise Killed

    config = _config(tmp_path / "killed", refine_sample, embedding_settings)
    with pytest.raises(Killed):
        run(config, progress=kill_after_two)
    assert not config.output.exists()
    resumed = run(config)
    assert resumed.chunks_reused == 2 and resumed.chunks_scored == whole.chunks_scored - 2
    assert pl.read_parquet(resumed.output).equals(pl.read_parquet(whole.output))


def test_refine_cli_prints_counts_and_a_missing_input_is_a_clear_error(
    tmp_path: Path, refine_sample: dict[str, Path], embedding_settings: EmbeddingSettings
) -> None:
    runner = CliRunner()
    args = [
        "refine",
        str(refine_sample["candidates"]),
        "--pairs",
        str(refine_sample["pairs"]),
        "--products",
        str(refine_sample["products"]),
        "-o",
        str(tmp_path / "k.parquet"),
        "--workspace-dir",
        str(tmp_path / "ws"),
        "--embeddings-cache-dir",
        embedding_settings.cache_dir,
    ]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "knowledge rows" in result.output and "rejected:" in result.output
    assert list((tmp_path / "ws" / "reports").glob("refine-*.json"))
    bad = runner.invoke(cli, [*args[:2], "--pairs", str(refine_sample["candidates"]), *args[4:]])
    assert bad.exit_code == 2
    assert "Error: " in bad.output and "not a pairs file" in bad.output
