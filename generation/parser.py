"""Turn a model's continuation of an opened numbered list into candidate tails.

The prompt ends with ``1.``, so a continuation looks like ``" camping\\n2. hiking\\n3. fishing"``,
often followed by an echo of the prompt (``"\\n\\nProduct A: ..."``) or cut mid-item by the token
limit. Chat servers that cannot prefill the answer repeat the answer phrase first.
"""

from __future__ import annotations

import re
from collections.abc import Set
from dataclasses import dataclass

from cosmo_kg.text import clean_text, text_key

# A list number: at the start or after white space, "3." or "3)", then white space or the end.
_MARKER = re.compile(r"(?:^|(?<=\s))(\d{1,2})[.)](?=\s|$)")
_ANSWER_LABEL = re.compile(r"^answer\s*:\s*", re.IGNORECASE)
_STRIP = " \t.,;:!?-*\"'`()[]"
# Words that only appear when the model restates the prompt instead of answering it.
_ECHO = re.compile(r"\b(?:product [ab]|search query|question|answer|task)\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class TailLimits:
    """Length bounds and the number of candidates kept per continuation."""

    min_chars: int = 3
    max_chars: int = 60
    max_words: int = 6
    max_tails: int = 5


def _after_opener(continuation: str, opener: str) -> str:
    """Drop a repeated answer phrase at the start; then make sure the list starts at ``1.``
    (a prefilled prompt already holds the ``1.``, so the continuation starts with the item)."""
    body = _ANSWER_LABEL.sub("", continuation.lstrip(), count=1)
    if body.lower().startswith(opener.lower()):
        body = body[len(opener) :]
    body = body.lstrip(" \t")
    return body if _MARKER.match(body.lstrip()) else "1. " + body


def numbered_items(body: str) -> list[str]:
    """The texts of items 1, 2, 3, ... in order; stops where the list visibly ends."""
    items: list[str] = []
    start, expected = None, 1
    for marker in _MARKER.finditer(body):
        if int(marker.group(1)) != expected:
            continue
        if start is not None:
            items.append(body[start : marker.start()])
        start, expected = marker.end(), expected + 1
    if start is not None:
        items.append(body[start:])
    kept = []
    for item in items:
        line, _, rest = item.partition("\n")
        kept.append(line)
        if rest.strip():  # text after an item that is not the next item: the list is over
            break
    return kept


def clean_tail(item: str) -> str:
    return clean_text(item).strip(_STRIP).strip()


def parse_tails(
    continuation: str, *, opener: str, echo_keys: Set[str], truncated: bool, limits: TailLimits
) -> list[str]:
    """Candidate tails of one continuation, in the model's order, deduplicated.

    Args:
        continuation: the generated text (after the prompt).
        opener: the prompt's answer phrase, stripped if the model repeats it.
        echo_keys: text keys of what the prompt shows (query, titles, example tails); a tail
            equal to one is an echo, not an answer.
        truncated: the token limit cut the continuation, so its last item is a fragment.
        limits: length bounds and how many tails to keep.

    Returns:
        The tails; empty when the continuation holds no usable item (a parse failure).
    """
    items = numbered_items(_after_opener(continuation, opener))
    if truncated and items:
        items = items[:-1]
    tails: list[str] = []
    seen = set(echo_keys) | {text_key(opener)}
    for item in map(clean_tail, items):
        key = text_key(item)
        if key in seen or _ECHO.search(item) or not _within(item, limits):
            continue
        seen.add(key)
        tails.append(item)
    return tails[: limits.max_tails]


def _within(tail: str, limits: TailLimits) -> bool:
    return limits.min_chars <= len(tail) <= limits.max_chars and len(tail.split()) <= limits.max_words
