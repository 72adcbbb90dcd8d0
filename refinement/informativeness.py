"""Informativeness, COSMO's third annotation question: does the tail say more than its head?

A tail restates its head when its content words are the query's or a title's own words or the
product type, dressed in generic words: "make a custom pergola" for the query "novara pergola",
"buy a new kenuco cat5e utp" for a Kenuco CAT5e UTP cable. Such tails sound plausible (the
critic gave them 1.0) and carry no knowledge. The score is the share of the tail's content words
the head does not already hold; a search-buy tail with no content words ("have a good quality")
scores 0.

Words are compared after a light stemming (plural, -ing, -ed), so "pergolas" meets "Pergola".
Works per distinct (tail, head) text, vectorised over a frame's columns.

For co-buy, copying a title's catalogue words ("cable", "costume", "lcd screen": words in at least
``CATALOGUE_SHARE`` of the catalogue's titles) names the category the pair shares, which is how
people explain many co-buys; copying its rare words (brand, model, series) is a restatement.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources

import polars as pl

from cosmo_kg.refinement.clauses import content_of
from cosmo_kg.vocabulary import BehaviorKind

_WORD = re.compile(r"[a-z0-9]+")
CATALOGUE_SHARE = 0.01
CATALOGUE_FILE = "catalogue_words.txt"
_SUFFIXES = (("ies", "y"), ("ing", ""), ("ed", ""), ("ss", "ss"), ("s", ""))

# Words that add nothing to any head: function words, the relations' template words, and the
# verbs and adjectives LLMs wrap around a restated query ("create a custom", "get a new").
GENERIC_WORDS = frozenset(
    """
a an the and or of to for with in on at by as from into about that this these those it its is are be
been being was were will would can could should may might must do does did have has had having not no
he him his she her they them their both person personx someone somebody customer people who which what
type kind sort product products item items thing things stuff something one ones piece pieces set
make making made create creating build building get getting buy buying bought purchase purchasing
own owning have find finding choose pick shop shopping order
custom customized new good great nice best better perfect quality high top fine beautiful lovely
stylish modern classic simple basic unique special different various real right own personal
capable related similar same also other more most very really just well like
""".split()  # noqa: SIM905  (a word list reads better as text)
)


@lru_cache(maxsize=1 << 16)
def _stem(word: str) -> str:
    for suffix, replacement in _SUFFIXES:
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)] + replacement
    return word


@lru_cache(maxsize=1 << 16)
def words_of(text: str | None) -> frozenset[str]:
    """Stemmed lower-case word tokens of ``text`` (cached: titles and tails repeat across rows)."""
    return frozenset(_stem(w) for w in _WORD.findall((text or "").lower()))


@lru_cache(maxsize=1 << 16)
def content_words(tail: str | None) -> frozenset[str]:
    """The tail's stemmed words that could carry knowledge: no template, function or generic words."""
    return frozenset(
        w
        for w in words_of(content_of(tail or ""))
        if w not in GENERIC_WORDS and _stem(w) not in GENERIC_WORDS and not w.isdigit()
    )


def novelty(tail: str | None, head: str | None) -> float:
    """Share of the tail's content words the head does not hold; 0 when the tail has none."""
    words = content_words(tail)
    if not words:
        return 0.0
    return len(words - words_of(head)) / len(words)


def catalogue_words_of(titles: Iterable[str], share: float = CATALOGUE_SHARE) -> list[str]:
    """The stemmed words found in at least ``share`` of the distinct ``titles``, sorted."""
    distinct = set(titles)
    counts = Counter(word for title in distinct for word in words_of(title))
    return sorted(word for word, count in counts.items() if count >= share * len(distinct))


@lru_cache(maxsize=1)
def catalogue_words() -> frozenset[str]:
    """The shipped catalogue words (``samples/critic/catalogue_words.txt``, one per line)."""
    text = resources.files("cosmo_kg.samples").joinpath("critic", CATALOGUE_FILE).read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def pair_novelty(tail: str | None, title: str | None, title_b: str | None) -> float:
    """Co-buy: how far the tail is from copying one title (the lower of its two novelties, counted
    over the tail's rare words: catalogue words name a category, not a product).

    Naming what both titles share ("they both are a type of USB cable" for two USB cables) is the
    pair's common ground, and one content word ("Halloween", "camping") is a theme: both are how
    people explain a co-buy, so both score 1. A generic phrase is left to the generic filter.
    """
    words = content_words(tail)
    first, second = words_of(title), words_of(title_b)
    rare = words - catalogue_words()
    if len(words) < 2 or words <= (first & second) or not rare:
        return 1.0
    return min(len(rare - first), len(rare - second)) / len(rare)


def informativeness(frame: pl.DataFrame) -> pl.Series:
    """Per row of ``frame`` (``tail``, ``kind`` and any of ``query``, ``title``, ``title_b``,
    ``product_type``), the share of the tail's content words its behaviour does not already say,
    in [0, 1]: for search-buy the query, title and product type (``novelty``); for co-buy either
    title (``pair_novelty``). Computed once per distinct (tail, context).
    """

    def text(column: str) -> pl.Expr:
        return pl.col(column).cast(pl.String()).fill_null("") if column in frame.columns else pl.lit("")

    co_buy = (text("kind") == BehaviorKind.CO_BUY.value) & (text("title_b") != "")
    keys = frame.select(
        text("tail").alias("tail"),
        co_buy.alias("co_buy"),
        pl.when(co_buy)
        .then(text("title"))
        .otherwise(pl.concat_str([text("query"), text("title"), text("product_type")], separator=" "))
        .alias("head"),
        pl.when(co_buy).then(text("title_b")).otherwise(pl.lit(None, pl.String())).alias("head_b"),
    )
    distinct = keys.unique()
    scores = [
        pair_novelty(tail, head, head_b) if co_buy else novelty(tail, head)
        for tail, co_buy, head, head_b in distinct.iter_rows()
    ]
    scored = distinct.with_columns(pl.Series("informativeness", scores, dtype=pl.Float64()))
    return keys.join(
        scored, on=["tail", "co_buy", "head", "head_b"], how="left", maintain_order="left", nulls_equal=True
    )["informativeness"]
