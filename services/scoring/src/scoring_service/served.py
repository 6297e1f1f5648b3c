"""A registered model version as scoring serves it: the pipeline plus what it needs to build its features."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from credit_shared.contracts.loans import ModelRef
from credit_shared.homecredit.application import ID
from credit_shared.homecredit.glossary import label
from credit_shared.models import Columns, LoadedModel, ModelInput, load_model
from credit_shared.online_features import feature_set_columns, read_history
from credit_shared.settings import MlflowSettings
from scoring_service.scorer import ServedModel
from scoring_service.versions import UnknownVersion

log = logging.getLogger(__name__)


@dataclass
class ServedVersion:
    """A :class:`LoadedModel` with its registry identity and the dataset its history features come from."""

    model: LoadedModel
    ref: ModelRef
    dataset_id: str
    history_columns: list[str]  # the dataset's stored online-feature columns, in their stored order
    engine: Engine

    @property
    def threshold(self) -> float:
        """The version's decision threshold."""
        return self.model.threshold

    @property
    def feature_names(self) -> list[str]:
        """The model's input columns, in order."""
        return self.model.feature_names

    def prepare(self, features: pd.DataFrame | Columns) -> ModelInput:
        """The rows as the classifier takes them, computed once for predicting and explaining."""
        return self.model.prepare(features)

    def predict_proba(self, inputs: ModelInput) -> np.ndarray:
        """Probability of default per row."""
        return self.model.predict_proba(inputs)

    def contributions(self, inputs: ModelInput) -> tuple[np.ndarray, np.ndarray]:
        """Exact contributions per input feature (log-odds) and base values."""
        frame, base = self.model.contributions(inputs)
        if list(frame.columns) == self.feature_names:
            return frame.to_numpy(dtype=float), base
        return frame.reindex(columns=self.feature_names, fill_value=0.0).to_numpy(dtype=float), base

    def label(self, feature: str) -> str:
        """Human-readable label of a feature."""
        return label(feature)

    def history(self, ids: Sequence[int]) -> pd.DataFrame:
        """The history features of a batch of clients, NaN for a client without history (one query)."""
        batch = read_history(self.engine, self.dataset_id, self.history_columns, ids)
        frame = pd.DataFrame(batch.values, columns=self.history_columns)
        frame.insert(0, ID, np.asarray(ids, dtype="int64"))
        return frame


def load_served(
    settings: MlflowSettings, engine: Engine, alias: str, current: ServedModel | None = None
) -> ServedModel | None:
    """Load the version carrying ``alias``, or None when no version carries it.

    One registry call when the alias still points at ``current``'s version: ``current`` is returned as it is, so the
    periodic check never downloads or unpickles a model that did not change.

    Raises:
        ValueError: when the version lacks its dataset id or threshold.
        MlflowException: when the registry cannot be read (unreachable, failing): not the same as "no alias".
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    try:
        version = client.get_model_version_by_alias(settings.model_name, alias)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):  # no such model / alias
            raise  # the registry is unreachable or failing: the holder keeps what it serves
        return None
    if current is not None and current.ref.version == str(version.version):
        return current
    return _serve(settings, engine, version, alias)


def load_version(settings: MlflowSettings, engine: Engine, number: str) -> ServedModel:
    """Load a registered version by its number (``models:/<name>/<number>``), for an analyst's named-version request.

    Raises:
        UnknownVersion: when the version is not registered, or archived.
        ValueError: when the version lacks its dataset id or threshold.
    """
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    try:
        version = client.get_model_version(settings.model_name, number)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):  # no such model / version
            raise  # the registry is unreachable or failing: not the analyst's mistake (the request gets a 503)
        raise UnknownVersion(f"{settings.model_name} has no version {number}") from exc
    if str(getattr(version, "current_stage", "")).lower() == "archived":
        raise UnknownVersion(f"{settings.model_name} version {number} is archived")
    return _serve(settings, engine, version, None)


def _serve(settings: MlflowSettings, engine: Engine, version: Any, alias: str | None) -> ServedVersion:
    """The registry entry ``version`` loaded as it is served: pipeline, identity, history columns."""
    dataset_id = version.tags.get("dataset_id")
    if not dataset_id:
        raise ValueError(f"{settings.model_name} version {version.version} has no dataset_id tag")
    if alias is None:
        model = load_model(settings, settings.model_name, version=str(version.version))
    else:
        model = load_model(settings, settings.model_name, alias)
    columns = feature_set_columns(engine, dataset_id) or []
    if not columns:
        log.warning("dataset %s has no online features: clients will have no history", dataset_id)
    ref = ModelRef(name=model.name, version=model.version, alias=alias, run_id=model.run_id or version.run_id)
    return ServedVersion(model, ref, dataset_id, columns, engine)
