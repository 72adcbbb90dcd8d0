"""``instruct train``: a tiny real LoRA run on SmolLM2 trains, checkpoints, survives SIGKILL,
resumes, and its adapter reloads and generates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from cosmo_kg.cli import cli
from cosmo_kg.generation.instruct_data import InstructConfig, build
from cosmo_kg.generation.tuning import STATE
from cosmo_kg.generation.tuning_data import read_examples, step_plan

TINY = [
    "--tune-tasks",
    "generation:12,co_buy:4",
    "--tune-max-steps",
    "4",
    "--tune-batch-size",
    "2",
    "--tune-rank",
    "2",
    "--tune-top-layers",
    "1",
    "--tune-checkpoint-every",
    "1",
    "--tune-eval-examples",
    "2",
    "--tune-threads",
    "1",
]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("instruct")
    build(InstructConfig(out=out))
    return out


def test_step_plan_is_a_pure_function_of_data_and_seed() -> None:
    lengths = [5, 9, 3, 7, 2, 8, 6, 4]
    plan = step_plan(lengths, 3, 2.0, seed=1)
    assert plan == step_plan(lengths, 3, 2.0, seed=1)
    assert sorted(i for batch in plan[:3] for i in batch) == list(range(8))  # one epoch, then the next
    assert len(step_plan(lengths, 3, 0.5, seed=1)) == 2


def test_task_limits_take_the_run_time_phrasing_first(data: Path) -> None:
    rows = read_examples(data / "train.jsonl", "generation:5")
    assert len(rows) == 5
    assert all(r[0]["content"].startswith("Please provide typical explanation") for r in rows)


def test_bad_task_limit_is_a_clear_error(data: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["instruct", "train", "--data", str(data), "--out", str(tmp_path), "--tune-tasks", "generation:many"],
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: setting tune.tasks has a bad item 'generation:many'")


def _kill_after_first_checkpoint(data: Path, out: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "cosmo_kg.cli",
        "instruct",
        "train",
        "--data",
        str(data),
        "--out",
        str(out),
        *TINY,
    ]
    log = out.parent / "train.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        while not (out / "checkpoint" / STATE).exists():
            assert process.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "no checkpoint within 5 minutes"
            time.sleep(0.2)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.slow
def test_tiny_lora_run_resumes_after_sigkill_and_its_adapter_generates(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    _kill_after_first_checkpoint(data, out)
    assert not (out / "adapter").exists()

    result = CliRunner().invoke(cli, ["instruct", "train", "--data", str(data), "--out", str(out), *TINY])
    assert result.exit_code == 0, result.output
    assert "resumed at step" in result.output
    report = json.loads((out / "training_report.json").read_text(encoding="utf-8"))
    assert report["steps"] == 4 and report["resumed_from_step"] >= 1
    assert len(report["losses"]) == 4 and report["tokens_per_second"] > 0
    assert (out / "loss_curve.png").stat().st_size > 1000
    assert {p.name for p in (out / "adapter").iterdir()} == {
        "adapter_config.json",
        "adapter_model.safetensors",
    }

    other_rank = [
        ("4" if previous == "--tune-rank" else x) for previous, x in zip(["", *TINY[:-1]], TINY, strict=True)
    ]
    arguments = ["instruct", "train", "--data", str(data), "--out", str(out), *other_rank]
    changed = CliRunner().invoke(cli, arguments)
    assert changed.exit_code == 2 and "holds a training run with other settings" in changed.stderr

    from cosmo_kg.generation.backend import BackendSettings, create_backend
    from cosmo_kg.generation.prompts import PairContext, load_library
    from cosmo_kg.generation.settings import GenerationSettings, OpenAISettings, VllmSettings
    from cosmo_kg.vocabulary import BehaviorKind

    settings = GenerationSettings(
        backend="transformers", adapter=str(out / "adapter"), max_new_tokens=8, threads=1
    )
    backend = create_backend(BackendSettings(settings, OpenAISettings(), VllmSettings()))
    pair = PairContext("p", BehaviorKind.CO_BUY, "Camping Tent for 4", title_b="Sleeping Bag")
    completion = backend.generate(
        [load_library().get(BehaviorKind.CO_BUY, "CAPABLE_OF").render(pair, exemplars=0)]
    )
    assert completion[0].tokens > 0
    assert backend.model_name.startswith("SmolLM2-135M-Instruct+adapter@")
    backend.close()
