"""Requests to the scoring service over request/reply: an application published on ``loan-applications`` with a
reply address, answered on the replies topic (a decision, a full explanation, or the reason it cannot be answered).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

from pydantic import ValidationError

from credit_shared.contracts.envelope import new_id
from credit_shared.contracts.loans import (
    MODEL_UNAVAILABLE,
    SCORING_FAILED,
    UNKNOWN_MODEL_VERSION,
    Explanation,
    LoanApplicationMessage,
    LoanDecision,
    message_key,
)
from credit_shared.topics import LOAN_APPLICATIONS, SCORING_REPLIES
from gateway_service.deps import Gateway
from gateway_service.problems import ProblemError
from gateway_service.replies import ReplyTimeout

log = logging.getLogger(__name__)

ReplyT = TypeVar("ReplyT", LoanDecision, Explanation)

# reasons of the scoring service's error replies that are not about the application itself
ERROR_STATUS: Final = {UNKNOWN_MODEL_VERSION: 404, MODEL_UNAVAILABLE: 503, SCORING_FAILED: 502}


async def ask_scoring(
    gateway: Gateway,
    application: dict[str, Any],
    request_id: str | None,
    *,
    model_version: str | None = None,
    explain: bool = False,
    timeout_s: float | None = None,
) -> dict[str, Any]:
    """Publish a validated application with a reply address and wait for the scoring service's reply.

    Args:
        gateway: the gateway's state.
        application: a validated application.
        request_id: the request id (``gw-<correlation id>`` when None).
        model_version: a registered version to answer with instead of the champion.
        explain: ask for the full explanation instead of a decision.
        timeout_s: how long to wait (default: the decision timeout, at least the named-version timeout when a
            version is named, since its first use loads it from the registry).

    Returns:
        The reply: a decision, an explanation, or the refusal of the application (``error`` and ``reason``).

    Raises:
        ProblemError: 503 when the broker is unreachable or the named version cannot be loaded now, 504 when no
            reply arrives in time, 404 when the named version is not registered or archived, 502 when the model
            failed on the application.
    """
    correlation_id = new_id()
    message = LoanApplicationMessage(
        request_id=request_id or f"gw-{correlation_id}",
        application=application,
        reply_to=SCORING_REPLIES.name,
        correlation_id=correlation_id,
        model_version=model_version,
        explain="full" if explain else None,
    )
    wait_s = gateway.settings.decision_timeout_s if timeout_s is None else timeout_s
    if model_version is not None:
        wait_s = max(wait_s, gateway.settings.named_version_timeout_s)
    try:
        reply = await gateway.replies.request(correlation_id, _publisher(gateway, message, correlation_id), wait_s)
    except ReplyTimeout:
        what = "explanation" if explain else "decision"
        raise ProblemError(504, f"no {what} within {wait_s:g} s; the scoring service may be down") from None
    status = ERROR_STATUS.get(str(reply.get("reason")))
    if status is not None:
        raise ProblemError(status, str(reply.get("error") or reply["reason"]))
    return reply


def _publisher(gateway: Gateway, message: LoanApplicationMessage, correlation_id: str) -> Callable[[], Awaitable[None]]:
    """Publish the request on ``loan-applications`` (called once the reply is awaited, so none is missed)."""

    async def publish() -> None:
        try:
            await gateway.broker.publish(
                message,
                topic=LOAN_APPLICATIONS.name,
                key=message_key(message.sk_id_curr),
                correlation_id=correlation_id,
            )
        except Exception as exc:
            log.warning("could not publish a request to the scoring service: %s", exc)
            raise ProblemError(503, "the message broker is not reachable; try again later") from exc

    return publish


async def explain_application(
    gateway: Gateway, application: dict[str, Any], model_version: str | None = None
) -> Explanation:
    """Every feature's contribution and the base value of one application, computed by the scoring service with the
    model it serves (or the named version), so the explanation describes the model that decides. Nothing is
    published on ``loan-decisions`` nor audited.

    Raises:
        ProblemError: as :func:`ask_scoring`; 422 when the application is refused, 502 for a malformed reply.
    """
    reply = await ask_scoring(gateway, application, f"explain-{new_id()[:24]}", model_version=model_version,
                              explain=True)  # fmt: skip
    return _reply_as(Explanation, reply, marker="base_value", done="explained", what="explanation")


async def decide_application(
    gateway: Gateway,
    application: dict[str, Any],
    request_id: str | None,
    *,
    timeout_s: float | None = None,
    model_version: str | None = None,
) -> LoanDecision:
    """Publish one validated application with a reply address and wait for its decision (``timeout_s``, default
    the configured decision timeout), by the champion or by the registered ``model_version``.

    Raises:
        ProblemError: as :func:`ask_scoring`; 422 when the scoring service
            refuses the application, 502 when its reply is not a decision.
    """
    reply = await ask_scoring(gateway, application, request_id, model_version=model_version, timeout_s=timeout_s)
    return _reply_as(LoanDecision, reply, marker="decision", done="decided", what="decision")


def _reply_as(contract: type[ReplyT], reply: dict[str, Any], *, marker: str, done: str, what: str) -> ReplyT:
    """The scoring service's reply as ``contract`` (a ``what``): 422 when it refused the application (its reply has
    no ``marker`` key: the application cannot be ``done``), 502 when the reply is not a valid ``contract``."""
    if marker not in reply:
        raise ProblemError(422, f"the application cannot be {done}: {reply.get('error', 'rejected')}")
    try:
        return contract.model_validate(reply)
    except ValidationError as exc:
        log.error("the scoring service replied with an invalid %s: %s", what, exc)
        raise ProblemError(502, f"the scoring service replied with an invalid {what}") from exc
