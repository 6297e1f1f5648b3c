"""The OpenAPI document as the API behaves: tags described, every answer documented with its problem type.

FastAPI puts the schema of a documented error under ``application/json``, while the gateway answers errors as
``application/problem+json``: :func:`document` moves it, so that a client (or a property-based run) validates every
error answer against :class:`~gateway_service.problems.Problem`. It also documents the ``Location`` header of every
``202`` (a job started), and the answers every operation of its kind may give whoever wrote its route: 401 when it
needs a key, 422 when it takes parameters or a body, 404 when its path names a resource, 400 and 413 for a body.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from gateway_service.problems import MEDIA_TYPE, responses

DESCRIPTION: Final = (
    "Datasets, training, registry, scoring, audit and drift monitoring of the credit-default model.\n\n"
    "**Keys.** Every route but `/health` and `/ready` (and these documentation pages) needs an API key, as an "
    "`X-API-Key` header or a bearer token (`Authorization: Bearer <key>`); without a valid one the answer is `401`, "
    "whatever the request holds. Roles: viewer (read, `/metrics` included), analyst (build, train, score), admin "
    "(promote, delete).\n\n"
    "**Errors** are RFC 9457 problem details (`application/problem+json`); `type` names the problem: "
    "`https://credit-platform.example/problems/<reason phrase>` (`not-found`, `unprocessable-entity` ...). A body "
    "that is not JSON is `400`, one that breaks its schema `422` (JSON without `NaN` or `Infinity`), a resource that "
    "does not exist `404` whichever store holds it, `503` only when a dependency does not answer.\n\n"
    "**Asynchronous work** (dataset builds, trainings, promotions, scorings, drift reports) answers `202` with a job "
    "and its `Location`; follow it at `/v1/jobs/{job_id}` or live at `/v1/jobs/{job_id}/events`."
)

TAGS: Final[list[dict[str, str]]] = [
    {"name": "operations", "description": "Liveness, readiness and Prometheus metrics."},
    {"name": "jobs", "description": "Asynchronous requests: their status, progress, result link and a live stream."},
    {"name": "raw data", "description": "The eight raw Home Credit tables: schema with glossary, rows, charts."},
    {"name": "datasets", "description": "Versioned, cleaned datasets: build one (a job), browse parts and columns."},
    {"name": "training", "description": "Model families and their parameters; training a model (a job)."},
    {"name": "experiments", "description": "MLflow experiments and runs: metrics, figures, CV results, model cards."},
    {"name": "registry", "description": "Registered versions of the model, where each alias points, promotions."},
    {"name": "scoring", "description": "Decisions now (one or a batch of applications) and whole-dataset scorings."},
    {"name": "clients", "description": "A known applicant: data, latest decision, comparison, what-if, explanation."},
    {"name": "decisions", "description": "The audit trail: every decision by client, time range or request id."},
    {"name": "monitoring", "description": "Drift reports of served traffic and on demand, and alerts."},
    {
        "name": "performance",
        "description": "Realized performance from the outcomes lenders publish: per model version (champion and "
        "shadow challenger), vintage and grade, with intervals, calibration and alerts.",
    },
    {
        "name": "reasons",
        "description": "The reason catalogue: the coded factor groups a refusal's reasons are stated in.",
    },
]
PROBLEM_REF: Final = "#/components/schemas/Problem"
LOCATION: Final = {"Location": {"description": "The job's URL", "schema": {"type": "string"}}}


def document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document of ``app`` (built once, then cached on it like FastAPI's own)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    spec = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=TAGS,
    )
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            _complete(operation)
            for status, response in operation.get("responses", {}).items():
                _fix_response(status, response)
    app.openapi_schema = spec
    return spec


def _complete(operation: dict[str, Any]) -> None:
    """Document the answers every operation of its kind may give, whoever wrote its route."""
    answers = operation.setdefault("responses", {})
    implied = []
    if operation.get("security"):
        implied.append(401)
    if operation.get("parameters") or "requestBody" in operation:
        implied.append(422)
    if any(p.get("in") == "path" for p in operation.get("parameters", [])):
        implied.append(404)  # the resource a path names may not exist
    if "requestBody" in operation:
        implied += [400, 413]
    for status in implied:
        if str(status) not in answers:
            answers[str(status)] = _problem_answer(status)


def _problem_answer(status: int) -> dict[str, Any]:
    answer = dict(responses(status)[status])
    answer.pop("model")
    answer["content"] = {MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}, **answer["content"][MEDIA_TYPE]}}
    return answer


def _fix_response(status: str, response: dict[str, Any]) -> None:
    content = response.get("content", {})
    if MEDIA_TYPE in content:  # FastAPI files the Problem schema under the route's own media type (JSON, HTML)
        merged = {k: v for other in content.values() for k, v in other.items()}
        response["content"] = {MEDIA_TYPE: merged}
    if status == "202":
        response.setdefault("headers", {}).update(LOCATION)


def install(app: FastAPI) -> None:
    """Serve :func:`document` at ``app.openapi_url``."""
    app.openapi = lambda: document(app)  # type: ignore[method-assign]
