"""``cosmo-kg cypher``: read-only by default, writes only with --write and a confirmation,
scripts stop at the first error with its line and column."""

from __future__ import annotations

import json
from pathlib import Path

import neo4j
import pytest
from click.testing import CliRunner

from cosmo_kg.cli import cli
from cosmo_kg.graph.console import ConsoleSettings, CypherSession, StatementError
from cosmo_kg.graph.cypher_text import Statement, split_statements
from cosmo_kg.graph.readonly import WriteRefusedError
from tests.api.write_forms import NEVER_RUN, STATE, WRITE_FORMS

pytestmark = pytest.mark.neo4j


@pytest.fixture
def session(fixture_graph: neo4j.Driver) -> CypherSession:
    return CypherSession(fixture_graph, "neo4j", ConsoleSettings())


def graph_state(driver: neo4j.Driver) -> tuple[dict, list, list]:
    state = driver.execute_query(STATE).records[0].data()
    schema = [r["name"] for r in driver.execute_query("SHOW INDEXES YIELD name").records]
    users = [r["user"] for r in driver.execute_query("SHOW USERS YIELD user", database_="system").records]
    return state, sorted(schema), users


def cypher(env: dict[str, str], *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["cypher", *args], env=env, input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("statement", WRITE_FORMS + NEVER_RUN)
def test_every_write_form_is_refused_without_write(
    session: CypherSession, fixture_graph: neo4j.Driver, statement: str
) -> None:
    before = graph_state(fixture_graph)
    expected = WriteRefusedError if statement in WRITE_FORMS else StatementError
    with pytest.raises(expected):
        session.run(Statement(statement))
    assert graph_state(fixture_graph) == before


def test_a_read_returns_columns_rows_and_its_time(session: CypherSession) -> None:
    result = session.run(
        Statement("MATCH (p:Product {product_id: $id}) RETURN p.title AS title"), {"id": "P5"}
    )
    assert result.columns == ["title"] and result.rows == [["Reflective dog leash"]]
    assert result.seconds > 0 and not result.truncated


def test_rows_past_the_limit_are_counted_not_shown(fixture_graph: neo4j.Driver) -> None:
    session = CypherSession(fixture_graph, "neo4j", ConsoleSettings(row_limit=10))
    result = session.run(Statement("UNWIND range(1, 25) AS x RETURN x"))
    assert len(result.rows) == 10 and result.total_rows == 25 and result.truncated


def test_a_confirmed_write_runs_and_a_declined_one_does_not(fixture_graph: neo4j.Driver) -> None:
    asked: list[str] = []

    def confirm(statement: Statement, why: str) -> bool:
        asked.append(statement.text)
        return "yes" in statement.text

    session = CypherSession(fixture_graph, "neo4j", ConsoleSettings(), write=True, confirm=confirm)
    with pytest.raises(WriteRefusedError, match="not confirmed"):
        session.run(Statement("CREATE (:Console {said: 'no'})"))
    result = session.run(Statement("CREATE (:Console {said: 'yes'})"))
    assert result.counters["nodes_created"] == 1 and len(asked) == 2
    count = fixture_graph.execute_query("MATCH (n:Console) DETACH DELETE n RETURN count(*) AS n")
    assert count.records[0]["n"] == 1


def test_a_script_stops_at_its_first_error_with_line_and_column(
    neo4j_env: dict[str, str], fixture_graph: neo4j.Driver
) -> None:
    script = "RETURN 1 AS one;\n\nMATCH (p:Product)\nRETURN p LIMT 3;\nRETURN 2 AS never;\n"
    code, out, err = cypher(neo4j_env, "--console-format", "csv", stdin=script)
    assert code == 1
    assert out == "one\n1\n"
    assert err.splitlines()[1].startswith("Error: line 4, column 10: Invalid input 'LIMT'")


def test_execute_option_prints_json_and_exits_0(
    neo4j_env: dict[str, str], fixture_graph: neo4j.Driver
) -> None:
    code, out, _ = cypher(
        neo4j_env,
        "-e",
        "MATCH (p:Product) WHERE p.product_id IN ['P1', 'P5'] RETURN p.product_id AS id ORDER BY id",
        "--console-format",
        "json",
    )
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == [{"id": "P1"}, {"id": "P5"}]


def test_a_write_without_the_flag_is_refused_with_exit_1(
    neo4j_env: dict[str, str], fixture_graph: neo4j.Driver
) -> None:
    code, _, err = cypher(neo4j_env, "-e", "CREATE (:Hacked)")
    assert code == 1
    assert "Error: the console is read-only; this statement is a write statement" in err


def test_a_script_needs_yes_to_write(
    neo4j_env: dict[str, str], fixture_graph: neo4j.Driver, tmp_path: Path
) -> None:
    script = tmp_path / "write.cypher"
    script.write_text("CREATE (:Scripted);\nMATCH (n:Scripted) RETURN count(n) AS n;\n")
    code, _, err = cypher(neo4j_env, "--write", "-f", str(script))
    assert code == 1 and "Error: a script cannot confirm writes" in err
    code, out, _ = cypher(neo4j_env, "--write", "--yes", "-f", str(script), "--console-format", "csv")
    assert code == 0 and out == "n\n1\n"
    fixture_graph.execute_query("MATCH (n:Scripted) DELETE n")


def test_saved_queries_params_and_schema_from_a_script(
    neo4j_env: dict[str, str], fixture_graph: neo4j.Driver
) -> None:
    script = (
        ":format csv\n:saved top_intentions_of_product product_id=P5 limit=1\n"
        ':param id "P1"\nMATCH (p:Product {product_id: $id}) RETURN p.title AS title;\n'
    )
    code, out, err = cypher(neo4j_env, stdin=script)
    assert code == 0, err
    assert "walk the dog" in out and "title\nColeman 4-person camping tent\n" in out
    code, out, _ = cypher(neo4j_env, stdin=":schema\n")
    assert code == 0 and "USED_FOR_EVE" in out and "product_id" in out


def test_statements_split_at_semicolons_outside_strings_and_comments() -> None:
    script = "RETURN ';' AS a; // not; the end\nRETURN 2;\n/* ; */ RETURN `x;y`"
    assert [(s.text, s.line) for s in split_statements(script)] == [
        ("RETURN ';' AS a", 1),
        ("// not; the end\nRETURN 2", 1),
        ("/* ; */ RETURN `x;y`", 3),
    ]


def test_explain_shows_the_plan_without_running(
    neo4j_env: dict[str, str], fixture_graph: neo4j.Driver
) -> None:
    code, out, _ = cypher(neo4j_env, stdin=":explain CREATE (:Explained);\n")
    assert code == 0 and "Create" in out
    assert not fixture_graph.execute_query("MATCH (n:Explained) RETURN n").records


def test_a_routing_uri_works_too(neo4j_env: dict[str, str], fixture_graph: neo4j.Driver) -> None:
    routing = {**neo4j_env, "NEO4J_URI": neo4j_env["NEO4J_URI"].replace("bolt://", "neo4j://")}
    code, out, _ = cypher(routing, "-e", "RETURN 1 AS one", "--console-format", "csv")
    assert code == 0 and out == "one\n1\n"


def test_an_unknown_command_is_an_error_with_a_hint(
    neo4j_env: dict[str, str], fixture_graph: neo4j.Driver
) -> None:
    code, _, err = cypher(neo4j_env, stdin=":frobnicate\nRETURN 1;\n")
    assert code == 1 and "Error: unknown command :frobnicate" in err and "Hint: type :help" in err
