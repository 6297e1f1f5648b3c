"""Small MLflow helpers shared by services (each service keeps its own adapter for the rest)."""

from __future__ import annotations

import urllib.request
from typing import TYPE_CHECKING

from credit_shared.settings import MlflowSettings

if TYPE_CHECKING:
    from mlflow import MlflowClient


def client(settings: MlflowSettings) -> MlflowClient:
    """An MLflow client bound to the configured tracking server (no global state touched)."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


def ping(settings: MlflowSettings, timeout_s: float = 2.0) -> bool:
    """True when the tracking server answers ``/health`` (always true for a local ``sqlite:``/``file:`` store)."""
    uri = settings.tracking_uri
    if not uri.startswith(("http://", "https://")):
        return True
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout_s) as resp:  # noqa: S310
            return bool(resp.status == 200)
    except OSError:
        return False


def model_uri(name: str, alias: str) -> str:
    """The registry URI of a model by alias, e.g. ``models:/credit-default@champion`` (never by stage)."""
    return f"models:/{name}@{alias}"
