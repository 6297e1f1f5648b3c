"""The models being served: the champion (decides) and the challenger (shadow), swapped atomically.

A new version is loaded in a background thread while the current one keeps serving; the swap is one reference
assignment, so no request fails or waits for a load.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from scoring_service.served import ServedModel

log = logging.getLogger(__name__)

# (alias, model served under it now) -> model to serve (the same object when the alias did not move), or None
Loader = Callable[[str, ServedModel | None], ServedModel | None]


@dataclass(frozen=True)
class Served:
    """An immutable pair, replaced as a whole."""

    champion: ServedModel | None = None
    challenger: ServedModel | None = None


class ModelHolder:
    """Holds the served models and reloads them on promotion."""

    def __init__(self, loader: Loader) -> None:
        self._loader = loader
        self._served = Served()
        self._ready = asyncio.Event()
        self._lock = asyncio.Lock()
        self.last_error: str | None = None
        self.checked = False  # the registry was asked at least once

    @property
    def served(self) -> Served:
        """The current pair (read once per batch so a batch is scored by one version)."""
        return self._served

    @property
    def ready(self) -> bool:
        """True once a champion is served."""
        return self._served.champion is not None

    async def wait_ready(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for a champion; True when one is served."""
        if self.ready:
            return True
        try:
            await asyncio.wait_for(self._ready.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def reload(self) -> None:
        """Load the champion and the challenger in a thread, then swap; on failure keep what is served."""
        async with self._lock:
            try:
                served = self._served
                champion = await asyncio.to_thread(self._loader, "champion", served.champion)
                challenger = await asyncio.to_thread(self._loader, "challenger", served.challenger)
            except Exception as exc:  # noqa: BLE001 - MLflow down or a broken version: keep serving
                self.last_error = f"{type(exc).__name__}: {exc}"
                self.checked = True
                log.warning("could not load models, keeping the served ones: %s", self.last_error)
                return
            self.last_error = None
            self.checked = True
            unchanged = champion is self._served.champion and challenger is self._served.challenger
            if champion is None and self._served.champion is not None:
                log.warning("no champion alias any more; keeping version %s", self._served.champion.ref.version)
                champion = self._served.champion
            self._served = Served(champion, challenger)
            if champion is not None:
                self._ready.set()
            if champion is not None and not unchanged:
                log.info(
                    "serving champion %s v%s%s",
                    champion.ref.name,
                    champion.ref.version,
                    f", challenger v{challenger.ref.version}" if challenger else "",
                )
