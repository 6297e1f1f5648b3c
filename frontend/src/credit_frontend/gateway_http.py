"""The plumbing of the gateway client: requests, the mapping of errors, the short-lived read cache, event streams.

Every error becomes a :class:`GatewayError` carrying the problem's title and detail and a hint of what to do; a
gateway that does not answer becomes a :class:`GatewayDown`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from credit_frontend.errors import GatewayDown, GatewayError, Json, from_response

log = logging.getLogger(__name__)


class GatewayHttp:
    """HTTP to the gateway; reads are cached for ``cache_ttl_s`` seconds, writes empty the cache."""

    def __init__(
        self,
        base_url: str,
        api_key: str = "",
        *,
        timeout_s: float = 10.0,
        cache_ttl_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.cache_ttl_s = cache_ttl_s
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_s, transport=transport)
        self._cache: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request; the response is a success (2xx).

        Raises:
            GatewayDown: when the gateway does not answer.
            GatewayError: for any error answer.
        """
        try:
            response = self._http.request(method, path, **kwargs)
        except (httpx.ReadTimeout, httpx.WriteTimeout) as exc:
            log.warning("gateway %s slow on %s %s: %s", self.base_url, method, path, exc)
            raise GatewayError(
                504, "Gateway Timeout", f"no answer within {self._http.timeout.read:g} s", path=path
            ) from exc
        except httpx.TransportError as exc:
            log.warning("gateway %s unreachable on %s %s: %s", self.base_url, method, path, exc)
            raise GatewayDown(self.base_url, type(exc).__name__) from exc
        if response.is_error:
            raise from_response(response)
        return response

    def get(self, path: str, params: dict[str, Any] | None = None, *, cache: bool = True) -> Any:
        """GET a JSON resource, from the short-lived cache when fresh."""
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        key = f"{path}?{json.dumps(clean, sort_keys=True, default=str)}"
        return self._cached(key, lambda: self.request("GET", path, params=clean).json(), cache=cache)

    def _cached(self, key: str, load: Callable[[], Any], *, cache: bool = True) -> Any:
        now = time.monotonic()
        if cache:
            with self._lock:
                hit = self._cache.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
        value = load()
        with self._lock:
            if len(self._cache) > 500:
                self._cache.clear()
            self._cache[key] = (now + self.cache_ttl_s, value)
        return value

    def send(self, method: str, path: str, body: Any = None) -> Any:
        """Send a write (the cache is emptied: what was read may have changed); returns the JSON answer or None."""
        response = self.request(method, path, json=body)
        self.forget()
        return response.json() if response.content else None

    def forget(self) -> None:
        """Empty the read cache."""
        with self._lock:
            self._cache.clear()

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def ready(self) -> Json:
        """Readiness of the gateway and what it depends on (answered even when not ready; cached a few seconds)."""

        def load() -> Json:
            try:
                response = self._http.get("/ready")
            except httpx.TransportError as exc:
                raise GatewayDown(self.base_url, type(exc).__name__) from exc
            if response.status_code not in (200, 503):
                raise from_response(response)
            body: Json = response.json()
            return body

        result: Json = self._cached("/ready", load)
        return result

    def events(self, path: str, kind: str, timeout_s: float) -> Iterator[Json]:
        """The JSON data of each server-sent event of type ``kind`` on ``path`` (reads wait at most a minute).

        Raises:
            GatewayError: for an error answer.
            httpx.HTTPError: when the stream breaks.
        """
        timeout = httpx.Timeout(self._http.timeout.connect, read=min(timeout_s, 60.0))
        with self._http.stream("GET", path, timeout=timeout) as response:
            if response.is_error:
                response.read()
                raise from_response(response)
            event, data = "message", []
            for line in response.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line.strip() and data:
                    if event == kind:
                        yield json.loads("\n".join(data))
                    event, data = "message", []
            if data and event == kind:
                yield json.loads("\n".join(data))
