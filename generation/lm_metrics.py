"""The measures of ``instruct eval``: what generated tails are worth, and judgement accuracy.

- typical yield: share of tails the shipped critic keeps (plausibility >= 0.5, as refine does),
  and the share it also finds typical (typicality >= 0.5);
- copy rate: share of tails that mostly repeat the head (query or title words);
- distinct tails per pair;
- gold match: held-out IntentionQA task-1 questions answered by ranking the 4 options by their
  best cosine to any generated tail (chance 25%); the naive way uses the two titles as tails;
- accuracy of the Yes/No tasks: the answer whose first token the model finds likelier.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import polars as pl

from cosmo_kg.embeddings import Embedder
from cosmo_kg.refinement.clauses import content_of, statement_expr

_WORD = re.compile(r"[a-z0-9]+")
_FUNCTION_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "for",
        "to",
        "in",
        "on",
        "with",
        "by",
        "as",
        "at",
        "from",
        "is",
        "are",
        "be",
        "it",
        "its",
        "this",
        "that",
        "they",
        "both",
        "their",
        "them",
        "he",
        "she",
        "his",
        "her",
        "you",
        "your",
        "can",
        "could",
        "will",
        "some",
        "any",
    ]
)


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _FUNCTION_WORDS and len(w) > 1}


def copies_head(tail: str, head: str) -> bool:
    """True when at least half of the tail's content words are words of the head."""
    words = content_words(tail)
    return bool(words) and len(words & content_words(head)) * 2 >= len(words)


def copy_rate(frame: pl.DataFrame) -> float | None:
    """``frame``: candidates with ``tail`` and the pair's ``query``, ``title``, ``title_b``."""
    if frame.is_empty():
        return None
    heads = frame.select(
        pl.concat_str([pl.col(c).fill_null("") for c in ("query", "title", "title_b")], separator=" ").alias(
            "head"
        )
    )["head"]
    return float(np.mean([copies_head(t, h) for t, h in zip(frame["tail"], heads, strict=True)]))


def critic_scores(critic: Any, frame: pl.DataFrame) -> pl.DataFrame:
    """The critic's plausibility and typicality of each candidate (statement built as refine does)."""
    examples = frame.with_columns(statement_expr())
    scores = critic.score(
        examples.select("behavior_id", "kind", "query", "title", "title_b", "relation", "statement")
    )
    return frame.with_columns(scores["plausibility"], scores["typicality"])


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def gold_match(embedder: Embedder, questions: pl.DataFrame, tails: dict[str, list[str]]) -> dict[str, Any]:
    """Task-1 accuracy of ranking each question's options by their best cosine to the pair's tails.

    ``questions``: ``behavior_id``, ``options`` (statements), ``gold``; ``tails``: behavior_id ->
    tails (a question whose pair has none counts as wrong, picked as option 0 would be unfair).
    """
    hits, answered = [], 0
    for row in questions.iter_rows(named=True):
        pair_tails = tails.get(row["behavior_id"], [])
        if not pair_tails:
            hits.append(False)
            continue
        answered += 1
        options = _unit(embedder.embed([content_of(o) for o in row["options"]]))
        generated = _unit(embedder.embed(pair_tails))
        best = (options @ generated.T).max(axis=1)
        hits.append(int(np.argmax(best)) == row["gold"])
    return {"accuracy": float(np.mean(hits)) if hits else None, "questions": len(hits), "answered": answered}


def yes_margins(
    tokenizer: Any, model: Any, records: list[dict[str, Any]], batch_size: int = 16
) -> np.ndarray:
    """Per Yes/No record, the model's logit of "Yes" minus that of "No" as the answer's first token."""
    import torch

    yes, no = (tokenizer(word, add_special_tokens=False)["input_ids"][0] for word in ("Yes", "No"))
    margins: list[float] = []
    for start in range(0, len(records), batch_size):
        chunk = records[start : start + batch_size]
        texts = [
            tokenizer.apply_chat_template(r["messages"][:-1], tokenize=False, add_generation_prompt=True)
            for r in chunk
        ]
        batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            logits = model(**batch).logits[:, -1, :]  # left-padded: the last position is the answer's
        margins += (logits[:, yes] - logits[:, no]).tolist()
    return np.asarray(margins, dtype=np.float64)


def _said_yes(records: list[dict[str, Any]]) -> np.ndarray:
    return np.array([r["messages"][-1]["content"] == "Yes" for r in records], dtype=bool)


def judge_accuracy(
    tokenizer: Any, model: Any, records: list[dict[str, Any]], calibration: list[dict[str, Any]]
) -> dict[str, float]:
    """Accuracy on held-out Yes/No ``records``: ``argmax`` answers Yes when its logit beats No's;
    ``calibrated`` answers Yes above the median margin of the balanced training ``calibration``
    records (a model that prefers "Yes" everywhere but ranks the cases right is not at chance)."""
    if not records:
        return {"argmax": float("nan"), "calibrated": float("nan")}
    margins, truth = yes_margins(tokenizer, model, records), _said_yes(records)
    threshold = float(np.median(yes_margins(tokenizer, model, calibration))) if calibration else 0.0
    return {
        "argmax": round(float(np.mean((margins > 0) == truth)), 4),
        "calibrated": round(float(np.mean((margins > threshold) == truth)), 4),
    }
