"""The critic: learns plausibility and typicality from annotations and scores every candidate.

Two models behind one interface (``Critic``), chosen by name from ``CRITICS``:

- ``embedding-lr`` (default, CPU, trains in a minute): all-MiniLM-L6-v2 embeddings of the two
  context sides and the statement, interaction and lexical-overlap features, two logistic
  regressions (one per label). Saved as plain arrays (no pickle), so the shipped critic is safe to load.
- ``cross-encoder``: MiniLM fine-tuned as a cross-encoder over (context, statement) with two logits;
  GPU recommended, a small CPU run works.

Examples are frames with ``kind``, ``query``, ``title``, ``title_b``, ``statement`` (and the label
columns ``plausibility`` / ``typicality`` in [0, 1] for training; null = unlabelled).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import polars as pl

from cosmo_kg.embeddings import Embedder, EmbeddingSettings
from cosmo_kg.errors import ConfigError, InputError
from cosmo_kg.refinement.statements import content_of, context_sides

LABELS = ("plausibility", "typicality")
META_FILE = "critic.json"
_WORD = re.compile(r"[a-z0-9]+")
_TEMPLATE_WORDS = frozenset(
    ["they", "both", "are", "a", "of", "the", "to", "and", "for", "be", "his", "her", "he", "person",
     "wants", "type", "capable", "could", "used", "related", "with", "have", "in", "on", "is", "it",
     "an", "as", "by", "that", "this", "product"])


@dataclass(frozen=True)
class CriticMeta:
    """What a saved critic was trained on, written beside its weights."""

    critic: str
    seed: int
    trained_on: dict[str, int]
    embedding_model: str = ""


class Critic(Protocol):
    name: ClassVar[str]

    def fit(self, examples: pl.DataFrame) -> dict[str, int]:
        """Train on labelled examples; return the number of examples per label."""
        ...

    def score(self, examples: pl.DataFrame) -> pl.DataFrame:
        """``plausibility`` and ``typicality`` probabilities, one row per example."""
        ...

    def save(self, directory: Path) -> None: ...


def _labelled(examples: pl.DataFrame, label: str) -> tuple[np.ndarray, np.ndarray]:
    values = examples[label].to_numpy()
    mask = ~np.isnan(values.astype(np.float64))
    return mask, (values[mask] >= 0.5).astype(np.int64)


def _tokens(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _TEMPLATE_WORDS and len(w) > 1}


def _lexical(a: list[str], b: list[str], s: list[str]) -> np.ndarray:
    from rapidfuzz import fuzz, process

    rows = []
    for x, y, z in zip(a, b, s, strict=True):
        ts, ta, tb = _tokens(z), _tokens(x), _tokens(y)
        n = max(len(ts), 1)
        rows.append([len(ts & ta) / n, len(ts & tb) / n, len(ts & (ta | tb)) / n, len(ts & ta & tb) / n])
    fuzzy = [process.cpdist(s, side, scorer=fuzz.partial_token_set_ratio, workers=-1) / 100.0
             for side in (a, b)]
    return np.hstack([np.asarray(rows, dtype=np.float32).reshape(len(s), 4),
                      np.stack(fuzzy, axis=1).astype(np.float32)])


def _head(texts: list[str], words: int = 6) -> list[str]:
    return [" ".join(t.split()[:words]) for t in texts]


def critic_features(embedder: Embedder, examples: pl.DataFrame) -> np.ndarray:
    """Symmetric features of (side a, side b, statement): embeddings, cosines and word overlap."""
    a, b = context_sides(examples)
    statements = examples["statement"].to_list()
    contents = [content_of(s) for s in statements]
    side_a, side_b, stmt, content = (embedder.embed(t) for t in (a, b, statements, contents))
    head_a, head_b = embedder.embed(_head(a)), embedder.embed(_head(b))

    def cos(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (x * y).sum(axis=1, keepdims=True)

    ca, cb, ha, hb = cos(side_a, stmt), cos(side_b, stmt), cos(head_a, content), cos(head_b, content)
    mean, head_mean = (side_a + side_b) / 2, (head_a + head_b) / 2
    return np.hstack([
        stmt, mean * stmt, np.abs(side_a - stmt) + np.abs(side_b - stmt),
        ca + cb, np.abs(ca - cb), cos(side_a, side_b), np.minimum(ca, cb), np.maximum(ca, cb),
        _lexical(a, b, statements), cos(side_a, content), cos(side_b, content), ha, hb,
        np.minimum(ha, hb), mean * content, head_mean * content, _lexical(a, b, contents),
    ]).astype(np.float32)


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def context_embeddings(embedder: Embedder, examples: pl.DataFrame) -> np.ndarray:
    a, b = context_sides(examples)
    return _unit(embedder.embed(a) + embedder.embed(b))


def hubness_features(embedder: Embedder, examples: pl.DataFrame, references: np.ndarray) -> np.ndarray:
    """How much better the statement fits its own context than typical other contexts.

    A generic statement ("capable of giving him a good quality") is close to every pair; its
    similarity to its own pair only counts above what it scores against reference pairs.
    """
    statements = embedder.embed(examples["statement"].to_list())
    own = (statements * context_embeddings(embedder, examples)).sum(axis=1, keepdims=True)
    against = statements @ references.T
    top = np.sort(against, axis=1)[:, -10:].mean(axis=1, keepdims=True)
    mean = against.mean(axis=1, keepdims=True)
    return np.hstack([own - top, own - mean, top, mean])


class EmbeddingCritic:
    """Embedding features + one standardised logistic regression per label (fast, CPU)."""

    name: ClassVar[str] = "embedding-lr"

    reference_contexts: ClassVar[int] = 512

    def __init__(self, embedder: Embedder, *, seed: int = 0, regularization: float = 0.03) -> None:
        self.embedder = embedder
        self.seed = seed
        self.regularization = regularization
        self.weights: dict[str, tuple[np.ndarray, float]] = {}
        self.references = np.zeros((0, embedder.dimension), dtype=np.float32)
        self.mean = np.zeros(1)
        self.scale = np.ones(1)
        self.trained_on: dict[str, int] = {}

    def _features(self, examples: pl.DataFrame) -> np.ndarray:
        raw = np.hstack([critic_features(self.embedder, examples),
                         hubness_features(self.embedder, examples, self.references)]).astype(np.float64)
        return (raw - self.mean) / self.scale

    def _pick_references(self, examples: pl.DataFrame) -> np.ndarray:
        contexts = examples.unique("behavior_id", keep="first").sort("behavior_id")
        rng = np.random.default_rng(self.seed)
        chosen = rng.choice(len(contexts), min(self.reference_contexts, len(contexts)), replace=False)
        return context_embeddings(self.embedder, contexts[np.sort(chosen).tolist()])

    def fit(self, examples: pl.DataFrame) -> dict[str, int]:
        from sklearn.linear_model import LogisticRegression

        self.references = self._pick_references(examples)
        self.mean, self.scale = np.zeros(1), np.ones(1)
        raw = self._features(examples)
        self.mean, self.scale = raw.mean(axis=0), np.where(raw.std(axis=0) > 0, raw.std(axis=0), 1.0)
        features = (raw - self.mean) / self.scale
        for label in LABELS:
            mask, target = _labelled(examples, label)
            if len(set(target.tolist())) < 2:
                raise InputError(f"cannot train the critic: the {label} labels need both classes",
                                 hint="add positive and negative annotations")
            model = LogisticRegression(C=self.regularization, max_iter=5000, random_state=self.seed)
            model.fit(features[mask], target)
            self.weights[label] = (model.coef_[0].astype(np.float64), float(model.intercept_[0]))
            self.trained_on[label] = int(mask.sum())
        return dict(self.trained_on)

    def score(self, examples: pl.DataFrame) -> pl.DataFrame:
        if examples.is_empty():
            return pl.DataFrame(schema={label: pl.Float64() for label in LABELS})
        features = self._features(examples)
        return pl.DataFrame({label: 1.0 / (1.0 + np.exp(-(features @ coef + bias)))
                             for label, (coef, bias) in self.weights.items()})

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {f"{label}_coef": coef for label, (coef, _) in self.weights.items()}
        arrays |= {f"{label}_bias": np.array([bias]) for label, (_, bias) in self.weights.items()}
        arrays |= {"references": self.references, "mean": self.mean, "scale": self.scale}
        np.savez_compressed(directory / "weights.npz", **arrays)  # type: ignore[arg-type]
        meta = CriticMeta(self.name, self.seed, self.trained_on, self.embedder.model_name)
        (directory / META_FILE).write_text(json.dumps(asdict(meta) | {"regularization": self.regularization},
                                                      indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, embedding: EmbeddingSettings) -> EmbeddingCritic:
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        critic = cls(Embedder(embedding), seed=meta["seed"], regularization=meta["regularization"])
        with np.load(directory / "weights.npz", allow_pickle=False) as arrays:
            critic.weights = {label: (arrays[f"{label}_coef"], float(arrays[f"{label}_bias"][0]))
                              for label in LABELS}
            critic.references, critic.mean, critic.scale = (
                arrays[k] for k in ("references", "mean", "scale"))
        critic.trained_on = meta["trained_on"]
        return critic


def critic_names() -> tuple[str, ...]:
    from cosmo_kg.refinement.cross_encoder import CrossEncoderCritic

    return (EmbeddingCritic.name, CrossEncoderCritic.name)


def new_critic(name: str, embedding: EmbeddingSettings, *, seed: int = 0, **options: Any) -> Critic:
    """An untrained critic by registry name."""
    from cosmo_kg.refinement.cross_encoder import CrossEncoderCritic

    if name == EmbeddingCritic.name:
        return EmbeddingCritic(Embedder(embedding), seed=seed)
    if name == CrossEncoderCritic.name:
        return CrossEncoderCritic(embedding, seed=seed, **options)
    raise ConfigError(f"unknown critic {name!r}", hint=f"use one of: {', '.join(critic_names())}")


def load_critic(directory: Path, embedding: EmbeddingSettings) -> Critic:
    """Load a saved critic of any kind from its directory.

    Raises:
        InputError: the directory holds no saved critic.
    """
    from cosmo_kg.refinement.cross_encoder import CrossEncoderCritic

    meta_path = directory / META_FILE
    if not meta_path.is_file():
        raise InputError(f"{directory} holds no trained critic ({META_FILE} missing)",
                         hint="train one with `cosmo-kg critic train`, or omit --critic for the shipped one")
    name = json.loads(meta_path.read_text(encoding="utf-8"))["critic"]
    if name == CrossEncoderCritic.name:
        return CrossEncoderCritic.load(directory, embedding)
    return EmbeddingCritic.load(directory, embedding)
