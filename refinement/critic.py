"""The critic: learns plausibility and typicality from annotations and scores every candidate.

Two models behind one interface (``Critic``), chosen by name from the registry ``CRITICS``:

- ``embedding-lr`` (default, CPU, trains in a few minutes): all-MiniLM-L6-v2 embeddings of the two
  context sides and the statement, interaction and lexical-overlap features; a logistic regression
  for plausibility and a separate typicality model (``typicality.py``) trained on the graded human
  typicality. Saved as plain arrays (no pickle), so the shipped critic is safe to load.
- ``cross-encoder``: MiniLM fine-tuned as a cross-encoder over (context, statement) with two logits;
  GPU recommended, a small CPU run works.

Examples are frames with ``kind``, ``query``, ``title``, ``title_b``, ``statement`` (and the label
columns ``plausibility`` / ``typicality`` in [0, 1] for training; null = unlabelled).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from importlib import import_module
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import polars as pl

from cosmo_kg.embeddings import Embedder, EmbeddingSettings
from cosmo_kg.errors import InputError
from cosmo_kg.refinement.clauses import content_of, context_sides
from cosmo_kg.refinement.neighbours import ReasonBank
from cosmo_kg.refinement.plausibility import KindModels, fit_kind_models, trainable_kinds
from cosmo_kg.refinement.typicality import FOLDS as CROSS_VALIDATION_FOLDS
from cosmo_kg.refinement.typicality import (
    TypicalityData,
    TypicalityModel,
    fit_typicality,
    typicality_features,
)

LABELS = ("plausibility", "typicality")
HUBNESS = 4
META_FILE = "critic.json"
_WORD = re.compile(r"[a-z0-9]+")
_TEMPLATE_WORDS = frozenset(
    [
        "they",
        "both",
        "are",
        "a",
        "of",
        "the",
        "to",
        "and",
        "for",
        "be",
        "his",
        "her",
        "he",
        "person",
        "wants",
        "type",
        "capable",
        "could",
        "used",
        "related",
        "with",
        "have",
        "in",
        "on",
        "is",
        "it",
        "an",
        "as",
        "by",
        "that",
        "this",
        "product",
    ]
)


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

    @classmethod
    def create(cls, embedding: EmbeddingSettings, *, seed: int = 0, **options: Any) -> Critic:
        """An untrained critic."""
        ...

    @classmethod
    def load(cls, directory: Path, embedding: EmbeddingSettings) -> Critic:
        """The critic saved in ``directory``."""
        ...


def _labelled(examples: pl.DataFrame, label: str) -> tuple[np.ndarray, np.ndarray]:
    values = examples[label].to_numpy()
    mask = ~np.isnan(values.astype(np.float64))
    return mask, (values[mask] >= 0.5).astype(np.int64)


def _relations(examples: pl.DataFrame) -> np.ndarray | None:
    """The rows' relation names ("" where unknown), or None when the frame has no relation column."""
    if "relation" not in examples.columns:
        return None
    return examples["relation"].cast(pl.String()).fill_null("").to_numpy().astype(object)


def _tokens(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _TEMPLATE_WORDS and len(w) > 1}


def _lexical(a: list[str], b: list[str], s: list[str]) -> np.ndarray:
    from rapidfuzz import fuzz, process

    rows = []
    for x, y, z in zip(a, b, s, strict=True):
        ts, ta, tb = _tokens(z), _tokens(x), _tokens(y)
        n = max(len(ts), 1)
        rows.append([len(ts & ta) / n, len(ts & tb) / n, len(ts & (ta | tb)) / n, len(ts & ta & tb) / n])
    fuzzy = [
        process.cpdist(s, side, scorer=fuzz.partial_token_set_ratio, workers=-1) / 100.0 for side in (a, b)
    ]
    return np.hstack(
        [np.asarray(rows, dtype=np.float32).reshape(len(s), 4), np.stack(fuzzy, axis=1).astype(np.float32)]
    )


