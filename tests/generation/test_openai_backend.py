"""The ``openai`` backend against a real OpenAI-compatible server: llama-cpp-python's
``llama_cpp.server`` serving the bundled SmolLM2 GGUF on loopback (installed by
scripts/install_llama_cpp.sh; a missing install fails these tests, it does not skip them)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import polars as pl
import pytest

from cosmo_kg.errors import BackendError
from cosmo_kg.generation.backend import BackendSettings
from cosmo_kg.generation.llama_server import LlamaServer, start_llama_server
from cosmo_kg.generation.openai_backend import OpenAIBackend
from cosmo_kg.generation.runner import GenerateConfig, GenerateProgress, run, shard_path
from cosmo_kg.generation.settings import OpenAISettings, VllmSettings

from .conftest import SampleInputs, fast_settings, sample_pairs, write_inputs
from .test_openai_concurrency import InFlightCounter

pytestmark = pytest.mark.slow
MODEL = "smollm2"


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    server = start_llama_server(tmp_path_factory.mktemp("llama") / "server.log", model_alias=MODEL)
    yield server
    server.stop()


def _settings(base_url: str, concurrency: int = 2, **generation: object) -> BackendSettings:
    server = OpenAISettings(
        base_url=base_url, concurrency=concurrency, max_retries=2, backoff=0.2, timeout=60.0
    )
    return BackendSettings(
        fast_settings(backend="openai", model=MODEL, relations="xWANT", **generation), server, VllmSettings()
    )


@pytest.mark.parametrize("prompt_format", ["raw", "chat"])
def test_openai_backend_generates_candidates_from_a_real_server(
    llama_server: LlamaServer, small_inputs: SampleInputs, tmp_path: Path, prompt_format: str
) -> None:
    settings = _settings(llama_server.base_url, prompt_format=prompt_format)
    report = run(
        GenerateConfig(
            small_inputs.pairs, small_inputs.products, tmp_path / "out", tmp_path / "rej", settings
        )
    )
    assert report.backend == "openai" and report.model == MODEL
    assert report.prompts == 5 and report.tokens > 0
    assert report.candidates >= 3  # most of the five prompts give at least one usable tail


def test_server_stopped_mid_run_is_retried_then_fails_clearly_and_the_run_resumes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pairs, products = sample_pairs(co_buy=2, search_buy=1)
    inputs = write_inputs(tmp_path / "in", pairs, products)
    server = start_llama_server(tmp_path / "server.log", model_alias=MODEL)
    config = GenerateConfig(
        inputs.pairs,
        inputs.products,
        tmp_path / "out",
        tmp_path / "rej",
        _settings(server.base_url, shard_size=1),
    )

    def stop_after_first_shard(progress: GenerateProgress) -> None:
        if progress.pairs_done >= 1:
            server.stop()

    try:
        with caplog.at_level(logging.DEBUG, logger="cosmo_kg.generation.openai_backend"):
            started = time.monotonic()
            with pytest.raises(BackendError, match=r"OpenAI-compatible server at .* failed 3 times"):
                run(config, progress=stop_after_first_shard)
        assert time.monotonic() - started >= 0.2 + 0.4  # two backoffs were waited for
        assert sum("retrying" in r.message for r in caplog.records) == 2
        assert shard_path(config.out, 0).exists() and not shard_path(config.out, 1).exists()
    finally:
        server.stop()

    restarted = start_llama_server(tmp_path / "server.log", model_alias=MODEL)
    try:
        moved = _settings(restarted.base_url, shard_size=1)
        report = run(GenerateConfig(config.pairs, config.products, config.out, config.rejects_dir, moved))
    finally:
        restarted.stop()
    assert report.shards_resumed == 1 and report.shards_total == 3 and report.pairs_in == 3


def _run(
    server: LlamaServer, inputs: SampleInputs, out: Path, concurrency: int, **generation: object
) -> tuple[pl.DataFrame, int]:
    """Generate into ``out`` through a transport that counts requests in flight; returns the
    candidates and the most requests the server had at once."""
    counter = InFlightCounter(httpx.AsyncHTTPTransport())
    settings = _settings(server.base_url, concurrency, **generation)
    backend = OpenAIBackend(settings, transport=counter)
    try:
        report = run(
            GenerateConfig(inputs.pairs, inputs.products, out, out.parent / "rej", settings), backend=backend
        )
    finally:
        backend.close()
    assert counter.requests == report.prompts
    return pl.read_parquet(shard_path(out, 0)), counter.most


def test_the_server_sees_concurrency_requests_in_flight_whatever_the_batch_size(
    llama_server: LlamaServer, small_inputs: SampleInputs, tmp_path: Path
) -> None:
    _, most = _run(llama_server, small_inputs, tmp_path / "out", concurrency=3, batch_size=1)
    assert most == 3  # five prompts, one shard: three at once although batch_size is 1


@pytest.mark.parametrize("prompt_format", ["raw", "chat"])
def test_greedy_candidates_at_concurrency_4_equal_those_at_concurrency_1(
    llama_server: LlamaServer, small_inputs: SampleInputs, tmp_path: Path, prompt_format: str
) -> None:
    one, most_one = _run(llama_server, small_inputs, tmp_path / "c1" / "out", 1, prompt_format=prompt_format)
    four, most_four = _run(
        llama_server, small_inputs, tmp_path / "c4" / "out", 4, prompt_format=prompt_format
    )
    assert (most_one, most_four) == (1, 4)
    assert one.height >= 3 and one.equals(four)
