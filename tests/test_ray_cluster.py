"""`generate --ray` and `refine --ray` on a real two-node Ray cluster on loopback.

The cluster (tests/ray_cluster.py) has two nodes of one CPU each, so two model actors; the runs
use the real SmolLM2 (greedy) and the shipped critic, through the `cosmo-kg` command.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from cosmo_kg.cli import cli
from cosmo_kg.samples.pairs import SampleInputs, sample_pairs, write_inputs

from . import ray_cluster
from .ray_cluster import LocalCluster

pytestmark = pytest.mark.slow
COSMO_KG = str(Path(sys.executable).with_name("cosmo-kg"))
GENERATION = [
    "--generation-backend",
    "transformers",
    "--generation-adapter",
    "none",
    "--generation-exemplars",
    "2",
    "--generation-max-new-tokens",
    "16",
    "--generation-threads",
    "1",
    "--generation-relations",
    "USED_FOR_EVE,xWANT",
    "--generation-shard-size",
    "1",
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    started = ray_cluster.start()
    yield started
    ray_cluster.stop(started)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> SampleInputs:
    pairs, products = sample_pairs(co_buy=3, search_buy=3)
    return write_inputs(tmp_path_factory.mktemp("inputs"), pairs, products)


def _cosmo(args: list[str], workspace: Path) -> subprocess.Popen[str]:
    env = {"COSMO_WORKSPACE": str(workspace), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(
        [COSMO_KG, *args],
        env=dict(os.environ) | env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> str:
    output, _ = process.communicate(timeout=400)
    assert process.returncode == 0, output
    return output


def _generate(inputs: SampleInputs, out: Path, *extra: str) -> subprocess.Popen[str]:
    args = ["generate", "--pairs", str(inputs.pairs), "--products", str(inputs.products), "--out", str(out)]
    return _cosmo([*args, *GENERATION, *extra], out.parent / f"{out.name}-workspace")


def _files(directory: Path, pattern: str) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.glob(pattern))}


@pytest.fixture(scope="module")
def single_process(inputs: SampleInputs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("single") / "candidates"
    _finish(_generate(inputs, out))
    return out


def test_generate_on_ray_writes_the_single_process_shards(
    cluster: LocalCluster, inputs: SampleInputs, single_process: Path, tmp_path: Path
) -> None:
    out = tmp_path / "candidates"
    output = _finish(_generate(inputs, out, "--ray", cluster.address))
    assert "ray:        2 actor(s), 0 shard(s) retried" in output
    expected = _files(single_process, "candidates-*.parquet")
    assert len(expected) == 6
    assert _files(out, "candidates-*.parquet") == expected
    again = _finish(_generate(inputs, out, "--ray", cluster.address))
    assert "6 shard(s), 6 resumed" in again


def test_generate_on_ray_survives_a_killed_actor(
    cluster: LocalCluster, inputs: SampleInputs, single_process: Path, tmp_path: Path
) -> None:
    out = tmp_path / "candidates"
    run = _generate(inputs, out, "--ray", cluster.address)
    ray_cluster.wait_for(
        lambda: any(out.glob("candidates-*.parquet")) or run.poll() is not None, 300, "a shard"
    )
    victims = cluster.actors()
    assert victims, "no actor process found on the cluster"
    victims[0].kill()
    output = _finish(run)
    assert "shard(s) retried" in output and "0 shard(s) retried" not in output
    assert _files(out, "candidates-*.parquet") == _files(single_process, "candidates-*.parquet")


@pytest.fixture
def own_cluster() -> Iterator[LocalCluster]:
    """A cluster of its own, for a test that loses one of its nodes."""
    started = ray_cluster.start()
    yield started
    ray_cluster.stop(started)


def test_generate_on_ray_survives_a_lost_node(
    own_cluster: LocalCluster, inputs: SampleInputs, single_process: Path, tmp_path: Path
) -> None:
    out = tmp_path / "candidates"
    run = _generate(inputs, out, "--ray", own_cluster.address)
    started = lambda: any(out.glob("candidates-*.parquet")) or run.poll() is not None  # noqa: E731
    ray_cluster.wait_for(started, 300, "the first shard")
    own_cluster.lose_second_node()
    output = _finish(run)
    assert "shard(s) retried" in output and "0 shard(s) retried" not in output
    assert _files(out, "candidates-*.parquet") == _files(single_process, "candidates-*.parquet")


def _refine(candidates: Path, inputs: SampleInputs, output: Path, *extra: str) -> str:
    args = ["refine", str(candidates), "--pairs", str(inputs.pairs), "--products", str(inputs.products)]
    # Every scored candidate kept (min plausibility 0), so the knowledge file holds the scores.
    args += ["-o", str(output), "--refine-chunk-rows", "4", "--refine-min-plausibility", "0", *extra]
    return _finish(_cosmo(args, output.parent / "workspace"))


def test_refine_on_ray_writes_the_single_process_knowledge(
    cluster: LocalCluster, inputs: SampleInputs, single_process: Path, tmp_path: Path
) -> None:
    _refine(single_process, inputs, tmp_path / "one" / "knowledge.parquet")
    output = _refine(single_process, inputs, tmp_path / "ray" / "knowledge.parquet", "--ray", cluster.address)
    assert "actor(s), 0 chunk(s) retried" in output
    assert pl.read_parquet(tmp_path / "ray" / "knowledge.parquet").height >= 8
    assert (tmp_path / "one" / "knowledge.parquet").read_bytes() == (
        tmp_path / "ray" / "knowledge.parquet"
    ).read_bytes()
    assert _files(tmp_path / "one" / "workspace" / "rejects", "*.parquet") == _files(
        tmp_path / "ray" / "workspace" / "rejects", "*.parquet"
    )


def test_ray_without_the_package_is_one_error_line(
    inputs: SampleInputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    args = ["generate", "--pairs", str(inputs.pairs), "--products", str(inputs.products)]
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "out"), "--ray", "auto"])
    assert result.exit_code != 0
    assert result.output.splitlines()[0] == "Error: --ray needs the ray package, which is not installed"
    assert "pip install 'cosmo-kg[ray]'" in result.output


def test_ray_address_nobody_listens_on_is_one_error_line(inputs: SampleInputs, tmp_path: Path) -> None:
    address = f"127.0.0.1:{ray_cluster.free_port()}"
    args = ["generate", "--pairs", str(inputs.pairs), "--products", str(inputs.products)]
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "out"), "--ray", address])
    assert result.exit_code != 0
    first = result.output.splitlines()[0]
    assert first.startswith(f"Error: cannot connect to the Ray cluster at '{address}'")
    assert "Hint: start one with `ray start --head" in result.output