def critic_features(embedder: Embedder | MemoEmbedder, examples: pl.DataFrame) -> np.ndarray:
    """Symmetric features of (side a, side b, statement, its tail): embeddings, cosines and word
    overlap. The titles' opening words are not embedded apart: the informativeness rule catches
    restated titles, and that group cost 15% of the encoder time."""
    a, b = context_sides(examples)
    statements = examples["statement"].to_list()
    contents = [content_of(s) for s in statements]
    # One call for all text groups: the encoder sorts them by length into full batches.
    groups = (a, b, statements, contents)
    vectors = embedder.embed([text for group in groups for text in group])
    side_a, side_b, stmt, content = np.split(vectors, len(groups))

    def cos(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (x * y).sum(axis=1, keepdims=True)

    ca, cb = cos(side_a, stmt), cos(side_b, stmt)
    mean = (side_a + side_b) / 2
    return np.hstack(
        [
            stmt,
            mean * stmt,
            np.abs(side_a - stmt) + np.abs(side_b - stmt),
            ca + cb,
            np.abs(ca - cb),
            cos(side_a, side_b),
            np.minimum(ca, cb),
            np.maximum(ca, cb),
            _lexical(a, b, statements),
            cos(side_a, content),
            cos(side_b, content),
            mean * content,
            _lexical(a, b, contents),
        ]
    ).astype(np.float32)


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def context_embeddings(embedder: Embedder | MemoEmbedder, examples: pl.DataFrame) -> np.ndarray:
    a, b = context_sides(examples)
    return _unit(embedder.embed(a) + embedder.embed(b))


def hubness_features(
    embedder: Embedder | MemoEmbedder, examples: pl.DataFrame, references: np.ndarray
) -> np.ndarray:
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


class MemoEmbedder:
    """An embedder that embeds each distinct text once per critic call (features reuse the sides,
    statements and contexts several times)."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.dimension = embedder.dimension
        self.memo: dict[str, np.ndarray] = {}

    def embed(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self.memo))
        if missing:
            self.memo.update(zip(missing, self.embedder.embed(missing), strict=True))
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([self.memo[t] for t in texts])


class EmbeddingCritic:
    """Embedding features; a logistic regression per behaviour kind for plausibility
    (``plausibility.py``) and a typicality model of its own (``typicality.py``: graded regression
    among plausible examples, gated by plausibility)."""

    name: ClassVar[str] = "embedding-lr"

    reference_contexts: ClassVar[int] = 512

    def __init__(self, embedder: Embedder, *, seed: int = 0, regularization: float = 0.03) -> None:
        self.embedder = embedder
        self.seed = seed
        self.regularization = regularization
        self.plausibility: KindModels | None = None
        self.legacy_typicality: tuple[np.ndarray, float] | None = None
        self.typicality: TypicalityModel | None = None
        self.references = np.zeros((0, embedder.dimension), dtype=np.float32)
        self.bank = ReasonBank.empty(embedder.dimension)
        self.mean = np.zeros(1)
        self.scale = np.ones(1)
        self.trained_on: dict[str, int] = {}

    @classmethod
    def create(cls, embedding: EmbeddingSettings, *, seed: int = 0) -> EmbeddingCritic:
        return cls(Embedder(embedding), seed=seed)

    def _raw(self, examples: pl.DataFrame) -> np.ndarray:
        """Pair features, hubness (last ``HUBNESS`` before the bank) and the reason bank's columns."""
        memo = MemoEmbedder(self.embedder)
        pair = critic_features(memo, examples)
        bank = self.bank.features(
            pair[:, : self.embedder.dimension],
            context_embeddings(memo, examples),
            examples["behavior_id"].cast(pl.String()).fill_null("").to_numpy(),
        )
        return np.hstack([pair, hubness_features(memo, examples, self.references), bank]).astype(np.float64)

    def _typicality_features(self, examples: pl.DataFrame, raw: np.ndarray) -> np.ndarray:
        # Statement embedding (first block) and the overlap / cosine / hubness columns of ``raw``.
        dim = self.embedder.dimension
        start = raw.shape[1] - self.bank.width - HUBNESS
        hubness = raw[:, start : start + HUBNESS]
        return typicality_features(
            examples, raw[:, :dim], np.hstack([raw[:, 3 * dim : 3 * dim + 11], hubness])
        )

    def _pick_references(self, examples: pl.DataFrame) -> np.ndarray:
        contexts = examples.unique("behavior_id", keep="first").sort("behavior_id")
        rng = np.random.default_rng(self.seed)
        chosen = rng.choice(len(contexts), min(self.reference_contexts, len(contexts)), replace=False)
        return context_embeddings(self.embedder, contexts[np.sort(chosen).tolist()])

    def _bank_of(self, examples: pl.DataFrame) -> ReasonBank:
        accepted = examples.filter(pl.col("plausibility") >= 0.5)
        memo = MemoEmbedder(self.embedder)
        return ReasonBank(
            memo.embed(accepted["statement"].to_list()).astype(np.float16),
            context_embeddings(memo, accepted).astype(np.float16),
            accepted["behavior_id"].cast(pl.String()).to_numpy().astype(np.str_),
        )

    def fit(self, examples: pl.DataFrame) -> dict[str, int]:
        self.references = self._pick_references(examples)
        self.bank = self._bank_of(examples)
        raw = self._raw(examples)
        self.mean, self.scale = raw.mean(axis=0), np.where(raw.std(axis=0) > 0, raw.std(axis=0), 1.0)
        features = (raw - self.mean) / self.scale
        mask, target = _labelled(examples, "plausibility")
        typical = _labelled(examples, "typicality")[1]
        for label, labelled in (("plausibility", target), ("typicality", typical)):
            if len(set(labelled.tolist())) < 2:
                raise InputError(
                    f"cannot train the critic: the {label} labels need both classes",
                    hint="add positive and negative annotations",
                )
        groups = examples["behavior_id"].cast(pl.String()).to_numpy()[mask]
        kinds = examples["kind"].cast(pl.String()).fill_null("").to_numpy()[mask]
        relations = _relations(examples)
        if not trainable_kinds(target, kinds, groups):
            raise InputError(
                f"cannot train the critic: fewer than {CROSS_VALIDATION_FOLDS} labelled pairs "
                "of any kind have both classes",
                hint="its settings are chosen by cross-validation over pairs; add annotations of more pairs",
            )
        self.plausibility = fit_kind_models(
            features[mask],
            target,
            kinds,
            groups,
            self.seed,
            relations=None if relations is None else relations[mask],
        )
        self.regularization = self.plausibility.regularization[self.plausibility.default]
        self.typicality = self._fit_typicality(
            examples.filter(pl.Series(mask)), raw[mask], features[mask], target, self.plausibility
        )
        typicality = examples["typicality"].to_numpy().astype(np.float64)
        self.trained_on = {"plausibility": int(mask.sum()), "typicality": int((~np.isnan(typicality)).sum())}
        return dict(self.trained_on)

    def _fit_typicality(
        self,
        rows: pl.DataFrame,
        raw: np.ndarray,
        plausible: np.ndarray,
        target: np.ndarray,
        models: KindModels,
    ) -> TypicalityModel:
        groups = rows["behavior_id"].cast(pl.String()).to_numpy()
        kinds = rows["kind"].cast(pl.String()).fill_null("").to_numpy()
        scoring = models.scoring_kinds(kinds, _relations(rows))
        data = TypicalityData(
            self._typicality_features(rows, raw),
            target.astype(bool),
            rows["typicality"].to_numpy().astype(np.float64),
            groups,
        )

        def logit_of(train: np.ndarray, test: np.ndarray) -> np.ndarray:
            fold = fit_kind_models(
                plausible[train], target[train], kinds[train], groups[train], self.seed, models.regularization
            )
            return fold.logits(plausible[test], scoring[test])

        return fit_typicality(data, logit_of)

    def score(self, examples: pl.DataFrame) -> pl.DataFrame:
        if examples.is_empty():
            return pl.DataFrame(schema={label: pl.Float64() for label in LABELS})
        raw = self._raw(examples)
        features = (raw - self.mean) / self.scale
        if self.plausibility is None:
            raise InputError("the critic is not trained", hint="train it, or load a saved one")
        kinds = examples["kind"].cast(pl.String()).fill_null("").to_numpy()
        logit = self.plausibility.logits(
            features, self.plausibility.scoring_kinds(kinds, _relations(examples))
        )
        if self.typicality is not None:
            typical = self.typicality.score(self._typicality_features(examples, raw), logit)
        elif self.legacy_typicality is not None:  # saved before typicality had its own model
            coef, bias = self.legacy_typicality
            typical = 1.0 / (1.0 + np.exp(-(features @ coef + bias)))
        else:
            raise InputError("the critic has no typicality model", hint="retrain it")
        return pl.DataFrame({"plausibility": 1.0 / (1.0 + np.exp(-logit)), "typicality": typical})

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        if self.plausibility is None or self.typicality is None:
            raise InputError("cannot save an untrained critic", hint="train it first")
        arrays = self.plausibility.arrays() | self.typicality.arrays()
        arrays |= {"references": self.references, "mean": self.mean, "scale": self.scale}
        arrays |= self.bank.arrays() if len(self.bank.behavior_ids) else {}
        np.savez_compressed(directory / "weights.npz", **arrays)
        meta = CriticMeta(self.name, self.seed, self.trained_on, self.embedder.model_name)
        extra = {
            "regularization": self.regularization,
            "regularizations": self.plausibility.regularization,
            "known_relations": self.plausibility.known_relations,
            "default_kind": self.plausibility.default,
        }
        (directory / META_FILE).write_text(json.dumps(asdict(meta) | extra, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, embedding: EmbeddingSettings) -> EmbeddingCritic:
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        critic = cls(Embedder(embedding), seed=meta["seed"], regularization=meta["regularization"])
        with np.load(directory / "weights.npz", allow_pickle=False) as stored:
            arrays = {key: stored[key] for key in stored.files}
        critic.plausibility = KindModels.from_arrays(arrays, meta)
        if "typicality_coef" in arrays:
            critic.legacy_typicality = (arrays["typicality_coef"], float(arrays["typicality_bias"][0]))
        critic.typicality = TypicalityModel.from_arrays(arrays) if "typ_coef" in arrays else None
        if "bank_statements" in arrays:
            critic.bank = ReasonBank.from_arrays(arrays)
        critic.references, critic.mean, critic.scale = (arrays[k] for k in ("references", "mean", "scale"))
        critic.trained_on = meta["trained_on"]
        return critic


# The critic registry: name -> "module:class", imported only when that critic is used.
CRITICS: dict[str, str] = {
    "embedding-lr": "cosmo_kg.refinement.critic:EmbeddingCritic",
    "cross-encoder": "cosmo_kg.refinement.cross_encoder:CrossEncoderCritic",
}


def critic_names() -> tuple[str, ...]:
    return tuple(CRITICS)


def critic_class(name: str) -> Any:
    """The critic class registered under ``name``.

    Raises:
        InputError: no critic has that name (the message lists the known ones).
    """
    if name not in CRITICS:
        raise InputError(f"unknown critic {name!r}", hint=f"use one of: {', '.join(CRITICS)}")
    module_name, class_name = CRITICS[name].split(":")
    return getattr(import_module(module_name), class_name)


def new_critic(name: str, embedding: EmbeddingSettings, *, seed: int = 0, **options: Any) -> Critic:
    """An untrained critic by registry name (see ``CRITICS``)."""
    return critic_class(name).create(embedding, seed=seed, **options)


def load_critic(directory: Path, embedding: EmbeddingSettings) -> Critic:
    """Load a saved critic of any registered kind from its directory.

    Raises:
        InputError: the directory holds no saved critic, or one of an unknown kind.
    """
    meta_path = directory / META_FILE
    if not meta_path.is_file():
        raise InputError(
            f"{directory} holds no trained critic ({META_FILE} missing)",
            hint="train one with `cosmo-kg critic train`, or omit --critic for the shipped one",
        )
    name = json.loads(meta_path.read_text(encoding="utf-8"))["critic"]
    return critic_class(name).load(directory, embedding)
