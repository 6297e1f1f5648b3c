"""The model registry as the gateway reads it: MLflow behind one small adapter returning our own types."""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from pydantic import BaseModel, Field

from credit_shared import mlflow_utils
from credit_shared.contracts.training import ModelTrained
from credit_shared.settings import MlflowSettings

TRAINED_TAG: Final = "event"  # the training service's ModelTrained event, as JSON
# credit_shared.model_loading.THRESHOLD_KEY, spelled here: that module imports LightGBM and scikit-learn (slow)
THRESHOLD_KEY: Final = "threshold"
NUMERIC_TAGS: Final = frozenset({THRESHOLD_KEY, "cost_fn", "cost_fp"})
METRIC_PREFIXES: Final = ("cv_", "test_", "train_")


class ModelVersionView(BaseModel):
    """A registered model version: what it was trained on, its decision threshold and headline metrics."""

    name: str = Field(examples=["credit-default"])
    version: str = Field(examples=["3"])
    aliases: list[str] = Field(description="Aliases pointing at it", examples=[["champion"]])
    run_id: str | None = Field(examples=["5b0c1f0e6b2e4b39a7d3c1f2e0a9b8c7"])
    status: str | None = Field(examples=["READY"])
    created_at: datetime | None
    description: str | None
    dataset_id: str | None = Field(None, description="Dataset it was trained on", examples=["ds-20261124-a1"])
    family: str | None = Field(None, description="Model family", examples=["lightgbm"])
    threshold: float | None = Field(
        None, description="Decision threshold: an application is refused when its probability is at least this"
    )
    metrics: dict[str, float] = Field(
        default_factory=dict,
        description="Headline metrics of its training run (cv_* cross-validated, test_* on the held-out split)",
        examples=[{"test_roc_auc": 0.78, "cv_roc_auc": 0.77}],
    )
    tags: dict[str, str | float] = Field(
        description="Its registry tags with their real types (numbers as numbers); the training event the "
        "training service stores as a tag is read into the fields above instead",
        examples=[{"family": "lightgbm", "threshold": 0.091, "promoted_champion_by": "risk team"}],
    )


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
    raw = {str(k): str(val) for k, val in (getattr(v, "tags", None) or {}).items()}
    trained = _trained(raw.pop(TRAINED_TAG, None))
    tags = {k: _typed(k, val) for k, val in raw.items()}
    metrics = dict(trained.metrics) if trained else {k: val for k, val in tags.items() if _is_metric(k, val)}
    threshold = trained.threshold if trained else tags.get(THRESHOLD_KEY)
    return ModelVersionView(
        name=name,
        version=str(v.version),
        aliases=sorted(getattr(v, "aliases", None) or []),
        run_id=getattr(v, "run_id", None),
        status=getattr(v, "status", None),
        created_at=datetime.fromtimestamp(created / 1000, UTC) if created else None,
        description=getattr(v, "description", None) or None,
        dataset_id=trained.dataset_id if trained else raw.get("dataset_id"),
        family=trained.family.value if trained else raw.get("family"),
        threshold=threshold if isinstance(threshold, float) else None,
        metrics=metrics,
        tags=tags,
    )


def _trained(text: str | None) -> ModelTrained | None:
    if not text:
        return None
    try:
        return ModelTrained.model_validate_json(text)
    except ValueError:
        return None


def _typed(key: str, value: str) -> str | float:
    """A tag the training service writes as a number, as a number (``%.6g`` text in MLflow)."""
    if key not in NUMERIC_TAGS and not key.startswith(METRIC_PREFIXES):
        return value
    try:
        number = float(value)
    except ValueError:
        return value
    return number if math.isfinite(number) else value


def _is_metric(key: str, value: str | float) -> bool:
    return key.startswith(METRIC_PREFIXES) and isinstance(value, float)
