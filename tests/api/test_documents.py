"""The GraphQL document cache: a text is parsed and validated once; refused documents never stick."""

from __future__ import annotations

import asyncio

import strawberry
from strawberry.extensions import QueryDepthLimiter

from cosmo_kg.api.documents import DocumentCache


@strawberry.type
class Node:
    name: str

    @strawberry.field
    def child(self) -> Node:
        return Node(name=self.name + "/child")


@strawberry.type
class Query:
    @strawberry.field
    def root(self, name: str) -> Node:
        return Node(name=name)


def schema_with(cache: DocumentCache) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query, extensions=[cache.extension(), lambda: QueryDepthLimiter(max_depth=3)]
    )


def run(schema: strawberry.Schema, query: str, **variables: object) -> strawberry.types.ExecutionResult:
    return asyncio.run(schema.execute(query, variable_values=variables))


def test_one_text_with_new_variables_reuses_its_document() -> None:
    cache = DocumentCache(size=8)
    schema = schema_with(cache)
    text = "query($n: String!) { root(name: $n) { name child { name } } }"
    first, second = run(schema, text, n="a"), run(schema, text, n="b")
    assert first.data == {"root": {"name": "a", "child": {"name": "a/child"}}}
    assert second.data == {"root": {"name": "b", "child": {"name": "b/child"}}}
    assert len(cache) == 1 and cache.get(text) is not None


def test_refused_documents_are_refused_every_time_and_not_kept() -> None:
    cache = DocumentCache(size=8)
    schema = schema_with(cache)
    too_deep = '{ root(name: "x") { child { child { child { name } } } } }'
    for _ in range(2):
        result = run(schema, too_deep)
        assert result.errors and "exceeds maximum operation depth" in result.errors[0].message
    unknown_field = "{ nothing }"
    assert run(schema, unknown_field).errors
    assert len(cache) == 0


def test_least_recently_used_text_is_dropped_past_the_size() -> None:
    cache = DocumentCache(size=2)
    schema = schema_with(cache)
    texts = [f'{{ root(name: "{n}") {{ name }} }}' for n in "abc"]
    for text in texts:
        run(schema, text)
    assert len(cache) == 2 and cache.get(texts[0]) is None
