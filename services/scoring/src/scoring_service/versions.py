"""Registered versions an analyst names instead of the champion: loaded on demand, a few kept (least recently used).

A named version answers an analyst's what-if (``model_version`` on a request with a reply address); it never
replaces the champion. Loads run in a thread, one at a time, so the event loop (and every other consumer of the
service) keeps running while MLflow downloads and unpickles the version.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence

from credit_shared.contracts.loans import MODEL_VERSION_PATTERN
from scoring_service.served import ServedModel, UnknownVersion

__all__ = ["UnknownVersion", "VersionCache", "VersionLoader"]

log = logging.getLogger(__name__)
VERSION_NUMBER = re.compile(MODEL_VERSION_PATTERN)

# version number -> the version, ready to score; raises UnknownVersion when it is not registered or archived
VersionLoader = Callable[[str], ServedModel]


class VersionCache:
    """The named versions loaded so far, at most ``size`` kept (least recently used out first)."""

    def __init__(self, loader: VersionLoader, size: int) -> None:
        self._loader = loader
        self.size = size
        self._loaded: OrderedDict[str, ServedModel] = OrderedDict()
        self._lock = asyncio.Lock()

    @property
    def versions(self) -> list[str]:
        """The versions kept, least recently used first."""
        return list(self._loaded)

    async def get(self, version: str, *, served: Sequence[ServedModel | None] = ()) -> ServedModel:
        """The named version, without its alias.

        Args:
            version: the registered version number.
            served: the models served under an alias now (champion, challenger): a named version that is one of
                them is answered by it, with no second load.

        Raises:
            UnknownVersion: when the version is not registered or archived.
            Exception: whatever the loader raises when the registry cannot be read (nothing is kept).
        """
        if not VERSION_NUMBER.fullmatch(version):  # not worth a registry call
            raise UnknownVersion(f"{version!r} is not a registered version number")
        for model in served:
            if model is not None and model.ref.version == version:
                return model.named()
        if version in self._loaded:
            self._loaded.move_to_end(version)
            return self._loaded[version]
        async with self._lock:  # one load at a time: two requests for the same version load it once
            if version in self._loaded:
                return self._loaded[version]
            model = (await asyncio.to_thread(self._loader, version)).named()
            self._loaded[version] = model
            while len(self._loaded) > self.size:
                dropped, _ = self._loaded.popitem(last=False)
                log.info("dropped named version %s (keeping %d)", dropped, self.size)
            log.info("loaded named version %s", version)
            return model
