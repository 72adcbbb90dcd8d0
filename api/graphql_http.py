"""The common GraphQL request — POST /graphql, a JSON body with a query — answered straight from
the schema, as ASGI, without FastAPI's routing and dependency solving or Strawberry's HTTP view.

Those layers cost a quarter of the API's CPU per GraphQL request for work this request does not
need (content negotiation, forms, streaming, batches; see benchmarks/README.md). Anything else —
GraphiQL, GET, other content types, streaming ``Accept`` headers, a body that is not one
operation — goes on to Strawberry's router, unchanged. The answer is the one that router gives:
``process_result`` of the same execution, the same context, status and headers set by the error
extension (503 + Retry-After).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import strawberry
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.http import process_result

from cosmo_kg.api.arguments import ApiContext

PATH = "/graphql"
# Accept values that ask Strawberry's router for a streamed answer (multipart, SSE).
_STREAMING = (b"multipart/mixed", b"text/event-stream")


class GraphQLRoute:
    """The route ``scope["route"]`` names for the metrics, as FastAPI's router would."""

    path = PATH


class FastGraphQL:
    """ASGI middleware answering plain JSON GraphQL POSTs to ``/graphql`` itself."""

    def __init__(
        self,
        app: ASGIApp,
        schema: strawberry.Schema,
        context: Callable[[Scope], ApiContext],
    ) -> None:
        self.app = app
        self.schema = schema
        self.context = context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _plain_json_post(scope):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        request = _operation(body)
        if request is None:
            await self.app(scope, _replay(body), send)
            return
        scope["route"] = GraphQLRoute
        context = self.context(scope)
        context.response = Response()
        result = await self.schema.execute(
            request["query"],
            variable_values=request.get("variables"),
            context_value=context,
            operation_name=request.get("operationName"),
            operation_extensions=request.get("extensions"),
        )
        await _respond(send, orjson.dumps(process_result(result)), context.response)


def _plain_json_post(scope: Scope) -> bool:
    if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
        return False
    content_type = accept = b""
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value
        elif name == b"accept":
            accept = value
    return content_type.split(b";")[0].strip() == b"application/json" and not any(
        kind in accept for kind in _STREAMING
    )


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _operation(body: bytes) -> dict[str, Any] | None:
    """The request as one operation, or None for anything the full router must judge."""
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(request, dict) or not isinstance(request.get("query"), str):
        return None
    kinds = {"variables": dict, "operationName": str, "extensions": dict}
    if any(
        request.get(key) is not None and not isinstance(request[key], kind) for key, kind in kinds.items()
    ):
        return None
    return request


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _respond(send: Send, body: bytes, response: Response) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(name, value) for name, value in response.raw_headers if name != b"content-length"]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
