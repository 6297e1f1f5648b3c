"""Errors as RFC 9457 problem details (``application/problem+json``), for every status the API returns."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://credit-platform.example/problems/"


class Problem(BaseModel):
    """An error, as RFC 9457 problem details."""

    type: str = Field(description="URI of the problem type", examples=[f"{TYPE_BASE}not-found"])
    title: str = Field(description="Short summary of the problem type", examples=["Not Found"])
    status: int = Field(description="HTTP status code", examples=[404])
    detail: str = Field(description="What went wrong, for this occurrence", examples=["dataset 'x' does not exist"])
    instance: str = Field(description="The request path", examples=["/v1/datasets/x"])
    errors: list[dict[str, Any]] | None = Field(None, description="Validation errors (422 only)")


class ProblemError(Exception):
    """Raise to answer with a problem; ``headers`` are added to the response (``Retry-After`` ...)."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.errors = errors


def not_found(detail: str) -> ProblemError:
    """A 404 problem."""
    return ProblemError(404, detail)


def problem_response(
    request: Request | None,
    status: int,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
    instance: str | None = None,
) -> JSONResponse:
    """A problem+json response for ``status`` with ``detail``."""
    body = Problem(
        type=problem_type(status),
        title=_title(status),
        status=status,
        detail=detail,
        instance=instance if instance is not None else (request.url.path if request else ""),
        errors=errors,
    )
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers, media_type=MEDIA_TYPE)


def _jsonable_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {
            "loc": [str(p) for p in err.get("loc", ())],
            "msg": str(err.get("msg", "")).removeprefix("Value error, "),  # pydantic's prefix of our own messages
            "type": str(err.get("type", "")),
        }
        for err in exc.errors()
    ]


def allowed_methods(request: Request) -> str:
    """Every method some route serves at the request's path (Starlette's 405 names only the first route's)."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):  # included routers are nested: walk their routes too
        if route.methods and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods
    return ", ".join(sorted(methods))


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` as problem+json (validation, HTTP errors, ours and unexpected ones)."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(request, exc.status, exc.detail, headers=exc.headers, errors=exc.errors)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _jsonable_errors(exc)
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        detail = f"{'.'.join(first['loc'])}: {first['msg']}" if first["loc"] else str(first["msg"])
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more)"
        return problem_response(request, 422, detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).description
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
            detail = f"{request.method} is not allowed here; allowed: {headers['Allow']}"
        elif exc.status_code == 400 and detail == "There was an error parsing the body":
            detail = "the body cannot be read: it must be UTF-8 JSON"
        return problem_response(request, exc.status_code, detail, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(request, 500, "unexpected error; the gateway logged it")


def problem_type(status: int) -> str:
    """The URI of the problem type of ``status`` (its reason phrase as a slug)."""
    return f"{TYPE_BASE}{_slug(_title(status))}"


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _slug(title: str) -> str:
    return title.lower().replace(" ", "-").replace("'", "")


MEANINGS: dict[int, str] = {
    400: "the body cannot be read (not UTF-8 JSON)",
    401: "no API key, or not a valid one",
    403: "the key's role may not do this",
    404: "the resource, or one the request names, does not exist",
    409: "the request conflicts with the current state (nothing to work on, nothing promoted)",
    413: "the body is larger than allowed",
    422: "the request breaks its schema or a rule the schema cannot say; `errors` lists each problem",
    429: "too many expensive requests with this key; retry after `Retry-After` seconds",
    502: "a service answered with something that is not an answer",
    503: "a dependency (broker, tracking server, data) does not answer now; retry later",
    504: "the scoring service did not answer in time",
}
HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "How to authenticate", "schema": {"type": "string"}}},
    429: {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer", "minimum": 1}}},
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` documenting problem answers for ``statuses``, each with its problem type.

    :func:`gateway_service.openapi.document` moves the :class:`Problem` schema under ``application/problem+json``.
    """
    return {
        status: {
            "model": Problem,
            "description": f"{_title(status)}: {MEANINGS.get(status, 'an error')} "
            f"(problem type `{problem_type(status)}`)",
            "content": {MEDIA_TYPE: {"example": _example(status)}},
            **({"headers": HEADERS[status]} if status in HEADERS else {}),
        }
        for status in statuses
    }


def _example(status: int) -> dict[str, Any]:
    return {"type": problem_type(status), "title": _title(status), "status": status,
            "detail": MEANINGS.get(status, "an error"), "instance": "/v1/..."}  # fmt: skip
