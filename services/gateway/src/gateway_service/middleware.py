"""ASGI middleware of the gateway: request body size limit, JSON without NaN or infinities."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway_service.problems import problem_response


class BodyLimit:
    """Answer 413 (problem+json) to a request whose body exceeds ``max_bytes``.

    The declared ``Content-Length`` is checked first; a body sent without it (chunked) is counted as it streams.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, overrides: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.overrides = overrides or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.overrides.get(scope.get("path", ""), self.max_bytes)
        detail = f"the request body exceeds {limit} bytes"
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = limit + 1
                if declared > limit:
                    await problem_response(None, 413, detail, instance=scope.get("path", ""))(scope, receive, send)
                    return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, detail)  # answered as problem+json by the exception handlers
            return message

        await self.app(scope, counting_receive, send)


class StrictJson:
    """Answer 422 to a JSON body holding ``NaN``, ``Infinity`` or ``-Infinity``: they are not JSON (RFC 8259), but
    Python's parser reads them, and a NaN would pass for a missing value or slip past every range check.

    The body is scanned as it streams; only one that contains those words at all is parsed again to tell a literal
    from the same letters inside a string.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def checking_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False) and _holds_a_constant(b"".join(chunks)):
                    raise HTTPException(422, "the body holds NaN or Infinity, which JSON does not allow")
            return message

        await self.app(scope, checking_receive, send)


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            media: bytes = value.split(b";")[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


def _holds_a_constant(body: bytes) -> bool:
    if b"NaN" not in body and b"Infinity" not in body:
        return False

    def refuse(constant: str) -> None:
        raise _Constant(constant)

    try:
        json.loads(body, parse_constant=refuse)
    except _Constant:
        return True
    except ValueError:  # not JSON, or not UTF-8: FastAPI answers those itself
        return False
    return False


class _Constant(Exception):
    """A NaN or infinity literal was read."""
