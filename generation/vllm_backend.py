"""The ``vllm`` backend: offline batched inference on GPUs, optionally with a LoRA adapter
(COSMO-LM). vLLM is imported only when this backend is chosen; it needs a CUDA GPU, so CI
(CPU only) never runs it. Uses vLLM's documented offline API: ``LLM``, ``SamplingParams``,
``LLM.generate`` for raw prompts and ``LLM.chat`` (continuing the prefilled answer) for chat
prompts, ``LoRARequest`` for adapters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cosmo_kg.errors import ConfigError
from cosmo_kg.generation.backend import STOP, BackendSettings, Completion, model_label
from cosmo_kg.generation.cosmo_lm import resolve_adapter
from cosmo_kg.generation.local_model import resolve_model_dir
from cosmo_kg.generation.prompts import RenderedPrompt


class VllmBackend:
    def __init__(self, settings: BackendSettings) -> None:
        try:
            from vllm import LLM, SamplingParams
            from vllm.lora.request import LoRARequest
        except ImportError as exc:
            raise ConfigError(
                "the vllm backend needs the vllm package and a CUDA GPU",
                hint="pip install 'cosmo-kg[gpu]' on a GPU machine, or use --backend transformers / openai",
            ) from exc
        gen, opts = settings.generation, settings.vllm
        self.settings = gen
        self.model_name = model_label(gen)
        adapter = resolve_adapter(gen.adapter, gen.model)  # the same COSMO-LM adapter, as a LoRA request
        self.llm = LLM(
            model=str(resolve_model_dir(gen.model or None)),
            seed=gen.seed,
            tensor_parallel_size=opts.tensor_parallel_size,
            gpu_memory_utilization=opts.gpu_memory_utilization,
            max_model_len=opts.max_model_len,
            enable_lora=adapter is not None,
            max_lora_rank=opts.max_lora_rank,
        )
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
        del self.llm
