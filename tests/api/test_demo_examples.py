"""The three copy-paste examples `make demo` ends with work on the graph it loads."""

from __future__ import annotations

import json
import re
import shlex

import neo4j
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from cosmo_kg.cli import cli
from cosmo_kg.demo import example_commands, explore_lines
from cosmo_kg.graph.connection import Neo4jSettings
from tests.api.conftest import load_demo_sample

pytestmark = pytest.mark.neo4j


@pytest.fixture(scope="module")
def fixture_graph(session_driver: neo4j.Driver, tmp_path_factory: pytest.TempPathFactory) -> neo4j.Driver:
    load_demo_sample(session_driver, tmp_path_factory.mktemp("rejects"))
    return session_driver


def test_the_graphql_example_answers(client: TestClient) -> None:
    curl = shlex.split(example_commands("http://testserver")[0])
    payload = json.loads(curl[curl.index("-d") + 1])
    body = client.post("/graphql", json=payload).json()
    assert body["data"]["product"]["title"].startswith("Belkin")
    assert body["data"]["product"]["intentions"]["edges"]


@pytest.mark.parametrize("index", [1, 2], ids=["cypher", "graph query"])
def test_the_command_line_examples_answer(
    neo4j_env: dict[str, str], fixture_graph: neo4j.Driver, index: int
) -> None:
    command = shlex.split(example_commands("http://testserver")[index])
    assert command[0] == "cosmo-kg"
    result = CliRunner().invoke(cli, command[1:], env=neo4j_env)
    assert result.exit_code == 0, result.output
    assert "CAPABLE_OF" in result.stdout  # the cable extends the length of usb cables


def test_the_demo_names_the_urls_and_the_browser_user(neo4j_settings: Neo4jSettings) -> None:
    text = "\n".join(explore_lines(neo4j_settings))
    assert "/graphql" in text and "/explore" in text and "neo4j" in text


def test_graphiql_example_tabs_are_valid_queries(client: TestClient) -> None:
    page = client.get("/graphql", headers={"Accept": "text/html"}).text
    examples = re.findall(r"query: `(.*?)`", page, flags=re.DOTALL)
    assert len(examples) == 4
    for example in examples:
        body = client.post("/graphql", json={"query": example}).json()
        assert "errors" not in body, (example, body)
