"""How many requests the ``openai`` backend keeps in flight, and in what order its results come.

The in-process server below is a transport double (allowed for an LLM transport): it answers each
``/completions`` request with its own prompt, the earlier prompts the later, and counts the
requests in flight. The runner-level tests use the real llama.cpp server and only watch the
traffic through a counting wrapper around httpx's own transport.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from cosmo_kg.errors import BackendError, ConfigError
from cosmo_kg.generation.backend import BackendSettings, prompts_per_call
from cosmo_kg.generation.llama_server import start_llama_server
from cosmo_kg.generation.openai_backend import OpenAIBackend
from cosmo_kg.generation.prompts import PairContext, RenderedPrompt
from cosmo_kg.generation.settings import OpenAISettings, VllmSettings
from cosmo_kg.generation.vllm_backend import VllmBackend
from cosmo_kg.vocabulary import BehaviorKind

from .conftest import fast_settings


class InFlightCounter(httpx.AsyncBaseTransport):
    """Passes requests to ``inner`` and records the most that were in flight at once."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner, self.in_flight, self.most, self.requests = inner, 0, 0, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.requests += 1
        self.most = max(self.most, self.in_flight)
        try:
            return await self.inner.handle_async_request(request)
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        await self.inner.aclose()


class EchoServer(httpx.AsyncBaseTransport):
    """An OpenAI-compatible ``/completions`` endpoint that answers with the prompt itself,
    taking longer for earlier prompts (``prompt N`` waits ``(total - N)`` ticks)."""

    def __init__(self, total: int) -> None:
        self.total = total

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        prompt = json.loads(await request.aread())["prompt"]
        await asyncio.sleep(0.005 * (self.total - int(prompt.split()[-1])))
        choice = {"index": 0, "text": prompt, "finish_reason": "stop"}
        return httpx.Response(200, json={"choices": [choice], "usage": {"completion_tokens": 1}})


def _prompt(number: int) -> RenderedPrompt:
    pair = PairContext(f"b{number}", BehaviorKind.CO_BUY, "a tent", title_b="a stove")
    text = f"prompt {number}"
    return RenderedPrompt(
        pair, "xWANT", "v1", (), text, ({"role": "user", "content": text},), "", "", frozenset()
    )


def _backend(transport: httpx.AsyncBaseTransport, concurrency: int, batch_size: int = 1) -> OpenAIBackend:
    settings = BackendSettings(
        fast_settings(backend="openai", model="echo", prompt_format="raw", batch_size=batch_size),
        OpenAISettings(base_url="http://echo.test/v1", concurrency=concurrency),
        VllmSettings(),
    )
    return OpenAIBackend(settings, transport=transport)


@pytest.mark.parametrize("concurrency", [1, 3, 8])
def test_a_whole_shard_keeps_concurrency_requests_in_flight_in_prompt_order(concurrency: int) -> None:
    prompts = [_prompt(n) for n in range(24)]
    server = InFlightCounter(EchoServer(len(prompts)))
    backend = _backend(server, concurrency, batch_size=1)
    try:
        completions = backend.generate(prompts)
    finally:
        backend.close()
    assert server.requests == 24 and server.most == concurrency
    assert [c.texts[0] for c in completions] == [p.text for p in prompts]


def test_fewer_prompts_than_concurrency_open_one_request_each() -> None:
    server = InFlightCounter(EchoServer(2))
    backend = _backend(server, concurrency=16)
    try:
        assert [c.texts for c in backend.generate([_prompt(0), _prompt(1)])] == [("prompt 0",), ("prompt 1",)]
        assert backend.generate([]) == []
    finally:
        backend.close()
    assert server.most == 2


def test_server_side_batching_backends_get_the_whole_shard_others_batch_size() -> None:
    class Batched:
        model_name = "local"

    assert OpenAIBackend.takes_whole_shard and VllmBackend.takes_whole_shard
    backend = _backend(EchoServer(0), 4)
    try:
        assert prompts_per_call(backend, batch_size=16, shard_prompts=500) == 500
    finally:
        backend.close()
    assert prompts_per_call(Batched(), batch_size=16, shard_prompts=500) == 16  # type: ignore[arg-type]


def test_a_missing_llama_server_binary_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no such llama-server binary"):
        start_llama_server(tmp_path / "log", binary=tmp_path / "llama-server")


class RefusingServer(EchoServer):
    """Refuses one prompt (HTTP 400: not worth a retry) and answers the others."""

    def __init__(self, total: int, refused: str) -> None:
        super().__init__(total)
        self.refused = refused

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if json.loads(await request.aread())["prompt"] == self.refused:
            return httpx.Response(400, json={"error": "bad request"})
        return await super().handle_async_request(request)


def test_a_refused_request_stops_the_shard_and_the_other_requests() -> None:
    server = InFlightCounter(RefusingServer(24, refused="prompt 5"))
    backend = _backend(server, concurrency=4)
    try:
        with pytest.raises(BackendError, match="refused the request: HTTP 400"):
            backend.generate([_prompt(n) for n in range(24)])
    finally:
        backend.close()
    assert server.in_flight == 0 and server.requests < 24  # the rest were never sent
