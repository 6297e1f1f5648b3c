"""The model registry as the gateway reads it: MLflow behind one small adapter returning our own types."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel, Field

from credit_shared import mlflow_utils
from credit_shared.settings import MlflowSettings


class ModelVersionView(BaseModel):
    """A registered model version."""

    name: str = Field(examples=["credit-default"])
    version: str = Field(examples=["3"])
    aliases: list[str] = Field(description="Aliases pointing at it", examples=[["champion"]])
    run_id: str | None = Field(examples=["5b0c1f0e6b2e4b39a7d3c1f2e0a9b8c7"])
    status: str | None = Field(examples=["READY"])
    created_at: datetime | None
    description: str | None
    tags: dict[str, str]


class Registry(BaseModel):
    """The registered model: its versions (newest first) and where each alias points."""

    name: str = Field(examples=["credit-default"])
    aliases: dict[str, str] = Field(description="Alias -> version", examples=[{"champion": "3", "challenger": "4"}])
    versions: list[ModelVersionView]


class ModelRegistry(Protocol):
    """Reads the registered versions of the credit-default model."""

    def read(self) -> Registry:
        """The registered model, its versions and aliases."""
        ...


class MlflowRegistry:
    """The registry of the MLflow tracking server, read at most once every ``cache_s`` seconds."""

    def __init__(self, settings: MlflowSettings, *, cache_s: float = 5.0) -> None:
        self.settings = settings
        self.cache_s = cache_s
        self._cached: tuple[Registry, float] | None = None
        self._lock = threading.Lock()

    def read(self) -> Registry:
        """The registered model, its versions and aliases (empty when nothing is registered yet)."""
        with self._lock:
            if self._cached is not None and self._cached[1] > time.monotonic():
                return self._cached[0]
            registry = _read_registry(self.settings)
            self._cached = (registry, time.monotonic() + self.cache_s)
            return registry

    def forget(self) -> None:
        """Read the registry again at the next call (after a promotion)."""
        with self._lock:
            self._cached = None


def _read_registry(settings: MlflowSettings) -> Registry:
    from mlflow.exceptions import MlflowException

    name = settings.model_name
    client = mlflow_utils.client(settings)
    try:
        found = client.search_model_versions(f"name = '{name}'")
    except MlflowException as exc:
        if "RESOURCE_DOES_NOT_EXIST" in str(exc.error_code):
            return Registry(name=name, aliases={}, versions=[])
        raise
    versions = [_version(name, v) for v in found]
    versions.sort(key=lambda v: int(v.version) if v.version.isdigit() else 0, reverse=True)
    # search_model_versions leaves the aliases out: they come with the registered model
    aliases = {str(a): str(v) for a, v in (client.get_registered_model(name).aliases or {}).items()} if found else {}
    for version in versions:
        version.aliases = sorted(a for a, v in aliases.items() if v == version.version)
    return Registry(name=name, aliases=aliases, versions=versions)


def _version(name: str, v: Any) -> ModelVersionView:
    created = getattr(v, "creation_timestamp", None)
    return ModelVersionView(
        name=name,
        version=str(v.version),
        aliases=sorted(getattr(v, "aliases", None) or []),
        run_id=getattr(v, "run_id", None),
        status=getattr(v, "status", None),
        created_at=datetime.fromtimestamp(created / 1000, UTC) if created else None,
        description=getattr(v, "description", None) or None,
        tags={str(k): str(val) for k, val in (getattr(v, "tags", None) or {}).items()},
    )
