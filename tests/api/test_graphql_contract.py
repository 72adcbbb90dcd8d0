"""The GraphQL contract against the real Neo4j with the planted fixture graph."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import gql

pytestmark = pytest.mark.neo4j

PRODUCT = """
query($id: ID!, $first: Int, $after: String, $relation: Relation) {
  product(id: $id) {
    title productType domain
    intentions(relation: $relation, first: $first, after: $after, minPlausibility: 0.1) {
      edges { cursor relation plausibility typicality node { text } }
      pageInfo { hasNextPage endCursor }
    }
    coBought(first: 5) { count product { id title } }
  }
}"""


def test_product_answers_title_type_domain_intentions_and_co_bought(client: TestClient) -> None:
    body = gql(client, PRODUCT, id="P1", first=3)
    product = body["data"]["product"]
    assert product["title"] == "Coleman 4-person camping tent"
    assert product["productType"] == "tent" and product["domain"] == "Sports & Outdoors"
    edges = product["intentions"]["edges"]
    assert [e["node"]["text"] for e in edges] == ["go camping", "campsite", "outdoor cooking"]
    assert edges[0]["relation"] == "USED_FOR_EVE" and edges[0]["plausibility"] == 0.95
    assert product["intentions"]["pageInfo"]["hasNextPage"] is True
    assert [c["product"]["id"] for c in product["coBought"]] == ["P2", "P3", "P4"]
    assert product["coBought"][0]["count"] == 12


def test_pages_of_intentions_walk_every_edge_once(client: TestClient) -> None:
    seen, after = [], None
    while True:
        page = gql(client, PRODUCT, id="P1", first=7, after=after)["data"]["product"]["intentions"]
        seen += [(e["relation"], e["node"]["text"]) for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    all_at_once = gql(client, PRODUCT, id="P1", first=100)["data"]["product"]["intentions"]["edges"]
    assert seen == [(e["relation"], e["node"]["text"]) for e in all_at_once]
    assert len(seen) == len(set(seen)) == 29


def test_relation_filter_keeps_one_relation(client: TestClient) -> None:
    edges = gql(client, PRODUCT, id="P1", first=50, relation="CAPABLE_OF")["data"]["product"]["intentions"][
        "edges"
    ]
    assert len(edges) == 25 and {e["relation"] for e in edges} == {"CAPABLE_OF"}


def test_unknown_product_is_null(client: TestClient) -> None:
    assert gql(client, PRODUCT, id="nope")["data"]["product"] is None


PAGE = "{ edges { cursor relation plausibility node { text } } pageInfo { hasNextPage endCursor } }"


def page_of(client: TestClient, selection: str, **variables: object) -> object:
    declared = ", $first: Int" if "$first" in selection else ""
    body = gql(
        client, f"query($id: ID!{declared}) {{ product(id: $id) {{ title {selection} }} }}", **variables
    )
    return body.get("errors") or body["data"]["product"]


def test_unfiltered_page_fetched_with_the_product_equals_the_page_read_alone(client: TestClient) -> None:
    # The product reads its page ahead in one round trip whatever the arguments; these pin that
    # every way of asking for the same page answers the same.
    alone = page_of(client, f"intentions(first: $first, minPlausibility: 0) {PAGE}", id="P1", first=4)
    assert page_of(client, f"intentions(first: $first) {PAGE}", id="P1", first=4) == alone
    assert page_of(client, f"intentions(first: 4) {PAGE}", id="P1") == alone
    default = page_of(client, f"intentions {PAGE}", id="P1")
    assert default == page_of(client, f"... on Product {{ intentions {PAGE} }}", id="P1")
    assert default == page_of(client, f"intentions(first: 10, minPlausibility: 0) {PAGE}", id="P1")
    assert page_of(client, f"intentions {PAGE}", id="nope") is None


def test_page_size_above_the_limit_is_a_coded_error_without_filters_too(client: TestClient) -> None:
    (error,) = page_of(client, f"intentions(first: $first) {PAGE}", id="P1", first=1000)  # type: ignore[misc]
    assert (
        error["extensions"]["code"] == "BAD_USER_INPUT"
        and "first must be between 0 and 100" in error["message"]
    )


def test_search_query_has_intentions_and_purchases(client: TestClient) -> None:
    body = gql(
        client,
        """{ searchQuery(text: "  Camping TENT ") { text
        intentions(first: 2) { edges { relation node { text } } pageInfo { hasNextPage } }
        purchased { count product { id } } } }""",
    )
    query = body["data"]["searchQuery"]
    assert query["text"] == "camping tent"
    assert [e["node"]["text"] for e in query["intentions"]["edges"]] == ["go camping", "campsite"]
    assert query["purchased"] == [{"count": 50, "product": {"id": "P1"}}]


def test_intention_lists_products_and_queries_per_relation(client: TestClient) -> None:
    body = gql(
        client,
        """{ intention(text: "walk the dog") { text tailTypes
        products(relation: USED_FOR_EVE) { relation product { id } }
        queries { relation query { text } } } }""",
    )
    intention = body["data"]["intention"]
    assert intention["tailTypes"] == ["event"]
    assert {p["product"]["id"] for p in intention["products"]} == {"P5", "P6"}
    assert intention["queries"] == [{"relation": "USED_FOR_EVE", "query": {"text": "dog walking"}}]


def test_semantic_search_finds_the_planted_intention(client: TestClient) -> None:
    hits = gql(
        client,
        '{ semanticSearch(text: "taking my puppy out for a stroll", k: 3) { score intention { text } } }',
    )["data"]["semanticSearch"]
    assert hits[0]["intention"]["text"] == "walk the dog"
    assert hits[0]["score"] > hits[1]["score"]


def test_navigate_groups_products_under_intention_facets(client: TestClient) -> None:
    nav = gql(
        client,
        '{ navigate(query: "camping tent", facets: 2, productsPerFacet: 3) '
        "{ query source facets { intention { text } relation products { id } } } }",
    )["data"]["navigate"]
    assert nav["source"] in {"graph", "tier1", "tier2"}
    assert [f["intention"]["text"] for f in nav["facets"]] == ["go camping", "campsite"]
    assert nav["facets"][0]["products"][0]["id"] == "P1"
    assert {p["id"] for p in nav["facets"][0]["products"]} <= {"P1", "P2", "P3", "P7"}


def test_recommend_explains_complements_by_shared_intentions(client: TestClient) -> None:
    query = (
        "query($ids: [ID!]!) { recommend(productIds: $ids, k: 5) { product { id productType } score "
        "sharedIntentions { intention { text } relation score } } }"
    )
    dog = gql(client, query, ids=["P5"])["data"]["recommend"]
    assert dog[0]["product"]["id"] == "P6"
    assert dog[0]["sharedIntentions"][0] == {
        "intention": {"text": "walk the dog"},
        "relation": "USED_FOR_EVE",
        "score": pytest.approx(0.95 * 0.9 * 0.9 * 0.8, abs=1e-6),
    }
    tent = [r["product"]["id"] for r in gql(client, query, ids=["P1"])["data"]["recommend"]]
    assert "P1" not in tent
    assert tent.index("P7") > tent.index("P3")  # another tent is a substitute, ranked lower


def test_relevance_is_higher_for_the_bought_product(client: TestClient) -> None:
    query = (
        '{ relevance(query: "dog walking", productId: "%s") '
        "{ sharedIntentions coverage score searchBuyCount } }"
    )
    bought = gql(client, query % "P5")["data"]["relevance"]
    other = gql(client, query % "P3")["data"]["relevance"]
    assert bought["sharedIntentions"][0] == "walk the dog" and bought["searchBuyCount"] == 20
    assert bought["score"] > other["score"] and other["sharedIntentions"] == []


def test_stats_counts_nodes_and_edges(client: TestClient) -> None:
    stats = gql(client, "{ stats { totalNodes totalEdges nodes { name count } } }")["data"]["stats"]
    counts = {c["name"]: c["count"] for c in stats["nodes"]}
    assert counts["Product"] == 7 and counts["Query"] == 3
    assert stats["totalEdges"] > 30


def test_page_size_above_the_limit_is_a_coded_error(client: TestClient) -> None:
    body = gql(client, PRODUCT, id="P1", first=1000)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "first must be between 0 and 100" in body["errors"][0]["message"]


def test_too_deep_documents_are_refused(client: TestClient) -> None:
    deep = "id"
    for _ in range(6):
        deep = f"coBought {{ product {{ {deep} }} }}"
    body = gql(client, f'{{ product(id: "P1") {{ {deep} }} }}')
    assert "exceeds maximum operation depth" in body["errors"][0]["message"]


def test_documents_with_too_many_aliases_are_refused(client: TestClient) -> None:
    aliased = " ".join(f'p{i}: product(id: "P1") {{ id }}' for i in range(16))
    body = gql(client, f"{{ {aliased} }}")
    assert "16 aliases found. Allowed: 15" in body["errors"][0]["message"]
