"""The API's page-of-intentions statements expand only the relationship types asked, as Neo4j's
own PROFILE shows: a head's behaviour edges and its other relations are never read."""

from __future__ import annotations

from typing import Any

import neo4j
import pytest

from cosmo_kg.api import statements
from cosmo_kg.api.reads import EdgeFilter
from cosmo_kg.vocabulary import RELATIONS, NodeLabel

pytestmark = pytest.mark.neo4j


def operators(plan: Any) -> list[Any]:
    return [plan, *(op for child in plan.get("children", ()) for op in operators(child))]


def expansions(driver: neo4j.Driver, statement: str, **params: Any) -> list[tuple[str, int]]:
    """(details, rows) of every Expand operator of the statement's profile."""
    profile = driver.execute_query("PROFILE " + statement, params).summary.profile
    return [
        (op["args"]["Details"], op["rows"])
        for op in operators(profile)
        if op["operatorType"].startswith("Expand")
    ]


def page_params(edge_filter: EdgeFilter, keys: list[str]) -> dict[str, Any]:
    return {"keys": keys, **edge_filter.params()}


def test_a_relation_filter_expands_only_that_relationship_type(fixture_graph: neo4j.Driver) -> None:
    edge_filter = EdgeFilter(("CAPABLE_OF",), limit=3)
    statement = statements.head_intentions(NodeLabel.PRODUCT, edge_filter.relations, with_product=True)
    (expand,) = expansions(fixture_graph, statement, **page_params(edge_filter, ["P1"]))
    details, rows = expand
    assert ":CAPABLE_OF]" in details and "|" not in details
    assert rows == 25  # P1's CAPABLE_OF edges, not its 29 knowledge or its co-buy edges


def test_no_relation_filter_expands_the_vocabulary_relations_not_behaviour_edges(
    fixture_graph: neo4j.Driver,
) -> None:
    statement = statements.head_intentions(NodeLabel.PRODUCT)
    ((details, rows),) = expansions(fixture_graph, statement, **page_params(EdgeFilter(), ["P1"]))
    assert all(f":{name}" in details or f"|{name}" in details for name in RELATIONS)
    assert "CO_BUY" not in details and "SEARCH_BUY" not in details
    assert rows == 29  # P1's knowledge edges only


def test_intention_heads_expand_only_the_relation_asked(fixture_graph: neo4j.Driver) -> None:
    edge_filter = EdgeFilter(("USED_FOR_EVE",))
    statement = statements.intention_heads(NodeLabel.PRODUCT, edge_filter.relations)
    details = [d for d, _ in expansions(fixture_graph, statement, **page_params(edge_filter, ["go camping"]))]
    assert details and all(":USED_FOR_EVE]" in d and "|" not in d for d in details)


def test_a_relation_outside_the_vocabulary_never_reaches_cypher() -> None:
    with pytest.raises(ValueError, match="not relations of the vocabulary"):
        statements.head_intentions(NodeLabel.PRODUCT, ("CO_BUY]->() DETACH DELETE (h",))
