"""The GraphQL request context and the arguments resolvers share: page sizes, cursors, domains,
the relation enum and the intentions filter, which a parent field can read ahead of its child."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from enum import Enum
from typing import Any, cast

import strawberry
from strawberry.fastapi import BaseContext
from strawberry.types import Info

from cosmo_kg.api.answers import AnswerService
from cosmo_kg.api.feature_store import FeatureService
from cosmo_kg.api.index import SemanticIndex
from cosmo_kg.api.loaders import Loaders
from cosmo_kg.api.lookahead import child_arguments
from cosmo_kg.api.reads import EdgeFilter, GraphReader
from cosmo_kg.api.settings import ApiSettings
from cosmo_kg.errors import InputError
from cosmo_kg.graph.retract import normalize_domain_name
from cosmo_kg.vocabulary import DOMAINS, RELATIONS

INTENTIONS_PAGE = 10  # the default `first` of intentions fields
_RELATION_ENUM: Any = Enum("Relation", {name: name for name in RELATIONS})  # type: ignore[misc]
Relation = strawberry.enum(
    _RELATION_ENUM,
    description="The commonsense relations of the knowledge graph (SPEC §2).",
)


@dataclass
class ApiContext(BaseContext):
    settings: ApiSettings
    reader: GraphReader
    loaders: Loaders
    answers: AnswerService
    features: FeatureService
    index: SemanticIndex | None


def ctx(info: Info) -> ApiContext:
    return cast(ApiContext, info.context)


def page_size(info: Info, first: int, name: str = "first") -> int:
    limit = ctx(info).settings.max_page_size
    if not 0 <= first <= limit:
        raise InputError(f"{name} must be between 0 and {limit}, got {first}")
    return first


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def decode_cursor(cursor: str | None) -> int:
    if cursor is None:
        return 0
    try:
        kind, _, number = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind == "offset" and number.isdigit():
            return int(number) + 1
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise InputError(f"after is not a cursor of this API: {cursor!r}", hint="pass a pageInfo.endCursor")


def known_domain(domain: str | None) -> str | None:
    """A domain argument in the vocabulary's spelling (any case); ``InputError`` if unknown."""
    if domain is None:
        return None
    spelled = normalize_domain_name(domain)
    if spelled not in DOMAINS:
        raise InputError(f"unknown domain {domain!r}", hint=f"use one of: {'; '.join(DOMAINS)}")
    return spelled


def edge_filter(
    info: Info,
    relation: str | None,
    min_plausibility: float,
    min_typicality: float,
    first: int,
    after: str | None = None,
    domain: str | None = None,
) -> EdgeFilter:
    """The edges a list field asks for; ``relation`` is a name of the ``Relation`` enum."""
    return EdgeFilter(
        (relation,) if relation is not None else None,
        min_plausibility,
        min_typicality,
        decode_cursor(after),
        page_size(info, first),
        known_domain(domain),
    )


def relation_name(relation: Any) -> str | None:
    """The vocabulary name of a ``Relation`` argument: the enum member strawberry passes a
    resolver, or the name graphql-core coerces a look-ahead argument to."""
    return None if relation is None else str(getattr(relation, "value", relation))


def asked_intentions(info: Info) -> EdgeFilter | None:
    """The filter of the one ``intentions`` field selected under the current field, read ahead so
    the parent fetches that page in its own round trip; None when it is absent, selected more
    than once or its arguments are bad (its resolver then fetches, or reports the error)."""
    args = child_arguments(info, "intentions")
    if args is None:
        return None
    try:
        return edge_filter(
            info,
            relation_name(args["relation"]),
            args["minPlausibility"],
            args["minTypicality"],
            args["first"],
            args.get("after"),
            args.get("domain"),
        )
    except InputError:
        return None
