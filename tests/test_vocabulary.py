"""The shared vocabulary: the paper's 15 relations, 18 domains and a strict lookup."""

from __future__ import annotations

import pytest

from cosmo_kg.errors import InputError
from cosmo_kg.vocabulary import DOMAINS, RELATIONS, BehaviorKind, normalize_domain, relation, relations_for


def test_the_fifteen_relations_of_the_paper() -> None:
    assert list(RELATIONS) == [
        "USED_FOR_FUNC",
        "USED_FOR_EVE",
        "USED_FOR_AUD",
        "CAPABLE_OF",
        "USED_TO",
        "USED_AS",
        "IS_A",
        "USED_ON",
        "USED_IN_LOC",
        "USED_IN_BODY",
        "USED_WITH",
        "USED_BY",
        "xINTERESTED_IN",
        "xIS_A",
        "xWANT",
    ]
    for r in RELATIONS.values():
        assert r.example and r.tail_type and r.search_buy_question and r.co_buy_phrase and r.kinds


def test_every_kind_has_relations() -> None:
    for kind in BehaviorKind:
        assert relations_for(kind)


def test_unknown_relation_lists_the_valid_ones() -> None:
    with pytest.raises(InputError, match="unknown relation 'LIKES'") as error:
        relation("LIKES")
    assert "USED_FOR_EVE" in (error.value.hint or "")


def test_domains() -> None:
    assert len(DOMAINS) == 18
    assert normalize_domain("  sports & OUTDOORS ") == "Sports & Outdoors"
    assert normalize_domain("Cell Phones & Accessories") == "Others"
    assert normalize_domain(None) == "Others"
