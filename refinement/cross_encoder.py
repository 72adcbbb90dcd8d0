"""The cross-encoder critic: MiniLM fine-tuned on (context, statement) pairs with one logit per label.

Reads the two products (or query and product) and the statement together, so it can weigh every
word against every other; slower than ``embedding-lr`` and best trained on a GPU.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import polars as pl

from cosmo_kg.embeddings import EmbeddingSettings, bundled_model_dir
from cosmo_kg.refinement.clauses import context_sides
from cosmo_kg.refinement.critic import LABELS, META_FILE, CriticMeta


class CrossEncoderCritic:
    """Fine-tuned cross-encoder; ``epochs``, ``batch_size``, ``max_length`` bound the training cost."""

    name: ClassVar[str] = "cross-encoder"

    def __init__(
        self,
        embedding: EmbeddingSettings,
        *,
        seed: int = 0,
        epochs: int = 2,
        batch_size: int = 16,
        max_length: int = 128,
        learning_rate: float = 3e-5,
        base_dir: Path | None = None,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging

        logging.disable_progress_bar()
        self.seed, self.epochs, self.batch_size = seed, epochs, batch_size
        self.max_length, self.learning_rate = max_length, learning_rate
        self.device = embedding.device
        base = base_dir or (Path(embedding.model_dir) if embedding.model_dir else bundled_model_dir())
        self.tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            str(base), num_labels=len(LABELS), local_files_only=True
        ).to(self.device)
        self.trained_on: dict[str, int] = {}

    @classmethod
    def create(cls, embedding: EmbeddingSettings, *, seed: int = 0, **options: Any) -> CrossEncoderCritic:
        return cls(embedding, seed=seed, **options)

    def _batches(self, examples: pl.DataFrame) -> Any:
        a, b = context_sides(examples)
        contexts = [f"{x} | {y}" for x, y in zip(a, b, strict=True)]
        statements = examples["statement"].to_list()
        for start in range(0, len(statements), self.batch_size):
            end = start + self.batch_size
            encoded = self.tokenizer(
                contexts[start:end],
                statements[start:end],
                truncation=True,
                max_length=self.max_length,
                padding=True,
                return_tensors="pt",
            )
            yield start, end, encoded.to(self.device)

    def fit(self, examples: pl.DataFrame) -> dict[str, int]:
        import torch

        torch.manual_seed(self.seed)
        order = np.random.default_rng(self.seed).permutation(len(examples))
        shuffled = examples[order.tolist()]
        targets = torch.tensor(shuffled.select(LABELS).to_numpy().astype(np.float32))
        known = ~torch.isnan(targets)
        targets = torch.nan_to_num(targets).clamp(0, 1)
        # Plausibility is a yes/no label; typicality keeps the human grade as a soft target
        # (distractors 0), so the two heads learn different things.
        targets[:, LABELS.index("plausibility")] = targets[:, LABELS.index("plausibility")].round()
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.learning_rate)
        loss_fn = torch.nn.BCEWithLogitsLoss(reduction="none")
        self.model.train()
        for _ in range(self.epochs):
            for start, end, encoded in self._batches(shuffled):
                logits = self.model(**encoded).logits
                mask = known[start:end].to(self.device)
                losses = loss_fn(logits, targets[start:end].to(self.device)) * mask
                loss = losses.sum() / mask.sum().clamp(min=1)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        self.trained_on = {label: int(known[:, i].sum()) for i, label in enumerate(LABELS)}
        return dict(self.trained_on)

    def score(self, examples: pl.DataFrame) -> pl.DataFrame:
        import torch

        self.model.eval()
        chunks = []
        with torch.inference_mode():
            for _, _, encoded in self._batches(examples):
                chunks.append(torch.sigmoid(self.model(**encoded).logits).float().cpu().numpy())
        scores = np.vstack(chunks) if chunks else np.zeros((0, len(LABELS)), dtype=np.float32)
        return pl.DataFrame({label: scores[:, i].astype(np.float64) for i, label in enumerate(LABELS)})

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(directory / "model")
        self.tokenizer.save_pretrained(directory / "model")
        meta = asdict(CriticMeta(self.name, self.seed, self.trained_on)) | {"max_length": self.max_length}
        (directory / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, embedding: EmbeddingSettings) -> CrossEncoderCritic:
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        critic = cls(
            embedding, seed=meta["seed"], max_length=meta["max_length"], base_dir=directory / "model"
        )
        critic.trained_on = meta["trained_on"]
        return critic
