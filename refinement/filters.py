"""Rule filters: incomplete tails, tails that copy the behaviour context, generic knowledge.

All work on whole columns (polars expressions, rapidfuzz ``cpdist`` in C++ threads); none loops
over rows in Python. LLM tails repeat across behaviours ("daily use", "camping"), so text-only work
runs once per distinct text (or text pair) and is joined back. Each returns a boolean column, true
where the row is rejected; ``RULES`` name them and the first failing one is the row's reject reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from cosmo_kg.refinement.informativeness import informativeness
from cosmo_kg.schemas import RowRule, reason_expr
from cosmo_kg.settings import SettingsGroup, setting
from cosmo_kg.vocabulary import RELATIONS

DANGLING_WORDS = (
    "a",
    "an",
    "the",
    "and",
    "or",
    "of",
    "to",
    "with",
    "for",
    "in",
    "on",
    "by",
    "as",
    "that",
    "their",
    "his",
    "her",
    "is",
    "are",
    "be",
)


@dataclass(frozen=True)
class FilterSettings(SettingsGroup):
    section = "filters"

    min_chars: int = setting(3, "tails shorter than this are incomplete", env="COSMO_FILTERS_MIN_CHARS")
    max_words: int = setting(
        12, "tails with more words are rambling, not knowledge", env="COSMO_FILTERS_MAX_WORDS"
    )
    copy_ratio: float = setting(
        85.0,
        "rapidfuzz ratio (0-100) at or above which a tail copies the query or product type",
        env="COSMO_FILTERS_COPY_RATIO",
    )
    generic_min_behaviors: int = setting(
        20,
        "a tail seen in at least this many behaviours may be generic",
        env="COSMO_FILTERS_GENERIC_MIN_BEHAVIORS",
    )
    generic_min_share: float = setting(
        0.02, "... and in at least this share of all behaviours", env="COSMO_FILTERS_GENERIC_MIN_SHARE"
    )
    generic_min_entropy: float = setting(
        0.5,
        "... and spread over product types/domains with at least this normalised entropy (0-1)",
        env="COSMO_FILTERS_GENERIC_MIN_ENTROPY",
    )
    max_perplexity: float = setting(
        0.0,
        "drop statements whose language-model perplexity is above this; "
        "0 = perplexity filter off (it runs the local LM)",
        env="COSMO_FILTERS_MAX_PERPLEXITY",
    )
    min_informativeness: float = setting(
        0.25,
        "reject tails (reason restates_head) whose informativeness, "
        "the share of their content words the query / titles / product "
        "type do not already hold, is below this (0-1); 0 = off",
        env="COSMO_FILTERS_MIN_INFORMATIVENESS",
    )
    max_similarity: float = setting(
        0.9,
        "drop tails whose embedding cosine to the query or a title is at "
        "or above this (paraphrases of the context); 1 = off",
        env="COSMO_FILTERS_MAX_SIMILARITY",
    )


@dataclass(frozen=True)
class RefineSettings(SettingsGroup):
    section = "refine"

    min_plausibility: float = setting(
        0.5,
        "keep knowledge whose critic plausibility is above this (0-1)",
        env="COSMO_REFINE_MIN_PLAUSIBILITY",
    )
    chunk_rows: int = setting(
        20_000,
        "candidates per critic chunk; a killed run reuses finished chunks",
        env="COSMO_REFINE_CHUNK_ROWS",
    )

    def validate(self) -> None:
        if not 0 <= self.min_plausibility <= 1:
            raise self.bad_value("min_plausibility", "use a number from 0 to 1")
        if self.chunk_rows < 1:
            raise self.bad_value("chunk_rows", "use a positive number of rows")


def _words(column: str) -> pl.Expr:
    """Lower-cased word tokens with a plural 's' removed, so "tents" meets "Tent"."""
    return (
        pl.col(column)
        .fill_null("")
        .str.to_lowercase()
        .str.replace_all(r"([a-z0-9]{3})s\b", "$1")
        .str.extract_all(r"[a-z0-9]+")
    )


def incomplete(settings: FilterSettings) -> pl.Expr:
    """Too short, too long, or ending in a word that needs a continuation ("walking the")."""
    tail = pl.col("tail").fill_null("").str.strip_chars()
    last = tail.str.to_lowercase().str.extract(r"([a-z]+)\W*$")
    return (
        (tail.str.len_chars() < settings.min_chars)
        | (tail.str.count_matches(r"\S+") > settings.max_words)
        | last.is_in(list(DANGLING_WORDS)).fill_null(False)
    )


def per_distinct(frame: pl.DataFrame, columns: list[str], values: pl.Expr | pl.Series) -> pl.Series:
    """``values`` computed on the distinct combinations of ``columns`` only, one per row of ``frame``."""
    keys = frame.select(columns)
    distinct = keys.unique()
    computed = distinct.with_columns(values.alias("_value"))
    return keys.join(computed, on=columns, how="left", maintain_order="left", nulls_equal=True)["_value"]


def _close_to(frame: pl.DataFrame, column: str, settings: FilterSettings) -> pl.Series:
    """Tails whose rapidfuzz ratio to ``column`` (lower-cased, present) reaches ``copy_ratio``."""
    from rapidfuzz import fuzz, process

    pairs = frame.select(
        tail=pl.col("tail").fill_null("").str.to_lowercase(),
        other=pl.col(column).cast(pl.String()).fill_null("").str.to_lowercase(),
    )
    distinct = pairs.unique().filter(pl.col("other") != "")
    scores = process.cpdist(
        distinct["tail"].to_list(),
        distinct["other"].to_list(),
        scorer=fuzz.ratio,
        score_cutoff=settings.copy_ratio,
        workers=-1,
    )
    close = distinct.filter(pl.Series(scores >= settings.copy_ratio)).with_columns(close=pl.lit(True))
    flags = pairs.join(close, on=["tail", "other"], how="left", maintain_order="left")["close"]
    return flags.fill_null(False)


def _word_masks(texts: pl.Series) -> pl.DataFrame:
    """Per distinct text: its ``_words`` and a 64-bit mask with one bit per word (a one-hash Bloom filter)."""
    words = texts.drop_nulls().unique().to_frame("text").with_columns(_words("text").alias("words"))
    bit = (pl.col("words").hash(seed=7) % 64).replace_strict(
        list(range(64)), [1 << i for i in range(64)], return_dtype=pl.UInt64
    )
    bits = words.explode("words").filter(pl.col("words").is_not_null()).select("text", bit.alias("bit"))
    masks = bits.group_by("text").agg(pl.col("bit").bitwise_or().alias("mask"))
    return words.join(masks, on="text", how="left")


def _made_of_title_words(frame: pl.DataFrame) -> np.ndarray:
    """Tails of two or more words, all found in the first or the second title.

    The Bloom masks rule out almost every row in numpy; only the rows they cannot rule out get the
    exact word-set comparison.
    """
    sides = frame.select(pl.col("tail", "title", "title_b").cast(pl.String()))
    tails = _word_masks(sides["tail"]).rename({"text": "tail", "words": "tail_words", "mask": "tail_mask"})
    titles = _word_masks(pl.concat([sides["title"], sides["title_b"]]))
    joined = sides.join(tails, on="tail", how="left", maintain_order="left")
    for side in ("title", "title_b"):
        joined = joined.join(
            titles.rename({"text": side, "words": f"{side}_words", "mask": f"{side}_mask"}),
            on=side,
            how="left",
            maintain_order="left",
        )
    two_words = (joined["tail_words"].list.len() >= 2).fill_null(False).to_numpy()
    tail_mask = joined["tail_mask"].fill_null(0).to_numpy()
    result = np.zeros(len(frame), dtype=bool)
    for side in ("title", "title_b"):
        side_mask = joined[f"{side}_mask"].fill_null(0).to_numpy()
        rows = np.flatnonzero(two_words & ~result & ((tail_mask & ~side_mask) == 0))
        if len(rows):
            exact = (
                joined[rows]
                .select(pl.col("tail_words").list.set_difference(f"{side}_words").list.len() == 0)
                .to_series()
            )
            result[rows[exact.to_numpy()]] = True
    return result


def copies_context(frame: pl.DataFrame, settings: FilterSettings) -> pl.Series:
    """The tail (nearly) equals the query or product type, or is made only of a title's words.

    One-word tails are never title copies: "camping" for a camping tent is the knowledge we want,
    "tennis rackets" for a tennis racket is not.
    """
    close = _close_to(frame, "query", settings) | _close_to(frame, "product_type", settings)
    return pl.Series("copies_context", close.to_numpy() | _made_of_title_words(frame))


def tail_spread(frame: pl.DataFrame) -> pl.DataFrame:
    """Per tail key: behaviours it explains and the normalised entropy of their product types / domains."""
    keyed = frame.select(
        pl.col("tail").str.to_lowercase().str.strip_chars().alias("tail_key"),
        "behavior_id",
        pl.coalesce("product_type", "domain").fill_null("?").alias("group"),
    )
    groups = max(keyed["group"].n_unique(), 2)
    per_group = keyed.group_by("tail_key", "group").agg(pl.col("behavior_id").n_unique().alias("n"))
    return per_group.group_by("tail_key").agg(
        pl.col("n").sum().alias("behaviors"),
        (
            -(pl.col("n") / pl.col("n").sum() * (pl.col("n") / pl.col("n").sum()).log()).sum()
            / np.log(groups)
        ).alias("entropy"),
    )


def generic(spread: pl.DataFrame, total_behaviors: int, settings: FilterSettings) -> pl.DataFrame:
    """The tail keys that are generic: frequent, a large share of behaviours, spread over many groups."""
    return spread.filter(
        (pl.col("behaviors") >= settings.generic_min_behaviors)
        & (pl.col("behaviors") >= settings.generic_min_share * max(total_behaviors, 1))
        & (pl.col("entropy") >= settings.generic_min_entropy)
    ).select("tail_key", "behaviors", "entropy")


# The checks run on helper columns that ``rule_reasons`` computes with the settings; a missing
# value passes, as a candidate is only rejected for a reason it was found to have.
RULES = [
    RowRule("unknown_pair", pl.col("kind").is_null()),
    RowRule("unknown_relation", ~pl.col("relation").is_in(list(RELATIONS)).fill_null(True)),
    RowRule("incomplete", pl.col("_incomplete").fill_null(False)),
    RowRule("copies_context", pl.col("_copies").fill_null(False)),
    RowRule("restates_head", pl.col("_restates").fill_null(False)),
    RowRule("generic", pl.col("_generic").fill_null(False)),
]
PERPLEXITY = "perplexity"
RULE_REASONS = (*(rule.reason for rule in RULES), PERPLEXITY)


def rule_reasons(frame: pl.DataFrame, settings: FilterSettings) -> pl.DataFrame:
    """Add the ``reason`` of the first failing rule of ``RULES`` (null = passes the rules)."""
    spread = tail_spread(frame.filter(pl.col("kind").is_not_null()))
    generic_keys = generic(spread, frame["behavior_id"].n_unique(), settings)["tail_key"]
    is_generic = pl.col("tail").str.to_lowercase().str.strip_chars().is_in(generic_keys.implode())
    helpers = {
        "_copies": copies_context(frame, settings),
        "_restates": informativeness(frame) < settings.min_informativeness,
        "_incomplete": per_distinct(frame, ["tail"], incomplete(settings)),
        "_generic": per_distinct(frame, ["tail"], is_generic),
    }
    checks = frame.with_columns(**helpers)
    return checks.with_columns(reason_expr(RULES)).drop(*helpers)
