"""What similar behaviours were explained by: a bank of the training pairs' accepted statements.

Products bought together for a reason tend to resemble other products bought together for a like
reason (costumes for Halloween, cables for extending). For a (context, statement) the bank gives
how close the statement is to the accepted statements of the nearest other contexts. A pair's own
statements never count for it (``behavior_id`` match), so training rows see what unseen pairs will
see, and neither does the same text (cosine >= ``SAME_TEXT``): the public negatives are other
pairs' accepted statements, so "this exact text was accepted elsewhere" marks a negative there
and would mean nothing on real candidates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NEIGHBOURS = (5, 20)
SAME_TEXT = 0.98
BLOCK_ROWS = 2048


@dataclass
class ReasonBank:
    """Unit embeddings of accepted statements and of their contexts, with their pair ids."""

    statements: np.ndarray
    contexts: np.ndarray
    behavior_ids: np.ndarray
    _ready: tuple[np.ndarray, np.ndarray, dict[str, int], np.ndarray] | None = field(default=None, repr=False)

    def _prepared(self) -> tuple[np.ndarray, np.ndarray, dict[str, int], np.ndarray]:
        """float32 copies and integer pair codes, made once: scoring calls come in chunks."""
        if self._ready is None:
            codes = {key: index for index, key in enumerate(dict.fromkeys(self.behavior_ids.tolist()))}
            self._ready = (
                self.statements.astype(np.float32),
                self.contexts.astype(np.float32),
                codes,
                np.array([codes[key] for key in self.behavior_ids.tolist()], dtype=np.int64),
            )
        return self._ready

    @property
    def width(self) -> int:
        """Feature columns; none for an empty bank (critics saved before the bank existed)."""
        return 2 * len(NEIGHBOURS) if len(self.behavior_ids) else 0

    def features(self, statements: np.ndarray, contexts: np.ndarray, behavior_ids: np.ndarray) -> np.ndarray:
        """Per row, for each k: the best and the context-weighted statement similarity among the k
        nearest other contexts' statements."""
        out = np.zeros((len(statements), self.width), dtype=np.float64)
        if len(self.behavior_ids) <= max(NEIGHBOURS):
            return out  # too few statements to have neighbours: the columns stay 0
        bank_statements, bank_contexts, codes, bank_codes = self._prepared()
        row_codes = np.array([codes.get(key, -1) for key in behavior_ids.tolist()], dtype=np.int64)
        for start in range(0, len(statements), BLOCK_ROWS):
            rows = slice(start, start + BLOCK_ROWS)
            out[rows] = self._block(
                statements[rows].astype(np.float32) @ bank_statements.T,
                contexts[rows].astype(np.float32) @ bank_contexts.T,
                row_codes[rows][:, None] == bank_codes[None, :],
            )
        return out

    @staticmethod
    def _block(statement_sim: np.ndarray, context_sim: np.ndarray, own: np.ndarray) -> np.ndarray:
        context_sim[own] = -2.0
        statement_sim[statement_sim >= SAME_TEXT] = -1.0
        # One partition for the largest k; the smaller ks are the top of those, sorted.
        widest = np.argpartition(-context_sim, max(NEIGHBOURS), axis=1)[:, : max(NEIGHBOURS)]
        order = np.argsort(-np.take_along_axis(context_sim, widest, axis=1), axis=1, kind="stable")
        ranked = np.take_along_axis(widest, order, axis=1)
        columns = []
        for k in NEIGHBOURS:
            nearest = ranked[:, :k]
            closeness = np.maximum(np.take_along_axis(context_sim, nearest, axis=1), 0.0)
            similar = np.take_along_axis(statement_sim, nearest, axis=1)
            weighted = (similar * closeness).sum(axis=1) / (closeness.sum(axis=1) + 1e-9)
            columns += [similar.max(axis=1), weighted]
        return np.stack(columns, axis=1)

    def arrays(self) -> dict[str, np.ndarray]:
        # float16 halves the shipped file; cosines keep three decimals.
        return {
            "bank_statements": self.statements.astype(np.float16),
            "bank_contexts": self.contexts.astype(np.float16),
            "bank_behavior_ids": self.behavior_ids.astype(np.str_),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ReasonBank:
        return cls(arrays["bank_statements"], arrays["bank_contexts"], arrays["bank_behavior_ids"])

    @classmethod
    def empty(cls, dimension: int) -> ReasonBank:
        return cls(
            np.zeros((0, dimension), np.float16),
            np.zeros((0, dimension), np.float16),
            np.zeros(0, dtype=np.str_),
        )
