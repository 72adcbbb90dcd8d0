"""``instruct build``: the five tasks' instruction data from the bundled samples, split by pair."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from cosmo_kg.cli import cli
from cosmo_kg.generation.instruct_data import TASKS, InstructConfig, build
from cosmo_kg.generation.prompts import PairContext, load_library
from cosmo_kg.refinement.evaluation import in_test_split
from cosmo_kg.vocabulary import BehaviorKind


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("instruct")
    build(InstructConfig(out=out))
    return out


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_no_pair_is_in_both_train_and_eval(built: Path) -> None:
    train = {r["behavior_id"] for r in _records(built / "train.jsonl")}
    held_out = {r["behavior_id"] for r in _records(built / "eval.jsonl")}
    assert train and held_out
    assert not train & held_out


def test_held_out_pairs_are_the_critics_split(built: Path) -> None:
    ids = pl.Series([r["behavior_id"] for r in _records(built / "eval.jsonl")])
    assert in_test_split(ids, 0.2, 0).all()


def test_every_task_has_three_phrasings_in_both_forms(built: Path) -> None:
    chat, plain = _records(built / "train.jsonl"), _records(built / "train.instruction.jsonl")
    assert [r["id"] for r in chat] == [r["id"] for r in plain]
    for task in TASKS:
        assert {r["template"] for r in chat if r["task"] == task} == {0, 1, 2}, task
    first = chat[0]
    assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant"]
    assert set(plain[0]) >= {"instruction", "input", "output"}
    assert plain[0]["output"] == first["messages"][-1]["content"]


def test_examples_are_unique(built: Path) -> None:
    records = _records(built / "train.jsonl") + _records(built / "eval.jsonl")
    keys = [json.dumps([r["task"], r["messages"]]).lower() for r in records]
    assert len(keys) == len(set(keys))


def test_generation_phrasing_zero_is_the_prompt_generate_renders(built: Path) -> None:
    record = next(
        r for r in _records(built / "train.jsonl") if r["task"] == "generation" and r["template"] == 0
    )
    user = record["messages"][1]["content"].splitlines()
    pair = PairContext(
        record["behavior_id"],
        BehaviorKind.CO_BUY,
        title=user[0].split(": ", 1)[1],
        title_b=user[1].split(": ", 1)[1],
    )
    rendered = load_library().get(BehaviorKind.CO_BUY, record["relation"]).render(pair, exemplars=0)
    assert tuple(record["messages"][:2]) == rendered.messages
    answer = record["messages"][2]["content"]
    assert answer.startswith(rendered.prefill)  # the opener and "1.": the parser reads the rest


def test_dataset_card_counts_tasks_relations_domains_and_sources(built: Path) -> None:
    card = json.loads((built / "card.json").read_text(encoding="utf-8"))
    assert set(card["by_task"]) == set(TASKS)
    assert sum(card["examples"].values()) == sum(sum(c.values()) for c in card["by_task"].values())
    assert {"CAPABLE_OF", "IS_A"} <= set(card["by_relation"])
    assert {"intentionqa", "folkscope", "wands"} == set(card["by_source"])
    assert "| generation |" in (built / "README.md").read_text(encoding="utf-8")


def test_build_command_reports_counts(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["instruct", "build", "--out", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    assert "generation" in result.output and (tmp_path / "data" / "eval.instruction.jsonl").is_file()


def test_build_into_a_file_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    result = CliRunner().invoke(cli, ["instruct", "build", "--out", str(target)])
    assert result.exit_code != 0
