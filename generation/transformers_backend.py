"""The ``transformers`` backend: a local causal LM (bundled SmolLM2 by default) on CPU or GPU.

Prompts of a call are generated as one left-padded batch; a continuation stops at the blank
line that ends the answer list, at the end-of-sequence token, or at ``max_new_tokens``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cosmo_kg.generation.backend import STOP, BackendSettings, Completion, model_label
from cosmo_kg.generation.cosmo_lm import apply_adapter, resolve_adapter
from cosmo_kg.generation.local_model import load_local_lm
from cosmo_kg.generation.prompts import RenderedPrompt


class TransformersBackend:
    def __init__(self, settings: BackendSettings) -> None:
        self.settings = settings.generation
        if self.settings.threads:
            import torch

            # On a shared 2-core machine, torch's spinning worker threads can cost many times
            # the compute; one thread per process is often faster there.
            torch.set_num_threads(self.settings.threads)
        self.tokenizer, self.model = load_local_lm(self.settings.model or None, device=self.settings.device)
        adapter = resolve_adapter(self.settings.adapter, self.settings.model)
        if adapter is not None:
            self.model = apply_adapter(self.model, adapter).eval()
        self.model_name = model_label(self.settings)
        self._stop_ids = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id}

    def _input_text(self, prompt: RenderedPrompt) -> str:
        if self.settings.prompt_format == "raw":
            return prompt.text
        chat = self.tokenizer.apply_chat_template(
            list(prompt.messages), tokenize=False, add_generation_prompt=True
        )
        return chat + prompt.prefill

    def _generate_kwargs(self) -> dict[str, Any]:
        s = self.settings
        kwargs: dict[str, Any] = {
            "max_new_tokens": s.max_new_tokens,
            "num_return_sequences": s.samples,
            "stop_strings": [STOP],
            "tokenizer": self.tokenizer,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if s.greedy:
            return kwargs | {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        return kwargs | {"do_sample": True, "temperature": s.temperature, "top_p": s.top_p, "top_k": None}

    def generate(self, prompts: Sequence[RenderedPrompt]) -> list[Completion]:
        import torch

        texts = [self._input_text(p) for p in prompts]
        batch = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        batch = batch.to(self.model.device)
        torch.manual_seed(self.settings.seed)  # every call starts from the seed: resumable runs agree
        with torch.inference_mode():
            output = self.model.generate(**batch, **self._generate_kwargs())
        new_tokens = output[:, batch["input_ids"].shape[1] :].tolist()
        return [
            self._completion(new_tokens[i : i + self.settings.samples])
            for i in range(0, len(new_tokens), self.settings.samples)
        ]

    def _completion(self, sequences: list[list[int]]) -> Completion:
        texts, truncated, count = [], [], 0
        for ids in sequences:
            end = next((i for i, t in enumerate(ids) if t in self._stop_ids), len(ids))
            text = self.tokenizer.decode(ids[:end], skip_special_tokens=True)
            texts.append(text)
            truncated.append(end == self.settings.max_new_tokens and STOP not in text)
            count += end
        return Completion(tuple(texts), tuple(truncated), count)

    def close(self) -> None:
        self.model = None
