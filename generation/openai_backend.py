"""The ``openai`` backend: any OpenAI-compatible server (``vllm serve``, llama.cpp server, TGI).

The runner hands this backend a whole shard per call (``takes_whole_shard``), and a bounded set
of ``openai.concurrency`` workers on one asyncio loop keeps that many requests in flight until
the shard is done, so a continuous-batching server (``vllm serve``, llama.cpp's ``llama-server
--parallel N``) always has a full batch to schedule; results keep the prompts' order.
A 429, a 5xx, a timeout or a refused connection is retried with exponential backoff (a
``Retry-After`` header wins); the worker waits out its backoff, so a busy server sees fewer
requests; when the retries are spent the run stops with a ``BackendError``.
Raw prompts go to ``/completions``; chat prompts to ``/chat/completions``, where the server
applies the model's chat template and the answer phrase is not prefilled (the model repeats it,
within an extra token allowance, and the parser strips it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import httpx

from cosmo_kg.errors import BackendError
from cosmo_kg.generation.backend import STOP, BackendSettings, Completion, model_label
from cosmo_kg.generation.prompts import RenderedPrompt

log = logging.getLogger(__name__)
RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_DELAY = 30.0


class RetryableError(Exception):
    """A failure worth another try: the server is busy, restarting or unreachable."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None


class OpenAIBackend:
    takes_whole_shard = True  # the server batches; concurrency, not batch_size, bounds a call

    def __init__(
        self, settings: BackendSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        """``transport``: httpx's default unless given (tests wrap it to watch the traffic)."""
        self.settings = settings.generation
        self.server = settings.openai
        self.model_name = model_label(self.settings)
        self._runner = asyncio.Runner()
        self._client: httpx.AsyncClient | None = None
        self._transport = transport

    def _body(self, prompt: RenderedPrompt) -> tuple[str, dict[str, Any]]:
        s = self.settings
        body: dict[str, Any] = {
            "model": self.model_name,
            "max_tokens": s.max_new_tokens,
            "n": s.samples,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "seed": s.seed,
            "stop": [STOP],
        }
        if s.prompt_format == "raw":
            return "/completions", body | {"prompt": prompt.text}
        # Without a prefilled answer the model first repeats the answer phrase (as the worked
        # examples show it); give it room for that on top of the list itself.
        allowance = 2 * len(prompt.opener.split()) + 4
        return "/chat/completions", body | {
            "messages": list(prompt.messages),
            "max_tokens": s.max_new_tokens + allowance,
        }

    async def _post(self, client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await client.post(path, json=body)
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            raise RetryableError(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code in RETRY_STATUS:
            raise RetryableError(f"HTTP {response.status_code}", _retry_after(response))
        if response.status_code >= 400:
            raise BackendError(
                f"server {self.server.base_url} refused the request: HTTP "
                f"{response.status_code} {response.text[:300]}",
                hint="check --generation-model (the served model name) and sampling settings",
            )
        return response.json()

    async def _complete(self, client: httpx.AsyncClient, prompt: RenderedPrompt) -> Completion:
        path, body = self._body(prompt)
        last = ""
        for attempt in range(self.server.max_retries + 1):
            try:
                return _completion(await self._post(client, path, body))
            except RetryableError as exc:
                last = str(exc)
                if attempt < self.server.max_retries:
                    delay = exc.retry_after or min(self.server.backoff * 2**attempt, MAX_DELAY)
                    log.debug("retrying %s after %s (attempt %d, in %.1fs)", path, last, attempt + 1, delay)
                    await asyncio.sleep(delay)
        raise BackendError(
            f"OpenAI-compatible server at {self.server.base_url} failed "
            f"{self.server.max_retries + 1} times: {last}",
            hint="check that the server is running and reachable (--openai-base-url); "
            "the run resumes from the last finished shard",
        )

    def _open_client(self) -> httpx.AsyncClient:
        if self._client is None:
            headers = {"Authorization": f"Bearer {self.server.api_key}"} if self.server.api_key else {}
            n = self.server.concurrency
            self._client = httpx.AsyncClient(
                base_url=self.server.base_url.rstrip("/"),
                headers=headers,
                timeout=self.server.timeout,
                limits=httpx.Limits(max_connections=n, max_keepalive_connections=n),
                transport=self._transport,
            )
        return self._client

    async def _generate(self, prompts: Sequence[RenderedPrompt]) -> list[Completion]:
        client = self._open_client()  # created inside the loop it will run on
        pending = iter(enumerate(prompts))  # shared by the workers; next() never awaits
        done: dict[int, Completion] = {}

        async def worker() -> None:
            for index, prompt in pending:
                done[index] = await self._complete(client, prompt)

        workers = [asyncio.ensure_future(worker()) for _ in range(min(self.server.concurrency, len(prompts)))]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:  # one failed: stop the others' requests too
                task.cancel()
        return [done[i] for i in range(len(prompts))]

    def generate(self, prompts: Sequence[RenderedPrompt]) -> list[Completion]:
        return self._runner.run(self._generate(prompts))

    def close(self) -> None:
        if self._client is not None:
            self._runner.run(self._client.aclose())
            self._client = None
        self._runner.close()


def _completion(payload: dict[str, Any]) -> Completion:
    try:
        choices = sorted(payload["choices"], key=lambda c: c.get("index", 0))
        texts = tuple(c["text"] if "text" in c else c["message"]["content"] or "" for c in choices)
        truncated = tuple(c.get("finish_reason") == "length" for c in choices)
    except (KeyError, TypeError) as exc:
        raise BackendError(
            f"the server answered without completion choices: {str(payload)[:300]}",
            hint="is --openai-base-url an OpenAI-compatible /v1 root?",
        ) from exc
    usage = payload.get("usage") or {}
    return Completion(texts, truncated, int(usage.get("completion_tokens") or 0))
