"""Neo4j round trips per GraphQL request, counted at the reader every read goes through: one for
any shape of a product's or a search query's intentions, one per field level for lists."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cosmo_kg.api.app import create_app
from cosmo_kg.api.index import TextEmbedder
from cosmo_kg.api.services import ServeSettings
from cosmo_kg.graph.version import DATABASE_ID, LATEST
from tests.api.conftest import gql

pytestmark = pytest.mark.neo4j

EDGES = (
    "{ edges { cursor relation plausibility typicality node { text } } pageInfo { hasNextPage endCursor } }"
)
CURSOR_OF_THIRD = "b2Zmc2V0OjI="  # encode_cursor(2)
SHAPES = {
    "plain": "intentions",
    "first": "intentions(first: 3)",
    "relation": "intentions(relation: CAPABLE_OF, first: 5)",
    "min plausibility": "intentions(minPlausibility: 0.8)",
    "min typicality": "intentions(minTypicality: 0.7, first: 4)",
    "cursor": f'intentions(first: 4, after: "{CURSOR_OF_THIRD}")',
    "domain": 'intentions(domain: "sports & outdoors", first: 3)',
    "variables": "intentions(relation: $relation, minPlausibility: $min, first: $first)",
}
VARIABLES = {"relation": "USED_FOR_EVE", "min": 0.5, "first": 2}


class Statements:
    """The statements the app's reader sends for requests while installed: the real reads,
    counted (not the graph version reads the app's freshness watch makes in the background)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def wrap(self, rows: Any) -> Any:
        async def counted(statement: str, **params: Any) -> list[dict[str, Any]]:
            if statement not in (LATEST, DATABASE_ID):
                self.sent.append(statement)
            return await rows(statement, **params)

        return counted


@pytest.fixture(scope="module")
def counted(
    settings: ServeSettings, built_index: Path, embedder: TextEmbedder
) -> Iterator[tuple[TestClient, Statements]]:
    statements = Statements()
    with TestClient(create_app(settings, embedder=embedder)) as client:
        reader = client.app.state.services.reader  # type: ignore[attr-defined]
        reader.rows = statements.wrap(reader.rows)
        yield client, statements


def ask(counted: tuple[TestClient, Statements], query: str, **variables: object) -> tuple[dict, int]:
    client, statements = counted
    statements.sent.clear()
    body = gql(client, query, **variables)
    assert "errors" not in body, body
    return body["data"], len(statements.sent)


def declared(field: str) -> str:
    """The declarations of the shape's variables (validation refuses unused ones)."""
    return ", $relation: Relation, $min: Float, $first: Int" if "$" in field else ""


def product_query(field: str) -> str:
    return f"query($id: ID!{declared(field)}) {{ product(id: $id) {{ id title {field} {EDGES} }} }}"


@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_product_intentions_shape_is_one_round_trip(
    counted: tuple[TestClient, Statements], shape: str
) -> None:
    variables = VARIABLES if "$" in SHAPES[shape] else {}
    data, trips = ask(counted, product_query(SHAPES[shape]), id="P1", **variables)
    assert trips == 1
    # The same field twice under aliases is not read ahead: the resolver's own read answers it.
    alias = f"a: {SHAPES[shape]} {EDGES} b: {SHAPES[shape]}"
    alone, apart = ask(counted, product_query(alias), id="P1", **variables)
    assert apart == 2
    assert alone["product"]["a"] == alone["product"]["b"] == data["product"]["intentions"]
    assert data["product"]["intentions"]["edges"]


def test_relation_and_cursor_pages_are_the_asked_slice(counted: tuple[TestClient, Statements]) -> None:
    data, _ = ask(counted, product_query(SHAPES["relation"]), id="P1")
    assert {e["relation"] for e in data["product"]["intentions"]["edges"]} == {"CAPABLE_OF"}
    everything, _ = ask(counted, product_query("intentions(first: 10)"), id="P1")
    after, _ = ask(counted, product_query(SHAPES["cursor"]), id="P1")
    assert after["product"]["intentions"]["edges"] == everything["product"]["intentions"]["edges"][3:7]


def test_an_unknown_product_is_null_in_one_round_trip(counted: tuple[TestClient, Statements]) -> None:
    data, trips = ask(counted, product_query(SHAPES["relation"]), id="nope")
    assert data["product"] is None and trips == 1


def search_query(field: str) -> str:
    return f"query($text: String!{declared(field)}) {{ searchQuery(text: $text) {{ text {field} {EDGES} }} }}"


@pytest.mark.parametrize("shape", ["plain", "relation", "min plausibility", "cursor", "domain", "variables"])
def test_every_search_query_intentions_shape_is_one_round_trip(
    counted: tuple[TestClient, Statements], shape: str
) -> None:
    variables = VARIABLES if "$" in SHAPES[shape] else {}
    data, trips = ask(counted, search_query(SHAPES[shape]), text="Camping Tent", **variables)
    assert trips == 1 and data["searchQuery"]["text"] == "camping tent"
    unknown, trips = ask(counted, search_query(SHAPES[shape]), text="no such query", **variables)
    assert unknown["searchQuery"] is None and trips == 1


def test_nested_lists_cost_one_round_trip_per_field_level(counted: tuple[TestClient, Statements]) -> None:
    query = """{ intention(text: "go camping") { products(first: 10) {
      product { id intentions(relation: USED_FOR_EVE, first: 2) { edges { node { text } } } }
    } } }"""
    data, trips = ask(counted, query)
    products = data["intention"]["products"]
    assert {p["product"]["id"] for p in products} == {"P1", "P2", "P3", "P7"}
    assert trips == 3  # the intention, its products, all their intentions
