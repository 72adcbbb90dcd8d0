"""Rule filters: incomplete tails, tails that copy the behaviour context, generic knowledge.

All work on whole columns (polars list/set operations, rapidfuzz ``cpdist`` in C++ threads); none
loops over rows in Python. Each returns a boolean column, true where the row is rejected; the
runner turns the first failing filter into the row's reject reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from cosmo_kg.settings import SettingsGroup, setting

DANGLING_WORDS = ("a", "an", "the", "and", "or", "of", "to", "with", "for", "in", "on", "by", "as", "that",
                  "their", "his", "her", "is", "are", "be")


@dataclass(frozen=True)
class FilterSettings(SettingsGroup):
    section = "filters"

    min_chars: int = setting(3, "tails shorter than this are incomplete", env="COSMO_FILTERS_MIN_CHARS")
    max_words: int = setting(12, "tails with more words are rambling, not knowledge", env="COSMO_FILTERS_MAX_WORDS")
    copy_ratio: float = setting(85.0, "rapidfuzz ratio (0-100) at or above which a tail copies the query "
                                "or product type", env="COSMO_FILTERS_COPY_RATIO")
    generic_min_behaviors: int = setting(20, "a tail seen in at least this many behaviours may be generic",
                                         env="COSMO_FILTERS_GENERIC_MIN_BEHAVIORS")
    generic_min_share: float = setting(0.02, "... and in at least this share of all behaviours",
                                       env="COSMO_FILTERS_GENERIC_MIN_SHARE")
    generic_min_entropy: float = setting(0.5, "... and spread over product types/domains with at least this "
                                         "normalised entropy (0-1)", env="COSMO_FILTERS_GENERIC_MIN_ENTROPY")
    max_perplexity: float = setting(0.0, "drop statements whose language-model perplexity is above this; "
                                    "0 = perplexity filter off (it runs the local LM)",
                                    env="COSMO_FILTERS_MAX_PERPLEXITY")
    max_similarity: float = setting(0.9, "drop tails whose embedding cosine to the query or a title is at "
                                    "or above this (paraphrases of the context); 1 = off",
                                    env="COSMO_FILTERS_MAX_SIMILARITY")


def _words(column: str) -> pl.Expr:
    """Lower-cased word tokens with a plural 's' removed, so "tents" meets "Tent"."""
    return (pl.col(column).fill_null("").str.to_lowercase().str.replace_all(r"([a-z0-9]{3})s\b", "$1")
            .str.extract_all(r"[a-z0-9]+"))


def incomplete(settings: FilterSettings) -> pl.Expr:
    """Too short, too long, or ending in a word that needs a continuation ("walking the")."""
    tail = pl.col("tail").fill_null("").str.strip_chars()
    last = tail.str.to_lowercase().str.extract(r"([a-z]+)\W*$")
    return ((tail.str.len_chars() < settings.min_chars)
            | (tail.str.count_matches(r"\S+") > settings.max_words)
            | last.is_in(list(DANGLING_WORDS)).fill_null(False))


def _ratio(frame: pl.DataFrame, column: str) -> np.ndarray:
    from rapidfuzz import fuzz, process

    tails = frame["tail"].fill_null("").str.to_lowercase().to_list()
    other = frame[column].fill_null("").str.to_lowercase().to_list()
    scores = process.cpdist(tails, other, scorer=fuzz.ratio, workers=-1)
    return np.where(np.array([bool(o) for o in other]), scores, 0.0)


def copies_context(frame: pl.DataFrame, settings: FilterSettings) -> pl.Series:
    """The tail (nearly) equals the query or product type, or is made only of a title's words.

    One-word tails are never title copies: "camping" for a camping tent is the knowledge we want,
    "tennis rackets" for a tennis racket is not.
    """
    close = np.zeros(len(frame), dtype=bool)
    for column in ("query", "product_type"):
        close |= _ratio(frame, column) >= settings.copy_ratio
    # Many candidates share a product: tokenise each distinct title once.
    sides = frame.select(pl.col("tail", "title", "title_b").cast(pl.String()))
    titles = pl.concat([sides["title"], sides["title_b"]]).drop_nulls().unique().to_frame("text")
    title_words = titles.with_columns(_words("text").alias("words"))
    words = sides.with_columns(tail=_words("tail")).join(
        title_words.rename({"words": "title_words"}), left_on="title", right_on="text", how="left",
        maintain_order="left").join(
        title_words.rename({"words": "title_b_words"}), left_on="title_b", right_on="text", how="left",
        maintain_order="left").select(
        "tail", title=pl.col("title_words").fill_null([]), title_b=pl.col("title_b_words").fill_null([]))
    subset = words.select(
        (pl.col("tail").list.len() >= 2)
        & ((pl.col("tail").list.set_difference("title").list.len() == 0)
           | ((pl.col("title_b").list.len() > 0)
              & (pl.col("tail").list.set_difference("title_b").list.len() == 0)))
    ).to_series()
    return pl.Series("copies_context", close | subset.to_numpy())


def tail_spread(frame: pl.DataFrame) -> pl.DataFrame:
    """Per tail key: behaviours it explains and the normalised entropy of their product types / domains."""
    keyed = frame.select(
        pl.col("tail").str.to_lowercase().str.strip_chars().alias("tail_key"), "behavior_id",
        pl.coalesce("product_type", "domain").fill_null("?").alias("group"))
    groups = max(keyed["group"].n_unique(), 2)
    per_group = keyed.group_by("tail_key", "group").agg(pl.col("behavior_id").n_unique().alias("n"))
    return per_group.group_by("tail_key").agg(
        pl.col("n").sum().alias("behaviors"),
        (-(pl.col("n") / pl.col("n").sum() * (pl.col("n") / pl.col("n").sum()).log()).sum()
         / np.log(groups)).alias("entropy"),
    )


def generic(spread: pl.DataFrame, total_behaviors: int, settings: FilterSettings) -> pl.DataFrame:
    """The tail keys that are generic: frequent, a large share of behaviours, spread over many groups."""
    return spread.filter(
        (pl.col("behaviors") >= settings.generic_min_behaviors)
        & (pl.col("behaviors") >= settings.generic_min_share * max(total_behaviors, 1))
        & (pl.col("entropy") >= settings.generic_min_entropy)
    ).select("tail_key", "behaviors", "entropy")
