"""The shared vocabulary: behaviour kinds, the 15 relations, node labels and the 18 domains.

Everything that names a relation, a label or a domain imports it from here. A new relation
is one row in ``RELATIONS``; the graph loader, the prompts and the GraphQL enum follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import polars as pl

from cosmo_kg.errors import InputError
from cosmo_kg.text import clean_text_expr


class BehaviorKind(StrEnum):
    """The two kinds of shop behaviour COSMO explains."""

    SEARCH_BUY = "search_buy"
    CO_BUY = "co_buy"


BOTH_KINDS = frozenset(BehaviorKind)


@dataclass(frozen=True)
class Relation:
    """One commonsense relation (paper, Table 2).

    ``search_buy_question`` and ``co_buy_phrase`` are the relation-specific words the
    generation prompts use: the question asked of a search-buy pair, and the phrase that
    completes "a customer bought A and B because they are both ..." for a co-buy pair.
    """

    name: str
    tail_type: str
    example: str
    kinds: frozenset[BehaviorKind]
    search_buy_question: str
    co_buy_phrase: str


def _relation(name: str, tail_type: str, example: str, question: str, phrase: str) -> Relation:
    return Relation(name, tail_type, example, BOTH_KINDS, question, phrase)


RELATIONS: dict[str, Relation] = {
    r.name: r
    for r in (
        _relation(
            "USED_FOR_FUNC",
            "function",
            "dry face",
            "what function is the product used for",
            "used for the function of",
        ),
        _relation(
            "USED_FOR_EVE",
            "event",
            "walk the dog",
            "what event or activity is the product used for",
            "used for the activity of",
        ),
        _relation(
            "USED_FOR_AUD",
            "audience",
            "daycare worker",
            "what audience is the product used for",
            "used for the audience of",
        ),
        _relation("CAPABLE_OF", "function", "hold snacks", "what is the product capable of", "capable of"),
        _relation("USED_TO", "function", "build a fence", "what is the product used to do", "used to"),
        _relation("USED_AS", "concept", "smart watch", "what is the product used as", "used as"),
        _relation("IS_A", "concept", "normal suit", "what kind of thing is the product", "a type of"),
        _relation(
            "USED_ON",
            "time",
            "late winter",
            "at what time, season or event is the product used",
            "used on or during",
        ),
        _relation(
            "USED_IN_LOC",
            "location",
            "bedroom",
            "in what location or facility is the product used",
            "used in the location of",
        ),
        _relation(
            "USED_IN_BODY",
            "body_part",
            "sensitive skin",
            "on what part of the body is the product used",
            "used on the body part of",
        ),
        _relation(
            "USED_WITH",
            "complement",
            "surface cover",
            "what is the product used together with",
            "used together with",
        ),
        _relation("USED_BY", "audience", "cat owner", "who uses the product", "used by"),
        _relation(
            "xINTERESTED_IN",
            "interest",
            "herbal medicine",
            "what is the customer interested in",
            "bought by someone interested in",
        ),
        _relation("xIS_A", "audience", "pregnant women", "what kind of person is the customer", "bought by"),
        _relation(
            "xWANT",
            "activity",
            "play tennis",
            "what does the customer want to do",
            "bought by someone who wants to",
        ),
    )
}

TAIL_TYPES: tuple[str, ...] = tuple(sorted({r.tail_type for r in RELATIONS.values()}))


def relation(name: str) -> Relation:
    """Look a relation up by its exact name; raise ``InputError`` naming the valid ones."""
    try:
        return RELATIONS[name]
    except KeyError:
        raise InputError(
            f"unknown relation {name!r}",
            hint=f"use one of: {', '.join(RELATIONS)}",
        ) from None


def relations_for(kind: BehaviorKind) -> list[Relation]:
    """The relations that apply to one behaviour kind, in table order."""
    return [r for r in RELATIONS.values() if kind in r.kinds]


class NodeLabel(StrEnum):
    """Node labels of the graph. ``LOAD_RUN`` is the loader's own bookkeeping."""

    PRODUCT = "Product"
    QUERY = "Query"
    INTENTION = "Intention"
    DOMAIN = "Domain"
    PRODUCT_TYPE = "ProductType"
    LOAD_RUN = "LoadRun"


class EdgeType(StrEnum):
    """Relationship types that are not knowledge relations."""

    SEARCH_BUY = "SEARCH_BUY"
    CO_BUY = "CO_BUY"
    IN_DOMAIN = "IN_DOMAIN"
    OF_TYPE = "OF_TYPE"


DOMAINS: tuple[str, ...] = (
    "Clothing, Shoes & Jewelry",
    "Sports & Outdoors",
    "Home & Kitchen",
    "Patio, Lawn & Garden",
    "Tools & Home Improvement",
    "Musical Instruments",
    "Industrial & Scientific",
    "Automotive",
    "Electronics",
    "Baby Products",
    "Arts, Crafts & Sewing",
    "Health & Household",
    "Toys & Games",
    "Video Games",
    "Grocery & Gourmet Food",
    "Office Products",
    "Pet Supplies",
    "Others",
)
OTHER_DOMAIN = "Others"
_DOMAIN_BY_KEY = {d.casefold(): d for d in DOMAINS}


def normalize_domain(value: str | None) -> str:
    """Map a domain name (any case, surrounding spaces) onto the 18 domains; else ``Others``."""
    if not value:
        return OTHER_DOMAIN
    return _DOMAIN_BY_KEY.get(value.strip().casefold(), OTHER_DOMAIN)


def normalize_domain_expr(column: str | pl.Expr) -> pl.Expr:
    """Polars twin of :func:`normalize_domain`, except that a missing or blank domain stays null
    (callers decide whether that means ``Others`` or "unknown yet")."""
    key = clean_text_expr(column).str.to_lowercase().replace("", None)
    return (
        pl.when(key.is_null())
        .then(None)
        .otherwise(key.replace_strict(_DOMAIN_BY_KEY, default=OTHER_DOMAIN, return_dtype=pl.String()))
    )
