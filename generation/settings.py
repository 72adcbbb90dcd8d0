"""Settings of ``cosmo-kg generate``: the generation run, and the per-backend groups."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cosmo_kg.errors import CosmoKGError
from cosmo_kg.settings import SettingsGroup, bad_value, setting
from cosmo_kg.vocabulary import RELATIONS

BACKEND_NAMES = ("llama_cpp", "transformers", "openai", "vllm")
PROMPT_FORMATS = ("chat", "raw")
ON_ERROR_POLICIES = ("skip", "raise")


def _bad(key: str, value: object, hint: str) -> CosmoKGError:
    return bad_value(key, value, hint)


@dataclass(frozen=True)
class GenerationSettings(SettingsGroup):
    section = "generation"

    backend: str = setting(
        "llama_cpp",
        "model backend: llama_cpp (bundled SmolLM2 in process on CPU, "
        "default: fastest here, see benchmarks/README.md), transformers (local HF model, "
        "CPU/GPU), openai (OpenAI-compatible server) or vllm (GPU)",
        env="COSMO_GEN_BACKEND",
    )
    model: str = setting(
        "",
        "transformers/vllm: local HF model directory (empty: bundled "
        "SmolLM2-135M-Instruct); openai: the served model name",
        env="COSMO_GEN_MODEL",
    )
    adapter: str = setting(
        "default",
        "COSMO-LM LoRA adapter: default (the shipped one, for the bundled "
        "SmolLM2 only), none (the base model) or a peft adapter directory",
        env="COSMO_GEN_ADAPTER",
    )
    prompt_format: str = setting(
        "chat", "chat (instruction models, chat template) or raw (completion)", env="COSMO_GEN_PROMPT_FORMAT"
    )
    exemplars: int = setting(
        -1,
        "worked examples per prompt; -1: none with a COSMO-LM adapter (it was tuned without them), 3 without",
        env="COSMO_GEN_EXEMPLARS",
    )
    relations: str = setting(
        "", "comma-separated relations to ask about (empty: all that apply)", env="COSMO_GEN_RELATIONS"
    )
    batch_size: int = setting(
        16,
        "prompts per model call (transformers); openai and vllm take a whole shard per call",
        env="COSMO_GEN_BATCH_SIZE",
    )
    shard_size: int = setting(256, "pairs per output shard (the unit of resume)", env="COSMO_GEN_SHARD_SIZE")
    max_new_tokens: int = setting(
        40, "longest continuation per prompt, in tokens", env="COSMO_GEN_MAX_NEW_TOKENS"
    )
    temperature: float = setting(
        0.0, "sampling temperature; 0 is greedy (deterministic)", env="COSMO_GEN_TEMPERATURE"
    )
    top_p: float = setting(1.0, "nucleus sampling mass (with temperature > 0)", env="COSMO_GEN_TOP_P")
    samples: int = setting(
        1, "continuations per prompt (more than 1 needs temperature > 0)", env="COSMO_GEN_SAMPLES"
    )
    seed: int = setting(0, "random seed for sampling and exemplar choice", env="COSMO_GEN_SEED")
    max_title_words: int = setting(
        12, "product titles are cut to this many words in prompts", env="COSMO_GEN_MAX_TITLE_WORDS"
    )
    max_tails: int = setting(5, "candidates kept per prompt", env="COSMO_GEN_MAX_TAILS")
    min_tail_chars: int = setting(3, "shorter candidate tails are dropped", env="COSMO_GEN_MIN_TAIL_CHARS")
    max_tail_chars: int = setting(60, "longer candidate tails are dropped", env="COSMO_GEN_MAX_TAIL_CHARS")
    max_tail_words: int = setting(
        6, "candidate tails with more words are dropped", env="COSMO_GEN_MAX_TAIL_WORDS"
    )
    on_error: str = setting(
        "skip", "malformed model output: skip (count it) or raise (stop the run)", env="COSMO_GEN_ON_ERROR"
    )
    device: str = setting(
        "cpu", "torch device of the transformers backend (cpu, cuda, cuda:1)", env="COSMO_GEN_DEVICE"
    )
    threads: int = setting(
        0,
        "CPU threads of the transformers / llama_cpp backend (0: torch's default, one "
        "per core / half the cores for llama.cpp)",
        env="COSMO_GEN_THREADS",
    )

    def validate(self) -> None:
        if self.backend not in BACKEND_NAMES:
            raise _bad("generation.backend", self.backend, f"use one of: {', '.join(BACKEND_NAMES)}")
        if self.prompt_format not in PROMPT_FORMATS:
            raise _bad("generation.prompt_format", self.prompt_format, "use chat or raw")
        if (
            self.adapter not in ("default", "none")
            and not (Path(self.adapter).expanduser() / "adapter_config.json").is_file()
        ):
            raise _bad(
                "generation.adapter",
                self.adapter,
                "pass default, none or a directory written by `cosmo-kg instruct train` (its adapter/)",
            )
        if self.on_error not in ON_ERROR_POLICIES:
            raise _bad("generation.on_error", self.on_error, "use skip or raise")
        unknown = [r for r in self.relation_names() if r not in RELATIONS]
        if unknown:
            raise _bad("generation.relations", self.relations, f"use names from: {', '.join(RELATIONS)}")
        for key in ("batch_size", "shard_size", "max_new_tokens", "samples", "max_tails", "max_title_words"):
            if getattr(self, key) < 1:
                raise _bad(f"generation.{key}", getattr(self, key), "use a positive number")
        if self.exemplars < -1 or self.threads < 0:
            raise _bad(
                "generation.exemplars/threads",
                (self.exemplars, self.threads),
                "use 0 or more (-1: automatic exemplars)",
            )
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise _bad(
                "generation.temperature/top_p",
                (self.temperature, self.top_p),
                "temperature >= 0 and 0 < top_p <= 1",
            )
        if self.samples > 1 and self.temperature == 0:
            raise _bad(
                "generation.samples",
                self.samples,
                "greedy decoding gives one continuation; "
                "set --generation-temperature above 0 to draw several",
            )

    @property
    def tuned(self) -> bool:
        """Whether a COSMO-LM adapter applies: set, and (for ``default``) the bundled model."""
        return (
            self.adapter != "none"
            and not (self.adapter == "default" and self.model)
            and self.backend != "openai"
        )

    def exemplar_count(self) -> int:
        if self.exemplars >= 0:
            return self.exemplars
        return 0 if self.tuned else 3

    def relation_names(self) -> list[str]:
        return [name.strip() for name in self.relations.split(",") if name.strip()]

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass(frozen=True)
class OpenAISettings(SettingsGroup):
    section = "openai"

    base_url: str = setting(
        "http://127.0.0.1:8001/v1",
        "OpenAI-compatible API root (vllm serve --port 8001, llama.cpp server, TGI); "
        "not 8000, where cosmo-kg serve listens",
        env="COSMO_OPENAI_BASE_URL",
    )
    api_key: str = setting(
        "", "bearer token sent to the server, if it needs one", env="COSMO_OPENAI_API_KEY", secret=True
    )
    concurrency: int = setting(
        32,
        "requests in flight at once, over a whole shard; keep it at or above what the server "
        "batches (vllm serve --max-num-seqs, llama-server --parallel); 1-2 for a one-slot server",
        env="COSMO_OPENAI_CONCURRENCY",
    )
    timeout: float = setting(120.0, "seconds to wait for one response", env="COSMO_OPENAI_TIMEOUT")
    max_retries: int = setting(
        4, "retries of a request after 429/5xx or a connection failure", env="COSMO_OPENAI_MAX_RETRIES"
    )
    backoff: float = setting(
        0.5, "first retry delay in seconds, doubled each retry", env="COSMO_OPENAI_BACKOFF"
    )

    def validate(self) -> None:
        if self.concurrency < 1:
            raise _bad("openai.concurrency", self.concurrency, "use a positive number")
        if self.max_retries < 0 or self.backoff < 0 or self.timeout <= 0:
            raise _bad(
                "openai.max_retries/backoff/timeout",
                (self.max_retries, self.backoff, self.timeout),
                "retries and backoff >= 0, timeout > 0",
            )


@dataclass(frozen=True)
class VllmSettings(SettingsGroup):
    section = "vllm"

    tensor_parallel_size: int = setting(1, "GPUs one model is split over", env="COSMO_VLLM_TENSOR_PARALLEL")
    gpu_memory_utilization: float = setting(
        0.9, "share of GPU memory vLLM may take", env="COSMO_VLLM_GPU_MEMORY"
    )
    max_model_len: int = setting(
        4096, "longest prompt + continuation in tokens", env="COSMO_VLLM_MAX_MODEL_LEN"
    )
    max_lora_rank: int = setting(
        64, "largest LoRA rank vLLM reserves room for", env="COSMO_VLLM_MAX_LORA_RANK"
    )
