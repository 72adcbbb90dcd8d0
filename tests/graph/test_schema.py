"""The schema: applied twice changes nothing, and its constraints really hold."""

from __future__ import annotations

import neo4j
import pytest
from neo4j.exceptions import ConstraintError

from cosmo_kg.graph.schema import apply_schema, schema_statements


def test_schema_applied_twice_changes_nothing(driver: neo4j.Driver) -> None:
    first = apply_schema(driver)
    second = apply_schema(driver)
    assert first == second
    assert first.statements == len(schema_statements())
    assert first.constraints >= 5


@pytest.mark.parametrize(
    ("label", "key"),
    [
        ("Product", "product_id"),
        ("Query", "text"),
        ("Intention", "text"),
        ("Domain", "name"),
        ("ProductType", "name"),
    ],
)
def test_keys_are_unique(driver: neo4j.Driver, label: str, key: str) -> None:
    driver.execute_query(f"CREATE (:{label} {{{key}: 'same'}})")
    with pytest.raises(ConstraintError):
        driver.execute_query(f"CREATE (:{label} {{{key}: 'same'}})")
