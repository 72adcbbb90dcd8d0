"""An interactive ``cosmo-kg cypher`` session in a real terminal (pexpect): a multi-line
statement, a saved query, a refused write, Ctrl-C cancelling a running statement, history."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import neo4j
import pexpect
import pytest

pytestmark = pytest.mark.neo4j

PROMPT = "cypher>"  # prompt-toolkit draws the space after it with a cursor move
SLOW = (  # 10^12 rows: no runtime finishes this inside a test
    "UNWIND range(1, 1000000) AS a UNWIND range(1, 1000000) AS b"
    " WITH a + b AS x WHERE x < 0 RETURN count(x) AS n;"
)


def spawn(env: dict[str, str], tmp_path: Path, *args: str) -> Iterator[pexpect.spawn]:
    env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "TERM": "xterm",
        "PROMPT_TOOLKIT_NO_CPR": "1",
        "COLUMNS": "120",
        "LINES": "40",
        **env,
        "COSMO_CONSOLE_HISTORY_FILE": str(tmp_path / "history"),
    }
    child = pexpect.spawn(
        str(Path(sys.executable).parent / "cosmo-kg"),
        ["cypher", *args],
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(40, 120),
    )
    with (tmp_path / "session.log").open("w", encoding="utf-8") as log:
        child.logfile_read = log
        child.expect_exact(PROMPT)
        yield child
        child.close(force=True)


@pytest.fixture
def console(
    neo4j_env: dict[str, str], fixture_graph: neo4j.Driver, tmp_path: Path
) -> Iterator[pexpect.spawn]:
    yield from spawn(neo4j_env, tmp_path)


@pytest.fixture
def writable(
    neo4j_env: dict[str, str], fixture_graph: neo4j.Driver, tmp_path: Path
) -> Iterator[pexpect.spawn]:
    yield from spawn(neo4j_env, tmp_path, "--write")


def test_an_interactive_session(console: pexpect.spawn, tmp_path: Path) -> None:
    console.sendline("MATCH (p:Product {product_id: 'P5'})")
    console.expect_exact("...>")
    console.sendline("RETURN p.title AS title;")
    console.expect_exact("Reflective dog leash")
    console.expect(r"1 row in \d+ ms")
    console.expect_exact(PROMPT)

    console.sendline(":saved top_intentions_of_product product_id=P5")
    console.expect_exact("walk the dog")
    console.expect_exact(PROMPT)

    console.sendline("CREATE (:Hacked);")
    console.expect_exact("Error: the console is read-only")
    console.expect_exact(PROMPT)

    console.sendline(SLOW)  # minutes of work
    time.sleep(3)
    console.sendintr()
    console.expect_exact("cancelled")
    console.expect_exact(PROMPT, timeout=30)

    console.sendline("RETURN 40 + 2 AS answer;")
    console.expect_exact("42")
    console.expect_exact(PROMPT)
    console.sendeof()
    console.expect(pexpect.EOF)
    console.close()
    assert console.exitstatus == 0
    history = (tmp_path / "history").read_text(encoding="utf-8")
    assert "RETURN p.title AS title;" in history and ":saved top_intentions_of_product" in history


def test_with_write_each_write_asks_first(writable: pexpect.spawn, fixture_graph: neo4j.Driver) -> None:
    writable.sendline("CREATE (:Confirmed {by: 'no'});")
    writable.expect_exact("Run this write? [y/N]")
    writable.sendline("n")
    writable.expect_exact("not confirmed")
    writable.sendline("CREATE (:Confirmed {by: 'yes'});")
    writable.expect_exact("Run this write? [y/N]")
    writable.sendline("y")
    writable.expect(r"nodes created 1")
    writable.sendline(":exit")
    writable.expect(pexpect.EOF)
    found = fixture_graph.execute_query(
        "MATCH (n:Confirmed) WITH collect(n.by) AS by MATCH (n:Confirmed) DELETE n RETURN DISTINCT by"
    ).records
    assert found[0]["by"] == ["yes"]
