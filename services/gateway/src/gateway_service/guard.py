"""Authentication before anything else: an ASGI middleware that answers 401 before a body is read or a path routed.

FastAPI reads and parses a request's body before it resolves the route's dependencies, so a key checked in a
dependency comes after a malformed body's 422 (and after a path parameter's 422). The middleware checks the key
first, for every path but the open ones (liveness, readiness and the documentation pages), and leaves the principal
in the request's scope; the role checks of :mod:`gateway_service.deps` read it from there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway_service.problems import problem_response
from gateway_service.security import KeyStore, Principal

SCOPE_KEY: Final = "credit.principal"
UNAUTHORIZED_HEADERS: Final = {"WWW-Authenticate": 'ApiKey header="X-API-Key", Bearer'}
MISSING: Final = "an API key is required (X-API-Key header, or Authorization: Bearer)"
INVALID: Final = "the API key is not valid"


def key_from(x_api_key: str | None, authorization: str | None) -> str | None:
    """The API key a request carries: ``X-API-Key``, else the token of ``Authorization: Bearer``."""
    if x_api_key:
        return x_api_key
    scheme, _, token = (authorization or "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


async def identify(keys: KeyStore, key: str) -> Principal | None:
    """The principal of a valid key (a remembered verdict needs no database, so no worker thread)."""
    remembered, principal = keys.cached(key)
    if remembered:
        return principal
    return await asyncio.to_thread(keys.verify, key)


class Authenticate:
    """Answer 401 (problem+json) to a request without a valid key, unless its path is open."""

    def __init__(self, app: ASGIApp, keys: KeyStore, open_paths: Iterable[str], open_prefixes: Iterable[str]) -> None:
        self.app = app
        self.keys = keys
        self.open_paths = frozenset(open_paths)
        self.open_prefixes = tuple(open_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in self.open_paths or path.startswith(self.open_prefixes):
            await self.app(scope, receive, send)
            return
        headers = {name.lower(): value for name, value in scope.get("headers", [])}
        key = key_from(_text(headers.get(b"x-api-key")), _text(headers.get(b"authorization")))
        principal = await identify(self.keys, key) if key else None
        if principal is None:
            answer = problem_response(None, 401, INVALID if key else MISSING, headers=UNAUTHORIZED_HEADERS,
                                      instance=path)  # fmt: skip
            await answer(scope, receive, send)
            return
        scope[SCOPE_KEY] = principal
        await self.app(scope, receive, send)


def _text(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value is not None else None
