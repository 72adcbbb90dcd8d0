"""The ``vllm`` backend: offline batched inference on GPUs, optionally with a LoRA adapter
(COSMO-LM). vLLM is imported only when this backend is chosen; it needs a CUDA GPU, so CI
(CPU only) never runs it, and it has never run on this project's machines (no GPU).

Written for vLLM 0.8.5-0.9.x (the ``gpu`` extra pins that range): ``LLM``, ``SamplingParams``,
``LLM.generate`` for raw prompts and ``LLM.chat`` (``continue_final_message`` continues the
prefilled answer) for chat prompts, ``LoRARequest`` for adapters. The runner hands it a whole
shard per call (``takes_whole_shard``): vLLM's scheduler batches better than any fixed batch.
``close`` shuts the engine down and gives its GPU memory back, so a long-lived process (a Ray
actor, a benchmark) can load another model afterwards.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Sequence
from typing import Any

from cosmo_kg.errors import BackendError, ConfigError
from cosmo_kg.generation.backend import STOP, BackendSettings, Completion, model_label
from cosmo_kg.generation.cosmo_lm import resolve_adapter
from cosmo_kg.generation.local_model import resolve_model_dir
from cosmo_kg.generation.prompts import RenderedPrompt


class VllmBackend:
    takes_whole_shard = True

    def __init__(self, settings: BackendSettings) -> None:
        try:
            from vllm import LLM, SamplingParams
            from vllm.lora.request import LoRARequest
        except ImportError as exc:
            raise ConfigError(
                "the vllm backend needs the vllm package (0.8.5-0.9.x) and a CUDA GPU",
                hint="pip install 'cosmo-kg[gpu]' on a GPU machine, or use --generation-backend "
                "openai with a `vllm serve` server (docs/scaling.md)",
            ) from exc
        gen, opts = settings.generation, settings.vllm
        self.settings = gen
        self.model_name = model_label(gen)
        adapter = resolve_adapter(gen.adapter, gen.model)  # the same COSMO-LM adapter, as a LoRA request
        model_dir = resolve_model_dir(gen.model or None)
        try:
            self.llm: Any = LLM(
                model=str(model_dir),
                seed=gen.seed,
                tensor_parallel_size=opts.tensor_parallel_size,
                gpu_memory_utilization=opts.gpu_memory_utilization,
                max_model_len=opts.max_model_len,
                enable_lora=adapter is not None,
                max_lora_rank=opts.max_lora_rank,
            )
        except (RuntimeError, ValueError) as exc:  # no CUDA device, out of memory, bad config
            raise BackendError(
                f"vLLM could not load {model_dir}: {exc}",
                hint="check the GPU (nvidia-smi), --vllm-gpu-memory-utilization and "
                "--vllm-tensor-parallel-size",
            ) from exc
        self.params = SamplingParams(
            n=gen.samples,
            temperature=gen.temperature,
            top_p=gen.top_p,
            max_tokens=gen.max_new_tokens,
            seed=gen.seed,
            stop=[STOP],
        )
        self.lora = LoRARequest("cosmo-lm", 1, str(adapter)) if adapter is not None else None

    def generate(self, prompts: Sequence[RenderedPrompt]) -> list[Completion]:
        if self.settings.prompt_format == "raw":
            outputs = self.llm.generate(
                [p.text for p in prompts], self.params, use_tqdm=False, lora_request=self.lora
            )
        else:
            conversations: list[Any] = [
                [*p.messages, {"role": "assistant", "content": p.prefill}] for p in prompts
            ]
            outputs = self.llm.chat(
                conversations,
                self.params,
                use_tqdm=False,
                lora_request=self.lora,
                add_generation_prompt=False,
                continue_final_message=True,
            )
        return [
            Completion(
                tuple(o.text for o in out.outputs),
                tuple(o.finish_reason == "length" for o in out.outputs),
                sum(len(o.token_ids) for o in out.outputs),
            )
            for out in outputs
        ]

    def close(self) -> None:
        if self.llm is None:
            return
        core: Any = getattr(self.llm.llm_engine, "engine_core", None)  # V1: the engine's process
        if hasattr(core, "shutdown"):
            core.shutdown()
        self.llm = None
        free_gpu_memory()


def free_gpu_memory() -> None:
    """Tear down vLLM's distributed state (tensor-parallel groups) and return cached GPU memory."""
    with contextlib.suppress(ImportError):
        from vllm.distributed import cleanup_dist_env_and_memory

        cleanup_dist_env_and_memory()
    gc.collect()
    with contextlib.suppress(ImportError):
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
