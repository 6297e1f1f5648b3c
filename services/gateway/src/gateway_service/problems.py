"""Errors as RFC 9457 problem details (``application/problem+json``), for every status the API returns."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

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
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    slug = title.lower().replace(" ", "-").replace("'", "")
    body = Problem(
        type=f"{TYPE_BASE}{slug}",
        title=title,
        status=status,
        detail=detail,
        instance=instance if instance is not None else (request.url.path if request else ""),
        errors=errors,
    )
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers, media_type=MEDIA_TYPE)


def _jsonable_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))}
        for err in exc.errors()
    ]


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
        return problem_response(request, exc.status_code, detail, headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(request, 500, "unexpected error; the gateway logged it")


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` documenting problem answers for ``statuses``."""
    return {
        status: {"model": Problem, "description": HTTPStatus(status).phrase, "content": {MEDIA_TYPE: {}}}
        for status in statuses
    }
