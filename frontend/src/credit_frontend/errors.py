"""Gateway errors: a problem+json answer as a :class:`GatewayError` with a hint of what to do; :class:`GatewayDown`."""

from __future__ import annotations

from typing import Any, Final

import httpx

Json = dict[str, Any]

HINTS: Final[dict[int, str]] = {
    400: "Check the values you entered.",
    401: "The dashboard's API key is missing or not valid: set FRONTEND_API_KEY to a key the gateway knows.",
    403: "The dashboard's API key does not have the role this action needs: ask an administrator.",
    404: "It may have been deleted, or not created yet: refresh the page or pick another one.",
    409: "It changed meanwhile: refresh the page and try again.",
    413: "The request is too large: send fewer values.",
    422: "Correct the values named in the message and try again.",
    429: "Too many requests in a short time: wait a few seconds and try again.",
    502: "A service behind the gateway answered wrongly: see its logs.",
    503: "A service behind the gateway is not reachable: check the platform with `./credit status`, then try again.",
    504: "It did not answer in time: the platform may be busy or a service down (`./credit status`); try again.",
}


class GatewayError(Exception):
    """The gateway answered with an error (a problem+json body when it could)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        path: str = "",
        errors: list[Json] | None = None,
        retry_after: str | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.path = path
        self.errors = errors or []
        self.retry_after = retry_after

    @property
    def not_available(self) -> bool:
        """The gateway has no such route at all (a feature not available yet), not a missing object."""
        return self.status == 404 and self.detail.strip().lower() == "not found"

    @property
    def hint(self) -> str:
        """What the user can do about it."""
        if self.not_available:
            return "This part of the platform is not available yet in this version of the gateway."
        if self.status == 429 and self.retry_after:
            return f"Too many requests in a short time: wait {self.retry_after} s and try again."
        if self.status >= 500 and self.status not in HINTS:
            return "The gateway failed unexpectedly: see its logs, then try again."
        return HINTS.get(self.status, "Try again; if it persists, see the gateway's logs.")

    def field_errors(self) -> dict[str, str]:
        """Validation errors by field name (the last part of each error's location)."""
        found: dict[str, str] = {}
        for error in self.errors:
            loc = [str(p) for p in error.get("loc", []) if str(p) not in {"body", "query", "path"}]
            key = ".".join(loc) if loc else ""
            found.setdefault(key, str(error.get("msg", "invalid")))
        return found


class GatewayDown(GatewayError):
    """The gateway did not answer (not started, wrong URL, network down, timeout)."""

    def __init__(self, base_url: str, reason: str) -> None:
        super().__init__(0, "Gateway not reachable", f"the gateway at {base_url} does not answer ({reason})")
        self.base_url = base_url

    @property
    def hint(self) -> str:
        """What the user can do about it."""
        return "Start the platform (`make up` or `./credit up`) or set FRONTEND_GATEWAY_URL to the gateway's address."


def from_response(response: httpx.Response) -> GatewayError:
    """The error a failed response stands for (its problem+json body when it has one)."""
    title, detail, errors = response.reason_phrase or "Error", response.text[:500], None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        title = str(body.get("title") or title)
        detail = str(body.get("detail") or title)
        raw_errors = body.get("errors")
        errors = [e for e in raw_errors if isinstance(e, dict)] if isinstance(raw_errors, list) else None
    return GatewayError(
        response.status_code,
        title,
        detail,
        path=response.request.url.path,
        errors=errors,
        retry_after=response.headers.get("Retry-After"),
    )
