"""What the critic reads: the behaviour context (two sides) and one explanation statement.

A candidate (relation, tail) becomes the clause a customer would give ("they are both used for
camping"), the form of the public annotations, so one critic scores annotations and candidates alike.
"""

from __future__ import annotations

import re

import polars as pl

from cosmo_kg.vocabulary import RELATIONS, BehaviorKind

# Template openings of explanation clauses (COSMO co-buy phrases and FolkScope's prompt prefixes):
# removing them leaves the content words, which is what must match the products.
_OPENING = re.compile(
    r"^(?:they (?:both )?(?:are )?(?:both )?(?:a type of|capable of|used for|used together with|used as|"
    r"used to|used on or during|used in the location of|used on the body part of|used by|"
    r"related to(?: the topic of)?|a part of|made of|similar to|created by|have(?: a property of)?|"
    r"distinct from|defined as|symbols? of|a manner of|derived from|bought by(?: someone (?:interested in|"
    r"who wants to))?)|they could both|the person wants (?:his/her|his|her|to)|as a result, the person will|"
    r"he (?:thought|wanted|was)(?: they were| it was| to| looking for)?)\s*",
    re.IGNORECASE,
)


def content_of(statement: str) -> str:
    """The statement without its template opening (the whole statement if nothing is left)."""
    stripped = _OPENING.sub("", statement).strip(' "')
    return stripped or statement


def statement_expr() -> pl.Expr:
    """The explanation clause of a candidate, from its ``kind``, ``relation`` and ``tail`` columns."""
    phrases = {r.name: r.co_buy_phrase for r in RELATIONS.values()}
    phrase = pl.col("relation").replace_strict(phrases, default=None, return_dtype=pl.String())
    opening = (
        pl.when(pl.col("kind") == BehaviorKind.CO_BUY.value)
        .then(pl.lit("they are both "))
        .otherwise(pl.lit("the product is "))
    )
    return (
        pl.when(phrase.is_null())
        .then(pl.col("tail"))
        .otherwise(pl.concat_str(opening, phrase, pl.lit(" "), pl.col("tail")))
        .alias("statement")
    )


def context_sides(frame: pl.DataFrame) -> tuple[list[str], list[str]]:
    """The two texts a statement must fit: (query, title) for search-buy, (title, title_b) for co-buy."""
    is_search = pl.col("kind") == BehaviorKind.SEARCH_BUY.value
    sides = frame.select(
        pl.when(is_search).then(pl.col("query")).otherwise(pl.col("title")).fill_null("").alias("a"),
        pl.when(is_search).then(pl.col("title")).otherwise(pl.col("title_b")).fill_null("").alias("b"),
    )
    return sides["a"].to_list(), sides["b"].to_list()
