"""The read-only Cypher endpoint: reads answer, every kind of write is refused by the database."""

from __future__ import annotations

import asyncio

import neo4j
import pytest
from fastapi.testclient import TestClient

from cosmo_kg.api.console import CypherConsole
from cosmo_kg.graph.connection import Neo4jSettings, credentials
from tests.api.write_forms import NEVER_RUN, STATE, WRITE_FORMS

pytestmark = pytest.mark.neo4j


def cypher(client: TestClient, statement: str, **parameters: object) -> tuple[int, dict]:
    response = client.post("/cypher", json={"statement": statement, "parameters": parameters})
    return response.status_code, response.json()


def test_reads_return_columns_and_rows(client: TestClient) -> None:
    status, body = cypher(client, "MATCH (p:Product {product_id: $id}) RETURN p.title AS title, p", id="P5")
    assert status == 200
    assert body["columns"] == ["title", "p"]
    assert body["rows"][0][0] == "Reflective dog leash"
    assert body["rows"][0][1]["labels"] == ["Product"] and body["truncated"] is False


def test_rows_past_the_limit_are_cut_and_flagged(client: TestClient) -> None:
    status, body = cypher(client, "UNWIND range(1, 5000) AS x RETURN x")
    assert status == 200 and len(body["rows"]) == 1000 and body["truncated"] is True


@pytest.mark.parametrize("statement", WRITE_FORMS)
def test_every_write_is_refused(client: TestClient, statement: str) -> None:
    _, before = cypher(client, STATE)
    status, body = cypher(client, statement)
    assert status == 403, body
    assert body["error"]["code"] == "WRITE_REFUSED"
    assert "read-only" in body["error"]["message"]
    assert cypher(client, STATE)[1]["rows"] == before["rows"]


@pytest.mark.parametrize("statement", NEVER_RUN)
def test_forms_neo4j_will_not_plan_are_refused_as_bad_input(client: TestClient, statement: str) -> None:
    _, before = cypher(client, STATE)
    status, body = cypher(client, statement)
    assert status == 400 and body["error"]["code"] == "BAD_USER_INPUT", body
    assert cypher(client, STATE)[1]["rows"] == before["rows"]


def test_the_session_mode_refuses_writes_even_past_the_plan_check(
    neo4j_settings: Neo4jSettings, fixture_graph: neo4j.Driver
) -> None:
    async def write_without_plan_check() -> None:
        driver = neo4j.AsyncGraphDatabase.driver(neo4j_settings.uri, auth=credentials(neo4j_settings))
        try:
            await CypherConsole(driver, "neo4j", 5.0, 10)._execute("CREATE (n:Hacked) RETURN n", {})
        finally:
            await driver.close()

    with pytest.raises(neo4j.exceptions.ClientError, match=r"(?i)read access mode|not allowed"):
        asyncio.run(write_without_plan_check())


def test_a_bad_statement_is_a_400_with_neo4j_s_reason(client: TestClient) -> None:
    status, body = cypher(client, "MATCH (")
    assert status == 400 and body["error"]["code"] == "BAD_USER_INPUT"


def test_a_slow_statement_is_stopped_by_the_time_limit(client: TestClient) -> None:
    # 10^12 rows: no runtime on any machine finishes this inside the endpoint's time limit.
    endless = (
        "UNWIND range(1, 1000000) AS a UNWIND range(1, 1000000) AS b"
        " WITH a + b AS x WHERE x < 0 RETURN count(x)"
    )
    status, body = cypher(client, endless)
    assert status == 502 and "time limit" in body["error"]["message"]
