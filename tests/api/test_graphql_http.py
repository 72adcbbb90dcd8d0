"""JSON POSTs to /graphql are answered by the direct path, everything else by Strawberry's router,
and both give the same answers, errors and status codes."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.neo4j

QUERY = """query($id: ID!) { product(id: $id) { id title
  intentions(relation: USED_FOR_EVE, first: 2) {
    edges { relation node { text } } pageInfo { hasNextPage } } } }"""


def test_a_json_post_answers_as_the_router_answers_a_get(client: TestClient) -> None:
    posted = client.post("/graphql", json={"query": QUERY, "variables": {"id": "P1"}})
    got = client.get("/graphql", params={"query": QUERY, "variables": '{"id": "P1"}'})
    assert posted.status_code == got.status_code == 200
    assert posted.headers["content-type"] == "application/json"
    assert posted.json() == got.json()
    assert posted.json()["data"]["product"]["intentions"]["edges"][0]["node"]["text"] == "go camping"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ product(id: 1) { nope } }", "GRAPHQL_VALIDATION_FAILED"),
        ('{ product(id: "P1") { intentions(first: 1000) { edges { cursor } } } }', "BAD_USER_INPUT"),
        ("{ product(id: ", "GRAPHQL_VALIDATION_FAILED"),
    ],
)
def test_errors_are_the_same_on_both_paths(client: TestClient, query: str, code: str) -> None:
    posted = client.post("/graphql", json={"query": query})
    got = client.get("/graphql", params={"query": query})
    assert posted.status_code == got.status_code
    assert posted.json() == got.json()
    assert posted.json()["errors"][0]["extensions"]["code"] == code


def test_a_body_that_is_not_one_operation_goes_to_the_router(client: TestClient) -> None:
    broken = client.post("/graphql", content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 400 and "Unable to parse request body as JSON" in broken.text
    missing = client.post("/graphql", json={"variables": {}})
    assert missing.status_code == 400 and "No GraphQL query found" in missing.text
    named = client.post(
        "/graphql",
        json={
            "query": "query A { stats { totalNodes } } query B { stats { totalEdges } }",
            "operationName": "B",
        },
    )
    assert named.status_code == 200 and "totalEdges" in named.json()["data"]["stats"]


def test_direct_answers_are_counted_under_the_graphql_route(client: TestClient) -> None:
    client.post("/graphql", json={"query": '{ product(id: "P1") { id } }'})
    metrics = client.get("/metrics").text
    assert 'cosmo_http_requests_total{method="POST",route="/graphql",status="200"}' in metrics
