"""``instruct eval``: base vs tuned on a small held-out split, with the real models and critic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cosmo_kg.cli import cli
from cosmo_kg.generation import lm_metrics
from cosmo_kg.generation.instruct_data import InstructConfig, build
from cosmo_kg.generation.lm_eval import LmEvalConfig, held_out_questions
from cosmo_kg.refinement.evaluation import in_test_split


def test_copy_rate_counts_tails_that_mostly_repeat_the_head() -> None:
    assert lm_metrics.copies_head("a novara pergola kit", "novara pergola")
    assert lm_metrics.copies_head("desk lamps", "LED Desk Lamp with USB")  # half the words are the head's
    assert not lm_metrics.copies_head("make a custom pergola", "novara pergola")
    assert not lm_metrics.copies_head("go camping", "Coleman Dome Tent")


def test_eval_questions_are_held_out_pairs_only(tmp_path: Path) -> None:
    questions = held_out_questions(LmEvalConfig(data=tmp_path, out=tmp_path, questions=500))
    assert questions.height > 100
    assert in_test_split(questions["behavior_id"], 0.2, 0).all()
    assert questions["behavior_id"].n_unique() == questions.height


@pytest.mark.slow
def test_eval_on_a_small_split_writes_its_report(tmp_path: Path) -> None:
    build(InstructConfig(out=tmp_path / "data"))
    result = CliRunner().invoke(
        cli,
        [
            "instruct",
            "eval",
            "--data",
            str(tmp_path / "data"),
            "--out",
            str(tmp_path / "eval"),
            "--questions",
            "2",
            "--search-pairs",
            "1",
            "--relations",
            "CAPABLE_OF",
            "--judge-examples",
            "4",
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "eval" / "eval_report.json").read_text(encoding="utf-8"))
    assert report["held_out"] == {"co_buy_pairs": 2, "search_buy_pairs": 1}
    assert report["base"]["exemplars"] == 3 and report["tuned"]["exemplars"] == 0
    assert report["tuned"]["model"].startswith("SmolLM2-135M-Instruct+smollm2-cosmo@")
    assert set(report["tuned"]["tasks"]) == {"plausibility", "typicality", "co_buy", "search_relevance"}
    assert report["naive_titles_gold_match"]["questions"] == 2
    assert "gold match" in result.output
