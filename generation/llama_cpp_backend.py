"""The ``llama_cpp`` backend: the bundled SmolLM2 GGUF run in process by llama-cpp-python.

Prompts are the transformers backend's, token for token: the same chat template is applied by
the same Hugging Face tokenizer, and the ids are handed to llama.cpp (no second tokenizer).
A COSMO-LM adapter is merged into a GGUF copy of the model once (``cosmo_lm.merged_gguf``).
Prompts run one after the other; llama.cpp keeps the KV cache of the longest prefix shared
with the previous prompt, so a batch is generated in text order (prompts of one pair share
their system turn and context) and returned in the caller's order.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from typing import Any

from cosmo_kg.errors import BackendError, ConfigError
from cosmo_kg.generation.backend import STOP, BackendSettings, Completion, model_label
from cosmo_kg.generation.cosmo_lm import merged_gguf, resolve_adapter
from cosmo_kg.generation.local_model import resolve_model_dir, smollm2_gguf_path
from cosmo_kg.generation.prompts import RenderedPrompt

CONTEXT_TOKENS = 2048


class LlamaCppBackend:
    def __init__(self, settings: BackendSettings) -> None:
        if importlib.util.find_spec("llama_cpp") is None:
            raise ConfigError(
                "the llama_cpp backend needs llama-cpp-python",
                hint="run scripts/install_llama_cpp.sh, or use --generation-backend transformers",
            )
        self.settings = s = settings.generation
        if s.model:
            raise ConfigError(
                "the llama_cpp backend runs the bundled SmolLM2 GGUF only",
                hint="leave --generation-model empty, or use --generation-backend transformers",
            )
        os.environ["HF_HUB_OFFLINE"] = "1"
        from llama_cpp import Llama
        from transformers import AutoTokenizer

        adapter = resolve_adapter(s.adapter, s.model)
        gguf = merged_gguf(adapter) if adapter is not None else smollm2_gguf_path()
        self.tokenizer = AutoTokenizer.from_pretrained(resolve_model_dir(None))
        # llama.cpp threads spin while they wait: on a busy machine more threads than free cores
        # are many times slower (2 threads on 2 shared cores: 37x slower than 1, measured).
        threads = s.threads or max(1, (os.cpu_count() or 2) // 2)
        try:
            self.llm: Any = Llama(
                model_path=str(gguf),
                n_ctx=CONTEXT_TOKENS,
                n_threads=threads,
                n_threads_batch=threads,
                seed=s.seed,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise BackendError(
                f"llama.cpp cannot load {gguf}: {exc}", hint="delete the file to rebuild it"
            ) from exc
        self.model_name = model_label(s)

    def _ids(self, prompt: RenderedPrompt) -> list[int]:
        if self.settings.prompt_format == "raw":
            text = prompt.text
        else:
            text = (
                self.tokenizer.apply_chat_template(
                    list(prompt.messages), tokenize=False, add_generation_prompt=True
                )
                + prompt.prefill
            )
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _one(self, ids: list[int], sample: int) -> tuple[str, bool, int]:
        s = self.settings
        sampling: dict[str, Any] = (
            {"temperature": 0.0, "top_k": 1}
            if s.greedy
            else {"temperature": s.temperature, "top_p": s.top_p, "top_k": 0, "seed": s.seed + sample}
        )
        result = self.llm.create_completion(ids, max_tokens=s.max_new_tokens, stop=[STOP], **sampling)
        choice = result["choices"][0]
        return choice["text"], choice["finish_reason"] == "length", int(result["usage"]["completion_tokens"])

    def generate(self, prompts: Sequence[RenderedPrompt]) -> list[Completion]:
        ids = [self._ids(p) for p in prompts]
        done: dict[int, Completion] = {}
        for index in sorted(range(len(prompts)), key=lambda i: ids[i]):
            runs = [self._one(ids[index], sample) for sample in range(self.settings.samples)]
            done[index] = Completion(
                tuple(r[0] for r in runs), tuple(r[1] for r in runs), sum(r[2] for r in runs)
            )
        return [done[i] for i in range(len(prompts))]

    def close(self) -> None:
        llm, self.llm = self.llm, None
        if llm is not None:
            llm.close()
