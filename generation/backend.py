"""The one interface every model backend implements, and the name → backend registry."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import Protocol

from cosmo_kg.generation.local_model import SMOLLM2_NAME
from cosmo_kg.generation.prompts import RenderedPrompt
from cosmo_kg.generation.settings import GenerationSettings, OpenAISettings, VllmSettings

STOP = "\n\n"  # every prompt separates its blocks with a blank line: the answer list ends there


@dataclass(frozen=True)
class Completion:
    """The continuations of one prompt (one per sample) and what they cost."""

    texts: tuple[str, ...]
    truncated: tuple[bool, ...]  # True where the token limit, not the model, ended the text
    tokens: int  # generated tokens over all samples


class LLMBackend(Protocol):
    """Generates continuations for rendered prompts, in order, one ``Completion`` per prompt.

    A backend whose engine schedules its own batches (a continuous-batching server behind the
    ``openai`` backend, vLLM's scheduler) sets the class attribute ``takes_whole_shard = True``:
    the runner then hands it all of a shard's prompts in one call instead of ``batch_size``.
    """

    model_name: str

    def generate(self, prompts: Sequence[RenderedPrompt]) -> list[Completion]: ...

    def close(self) -> None: ...


def prompts_per_call(backend: LLMBackend, batch_size: int, shard_prompts: int) -> int:
    """How many of a shard's prompts the runner hands ``backend`` per ``generate`` call."""
    return max(shard_prompts, 1) if getattr(backend, "takes_whole_shard", False) else batch_size


@dataclass(frozen=True)
class BackendSettings:
    generation: GenerationSettings
    openai: OpenAISettings
    vllm: VllmSettings


def model_label(settings: GenerationSettings) -> str:
    """The model name recorded on candidates, known before any model is loaded: the base model,
    then ``+adapter@digest`` when a COSMO-LM adapter is applied."""
    from cosmo_kg.generation.cosmo_lm import adapter_label, resolve_adapter

    if settings.backend == "openai":
        return settings.model or "default"
    return (settings.model or SMOLLM2_NAME) + adapter_label(resolve_adapter(settings.adapter, settings.model))


# Imported lazily: torch, httpx and vllm are only loaded for the backend that is used.
_BACKENDS: dict[str, str] = {
    "llama_cpp": "cosmo_kg.generation.llama_cpp_backend:LlamaCppBackend",
    "transformers": "cosmo_kg.generation.transformers_backend:TransformersBackend",
    "openai": "cosmo_kg.generation.openai_backend:OpenAIBackend",
    "vllm": "cosmo_kg.generation.vllm_backend:VllmBackend",
}


def create_backend(settings: BackendSettings) -> LLMBackend:
    """Instantiate the backend named by ``settings.generation.backend`` (validated in settings)."""
    module_name, class_name = _BACKENDS[settings.generation.backend].split(":")
    factory: Callable[[BackendSettings], LLMBackend] = getattr(import_module(module_name), class_name)
    return factory(settings)
