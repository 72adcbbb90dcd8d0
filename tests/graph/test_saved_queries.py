"""Every saved query parses, documents itself and runs against a loaded sample graph."""

from __future__ import annotations

from pathlib import Path

import neo4j
import pytest

from cosmo_kg.errors import InputError
from cosmo_kg.graph.loader import LoadConfig, LoaderSettings, load
from cosmo_kg.graph.saved_queries import get_saved_query, run_saved_query, saved_queries
from tests.conftest import SAMPLES

# Values present in the bundled IntentionQA sample.
FIXTURE_PARAMS = {
    "product_id": "B00000J1U8",
    "domain": "Electronics",
    "intention": "usb extension cable",
    "query": "usb cable",
    "tail_type": "function",
    "text": "cable",
}


@pytest.fixture(scope="module")
def sample_graph(session_driver: neo4j.Driver, tmp_path_factory: pytest.TempPathFactory) -> neo4j.Driver:
    from tests.conftest import wipe

    wipe(session_driver)
    config = LoadConfig(
        rejects_dir=tmp_path_factory.mktemp("rejects"),
        knowledge=SAMPLES / "intentionqa_knowledge.parquet",
        products=SAMPLES / "intentionqa_products.parquet",
    )
    load(config, session_driver, LoaderSettings())
    # One search-buy row so that query paths have something to walk.
    session_driver.execute_query(
        "MATCH (p:Product {product_id: 'B00000J1U8'})-[:IS_A]->(i:Intention) "
        "MERGE (q:Query {text: 'usb cable'}) MERGE (q)-[:SEARCH_BUY {count: 3}]->(p) "
        "MERGE (q)-[:IS_A {plausibility: 0.9, typicality: 0.7}]->(i)"
    )
    return session_driver


def test_there_are_at_least_ten_documented_queries() -> None:
    queries = saved_queries()
    assert len(queries) >= 10
    for query in queries.values():
        assert query.answers.endswith("?"), query.name


@pytest.mark.parametrize("name", sorted(saved_queries()))
def test_saved_query_runs_on_the_sample_graph(sample_graph: neo4j.Driver, name: str) -> None:
    query = get_saved_query(name)
    given = {p.name: str(FIXTURE_PARAMS[p.name]) for p in query.params if p.name in FIXTURE_PARAMS}
    rows = run_saved_query(sample_graph, query, query.bind(given))
    assert rows, f"{name} returned no rows on the sample graph"


def test_missing_parameter_is_named() -> None:
    with pytest.raises(InputError, match="needs parameter product_id"):
        get_saved_query("top_intentions_of_product").bind({})


def test_unknown_query_says_how_to_list(tmp_path: Path) -> None:
    with pytest.raises(InputError) as error:
        get_saved_query("nope")
    assert "graph query --list" in (error.value.hint or "")
