"""The generate stage end to end with the real SmolLM2-135M-Instruct (transformers backend)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import polars as pl
import pytest
from click.testing import CliRunner

from cosmo_kg.cli import cli
from cosmo_kg.errors import ConfigError
from cosmo_kg.generation.backend import BackendSettings, LLMBackend, create_backend
from cosmo_kg.generation.runner import GenerateConfig, run, shard_path
from cosmo_kg.schemas import CANDIDATES

from .conftest import SampleInputs, default_groups, fast_settings, sample_pairs, write_inputs

pytestmark = pytest.mark.slow
SETTINGS = fast_settings()
CLI_OPTIONS = [
    "--generation-exemplars",
    "2",
    "--generation-max-new-tokens",
    "24",
    "--generation-threads",
    "1",
    "--generation-backend",
    "transformers",
    "--generation-adapter",
    "none",
    "--generation-relations",
    "USED_FOR_EVE,xWANT",
]


@pytest.fixture(scope="module")
def smollm2() -> Iterator[LLMBackend]:
    backend = create_backend(BackendSettings(SETTINGS, *default_groups()))
    yield backend
    backend.close()


def _config(inputs: SampleInputs, out: Path, **changes: object) -> GenerateConfig:
    return GenerateConfig(
        pairs=inputs.pairs,
        products=inputs.products,
        out=out,
        rejects_dir=out.parent / "rejects",
        backend=BackendSettings(fast_settings(**changes), *default_groups()),
    )


def _candidates(out: Path) -> pl.DataFrame:
    return pl.read_parquet(sorted(out.glob("candidates-*.parquet"))).sort("behavior_id", "relation", "rank")


def test_live_generation_explains_real_pairs(
    small_inputs: SampleInputs, smollm2: LLMBackend, tmp_path: Path
) -> None:
    report = run(_config(small_inputs, tmp_path / "out", shard_size=2), backend=smollm2)
    candidates = _candidates(tmp_path / "out")
    assert report.pairs_in == 5 and report.prompts == 10 and report.shards_total == 3
    assert report.candidates == candidates.height and report.tokens > 0
    assert report.parse_failures <= 3  # a 135M model: most prompts give usable lists
    assert candidates.height >= 10
    assert set(CANDIDATES.columns) <= set(candidates.columns)
    assert candidates["candidate_id"].is_unique().all()
    assert set(candidates["relation"]) == {"USED_FOR_EVE", "xWANT"}
    assert candidates["model"].unique().to_list() == ["SmolLM2-135M-Instruct"]
    version = r"^(co_buy|search_buy)\.(USED_FOR_EVE|xWANT)@v1\.1\+"
    assert candidates["prompt_version"].str.contains(version).all()
    assert (candidates["exemplar_ids"].str.count_matches(";") == 1).all()  # two exemplars recorded
    assert report.prompt_versions["co_buy.xWANT"].startswith("co_buy.xWANT@v1.1+")


def test_bad_pairs_go_to_rejects_with_a_reason(smollm2: LLMBackend, tmp_path: Path) -> None:
    pairs, products = sample_pairs(co_buy=1, search_buy=1)
    broken = pl.DataFrame(
        {
            "behavior_id": ["bad-1", "bad-2", "bad-3"],
            "kind": ["co_buy", "search_buy", "clicked"],
            "query": [None, "  ", "x"],
            "product_id": [pairs["product_id"][0]] * 3,
            "product_id_b": ["NO-SUCH-PRODUCT", None, None],
        }
    )
    inputs = write_inputs(tmp_path / "in", pl.concat([pairs, broken], how="diagonal_relaxed"), products)
    report = run(_config(inputs, tmp_path / "out", relations="xWANT"), backend=smollm2)
    assert report.pairs_in == 5 and report.prompts == 2
    assert report.pairs_rejected == {
        "co-buy pair with unknown product_id_b": 1,
        "search-buy pair without query": 1,
        "unknown kind": 1,
    }
    rejects = pl.read_parquet(Path(report.rejects_dir) / "pairs-00000.parquet")
    assert sorted(rejects["behavior_id"]) == ["bad-1", "bad-2", "bad-3"] and "reason" in rejects.columns


def test_out_dir_of_another_run_is_refused(small_inputs: SampleInputs, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text('{"run_key": "0123456789abcdef"}')
    with pytest.raises(ConfigError, match="holds candidates of another run"):
        run(_config(small_inputs, out))


def test_a_scratch_out_dir_of_another_run_is_replaced(
    small_inputs: SampleInputs, tmp_path: Path, smollm2: LLMBackend
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text('{"run_key": "0123456789abcdef"}')
    (out / "candidates-00000.parquet").write_bytes(b"stale")
    config = dataclasses.replace(_config(small_inputs, out, relations="xWANT"), replace_other_run=True)
    report = run(config, backend=smollm2)
    assert report.shards_resumed == 0 and report.candidates == _candidates(out).height
    assert json.loads((out / "manifest.json").read_text())["run_key"] == report.run_key


def test_malformed_output_with_on_error_raise_stops_with_a_clear_error(
    small_inputs: SampleInputs, tmp_path: Path
) -> None:
    # One new token cannot finish an item: every continuation is a cut fragment.
    result = CliRunner().invoke(
        cli,
        [
            "generate",
            "--pairs",
            str(small_inputs.pairs),
            "--products",
            str(small_inputs.products),
            "--out",
            str(tmp_path / "out"),
            "--workspace-dir",
            str(tmp_path / "ws"),
            *CLI_OPTIONS,
            "--generation-max-new-tokens",
            "1",
            "--generation-on-error",
            "raise",
        ],
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: malformed model output for ")
    assert "Hint: use --generation-on-error skip" in result.stderr


def _generate_cli(
    inputs: SampleInputs, out: Path, workspace: Path, log: IO[bytes]
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "cosmo_kg.cli",
        "generate",
        "--pairs",
        str(inputs.pairs),
        "--products",
        str(inputs.products),
        "--out",
        str(out),
        "--generation-shard-size",
        "1",
        "--generation-relations",
        "USED_FOR_EVE",
        *CLI_OPTIONS[:10],
    ]
    env = os.environ | {"COSMO_WORKSPACE": str(workspace)}
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def test_killed_run_resumes_to_the_same_candidates_as_an_uninterrupted_run(
    smollm2: LLMBackend, tmp_path: Path
) -> None:
    pairs, products = sample_pairs(co_buy=2, search_buy=1)
    inputs = write_inputs(tmp_path / "in", pairs, products)
    reference = tmp_path / "reference"
    run(_config(inputs, reference, shard_size=1, relations="USED_FOR_EVE"), backend=smollm2)

    out, log = tmp_path / "out", tmp_path / "generate.log"
    with log.open("wb") as sink:
        first = _generate_cli(inputs, out, tmp_path / "ws", sink)
        deadline = time.monotonic() + 400
        while not shard_path(out, 0).exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert shard_path(out, 0).exists() and not shard_path(out, 2).exists()

    with log.open("wb") as sink:
        second = _generate_cli(inputs, out, tmp_path / "ws", sink)
        assert second.wait(timeout=400) == 0, log.read_text()
    assert "resumed" in log.read_text()
    assert not list(out.glob("*.partial"))
    assert _candidates(out).equals(_candidates(reference))
