"""The gateway's shared state and its FastAPI dependencies (``Annotated`` aliases used by every router).

The dependencies are ``async``: FastAPI runs a plain ``def`` dependency in a worker thread, and a request passed
through four of them (gateway, key, role, rate limit), four thread hops that cost more than the work itself on a busy
machine. Only a key not seen for ``key_cache_s`` goes to the database, in a thread.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Query, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from credit_shared.contracts.common import MAX_ID, DatasetId
from gateway_service.data import DataCache
from gateway_service.guard import INVALID, MISSING, SCOPE_KEY, UNAUTHORIZED_HEADERS, identify, key_from
from gateway_service.jobs import JobStore
from gateway_service.model_registry import ModelRegistry
from gateway_service.problems import ProblemError
from gateway_service.ratelimit import TokenBuckets, retry_after
from gateway_service.replies import ReplyWaiter
from gateway_service.runs import RunStore
from gateway_service.security import KeyStore, Principal, Role
from gateway_service.settings import Settings


@dataclass
class Gateway:
    """Everything a request handler may need, built once by :func:`gateway_service.app.create_app`."""

    settings: Settings
    broker: KafkaBroker
    registry: CollectorRegistry
    engine: Engine
    keys: KeyStore
    jobs: JobStore
    replies: ReplyWaiter
    buckets: TokenBuckets
    data: DataCache
    models: ModelRegistry
    runs: RunStore


async def get_gateway(request: Request) -> Gateway:
    """The application's :class:`Gateway`."""
    gateway: Gateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(get_gateway)]

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key")
_bearer = HTTPBearer(auto_error=False, description="An API key as a bearer token")


async def authenticate(
    request: Request,
    gateway: GatewayDep,
    api_key: Annotated[str | None, Security(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Principal:
    """The caller, as :class:`~gateway_service.guard.Authenticate` found it before the request was read (checked
    here again when the middleware is not installed); 401 when the key is missing or not valid."""
    principal: Principal | None = request.scope.get(SCOPE_KEY)
    if principal is not None:
        return principal
    key = key_from(api_key, f"Bearer {bearer.credentials}" if bearer else None)
    if not key:
        raise ProblemError(401, MISSING, headers=UNAUTHORIZED_HEADERS)
    principal = await identify(gateway.keys, key)
    if principal is None:
        raise ProblemError(401, INVALID, headers=UNAUTHORIZED_HEADERS)
    return principal


def require(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets through callers with at least ``role`` (403 otherwise)."""

    async def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if principal.role < role:
            raise ProblemError(403, f"this action needs the {role.label} role; the key has {principal.role.label}")
        return principal

    dependency.__name__ = f"require_{role.label}"
    return dependency


def limited(role: Role) -> Callable[[Gateway, Principal], Awaitable[Principal]]:
    """Like :func:`require`, and takes a token from the caller's rate-limit bucket (429 when empty)."""

    async def dependency(gateway: GatewayDep, principal: Annotated[Principal, Depends(require(role))]) -> Principal:
        wait = gateway.buckets.take(principal.key_id)
        if wait > 0:
            raise ProblemError(
                429,
                f"too many expensive requests; at most {gateway.settings.rate_limit_per_s:g} per second "
                f"(bursts of {gateway.settings.rate_limit_burst})",
                headers={"Retry-After": retry_after(wait)},
            )
        return principal

    dependency.__name__ = f"limited_{role.label}"
    return dependency


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Analyst = Annotated[Principal, Depends(require(Role.ANALYST))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
LimitedViewer = Annotated[Principal, Depends(limited(Role.VIEWER))]
LimitedAnalyst = Annotated[Principal, Depends(limited(Role.ANALYST))]

# the parameters several routers take
DatasetPath = Annotated[DatasetId, Path(description="Dataset id")]
RowOffset = Annotated[int, Query(ge=0, le=MAX_ID, description="First row")]
RowLimit = Annotated[int, Query(ge=1, le=1000, description="Rows per page")]
