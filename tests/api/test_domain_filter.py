"""The ``domain`` argument of the intentions fields (SPEC §1.7)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import gql

pytestmark = pytest.mark.neo4j

QUERY_INTENTIONS = """
query ($text: String!, $domain: String) {
  searchQuery(text: $text) { intentions(domain: $domain) { edges { node { text } } } }
}"""
PRODUCT_INTENTIONS = """
query ($id: ID!, $domain: String) {
  product(id: $id) { intentions(domain: $domain, first: 3) { edges { node { text } } } }
}"""


def _texts(connection: dict) -> list[str]:
    return [edge["node"]["text"] for edge in connection["edges"]]


def test_a_query_keeps_the_knowledge_of_the_domain_it_bought_in(client: TestClient) -> None:
    inside = gql(client, QUERY_INTENTIONS, text="dog walking", domain="pet supplies")
    outside = gql(client, QUERY_INTENTIONS, text="dog walking", domain="Sports & Outdoors")
    everything = gql(client, QUERY_INTENTIONS, text="dog walking")
    assert _texts(inside["data"]["searchQuery"]["intentions"]) == ["walk the dog", "dog owner"]
    assert _texts(outside["data"]["searchQuery"]["intentions"]) == []
    assert _texts(everything["data"]["searchQuery"]["intentions"]) == ["walk the dog", "dog owner"]


def test_a_product_outside_the_domain_has_no_intentions_in_it(client: TestClient) -> None:
    own = gql(client, PRODUCT_INTENTIONS, id="P1", domain="Sports & Outdoors")
    other = gql(client, PRODUCT_INTENTIONS, id="P1", domain="Pet Supplies")
    assert _texts(own["data"]["product"]["intentions"]) == ["go camping", "campsite", "outdoor cooking"]
    assert _texts(other["data"]["product"]["intentions"]) == []


def test_an_unknown_domain_is_a_bad_request(client: TestClient) -> None:
    body = gql(client, PRODUCT_INTENTIONS, id="P1", domain="Moon Rocks")
    (error,) = body["errors"]
    assert error["message"].startswith("unknown domain 'Moon Rocks'")
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
