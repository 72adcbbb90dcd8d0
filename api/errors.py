"""One error shape for the API: a code, a message and a hint; 503 + Retry-After while Neo4j is away.

GraphQL errors carry ``extensions.code``; REST errors answer ``{"error": {code, message, hint}}``.
Unexpected exceptions are logged and masked.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from cosmo_kg.api.auth import AuthError
from cosmo_kg.api.reads import GraphUnavailableError
from cosmo_kg.errors import BackendError, ConfigError, CosmoKGError, GraphError, InputError
from cosmo_kg.graph.readonly import WriteRefusedError

log = logging.getLogger("cosmo_kg.api")


@dataclass(frozen=True)
class ErrorKind:
    code: str
    status: int


# Most specific first: the first class an error is an instance of decides.
KINDS: list[tuple[type[Exception], ErrorKind]] = [
    (GraphUnavailableError, ErrorKind("SERVICE_UNAVAILABLE", 503)),
    (WriteRefusedError, ErrorKind("WRITE_REFUSED", 403)),
    (AuthError, ErrorKind("UNAUTHENTICATED", 401)),
    (InputError, ErrorKind("BAD_USER_INPUT", 400)),
    (GraphError, ErrorKind("GRAPH_ERROR", 502)),
    (BackendError, ErrorKind("BACKEND_ERROR", 502)),
    (ConfigError, ErrorKind("CONFIG_ERROR", 500)),
]
INTERNAL = ErrorKind("INTERNAL_SERVER_ERROR", 500)


def kind_of(exc: BaseException | None) -> ErrorKind:
    for cls, kind in KINDS:
        if isinstance(exc, cls):
            return kind
    return INTERNAL


def error_body(exc: BaseException) -> dict[str, object]:
    kind = kind_of(exc)
    if isinstance(exc, CosmoKGError):
        return {"error": {"code": kind.code, "message": exc.message, "hint": exc.hint}}
    return {"error": {"code": kind.code, "message": "unexpected error (logged on the server)", "hint": None}}


class ErrorCodes(SchemaExtension):
    """Give every GraphQL error a code; mask unexpected ones; 503 the response when Neo4j is away."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not getattr(result, "errors", None):
            return
        result.errors = [self._coded(error) for error in result.errors or []]

    def _coded(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if original is None:
            return _with(error, error.message, "GRAPHQL_VALIDATION_FAILED")
        kind = kind_of(original)
        if kind.status == 503:
            response = getattr(self.execution_context.context, "response", None)
            if response is not None:
                response.status_code = 503
                response.headers["Retry-After"] = str(self.execution_context.context.settings.retry_after)
        if isinstance(original, CosmoKGError):
            return _with(error, original.message, kind.code, original.hint)
        log.error("unexpected error in a resolver", exc_info=original)
        return _with(error, "unexpected error (logged on the server)", kind.code)


def _with(error: GraphQLError, message: str, code: str, hint: str | None = None) -> GraphQLError:
    extensions = {"code": code, **({"hint": hint} if hint else {})}
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )
