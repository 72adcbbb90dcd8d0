"""A per-schema cache of parsed and validated GraphQL documents, keyed by the query text.

Clients send the same few query texts with different variables, and parsing plus validation
(depth, alias and token limits included) cost more CPU than executing a small query. Both
outcomes depend only on the text and on rules fixed when the schema is built, and graphql-core
documents are not mutated by execution, so one document can serve every request of a text.
Only documents that validated without errors are kept (error objects are per request).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator

from graphql import DocumentNode
from strawberry.extensions import SchemaExtension


class DocumentCache:
    """Up to ``size`` valid documents, least recently used dropped first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._documents: OrderedDict[str, DocumentNode] = OrderedDict()

    def __len__(self) -> int:
        return len(self._documents)

    def get(self, text: str) -> DocumentNode | None:
        document = self._documents.get(text)
        if document is not None:
            self._documents.move_to_end(text)
        return document

    def put(self, text: str, document: DocumentNode) -> None:
        self._documents[text] = document
        if len(self._documents) > self.size:
            self._documents.popitem(last=False)

    def extension(self) -> Callable[[], SchemaExtension]:
        """A factory for ``strawberry.Schema(extensions=...)`` using this cache."""
        return lambda: CachedDocuments(self)


class CachedDocuments(SchemaExtension):
    """Skips parsing and validation for a text whose document validated before."""

    def __init__(self, cache: DocumentCache) -> None:
        self.cache = cache
        self.hit = False

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        document = self.cache.get(context.query) if context.query else None
        if document is not None:
            context.graphql_document = document
            self.hit = True
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if self.hit:
            context.pre_execution_errors = []
        yield
        if not self.hit and context.query and context.graphql_document and context.pre_execution_errors == []:
            self.cache.put(context.query, context.graphql_document)
