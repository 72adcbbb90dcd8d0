"""The ``vllm`` backend where it cannot run: no vllm package, no GPU (this machine, and CI)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import SampleInputs
from .test_cli import _generate

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("vllm") is not None, reason="vllm is installed: these are its absence's tests"
)


def test_vllm_backend_without_vllm_is_a_clear_error_with_the_way_out(
    small_inputs: SampleInputs, tmp_path: Path
) -> None:
    code, stderr = _generate(small_inputs, tmp_path / "out", "--backend", "vllm")
    assert code == 2
    assert stderr.splitlines()[0] == (
        "Error: the vllm backend needs the vllm package (0.8.5-0.9.x) and a CUDA GPU"
    )
    assert "Hint: pip install 'cosmo-kg[gpu]'" in stderr and "vllm serve" in stderr
    assert not list((tmp_path / "out").glob("candidates-*.parquet"))


def test_gpu_benchmark_without_vllm_says_why_and_measures_nothing() -> None:
    bench = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_generation.py"
    result = subprocess.run(
        [sys.executable, str(bench), "--gpu"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "--gpu cannot run here: the vllm package is not installed" in result.stderr
    assert "Traceback" not in result.stderr
