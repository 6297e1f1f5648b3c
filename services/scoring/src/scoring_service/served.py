"""A registered model version as scoring serves it: the loaded model, its registry identity, its clients' history.

:class:`ServedModel` is the one form of a model in scoring. Its ``model`` is the loaded pipeline itself
(``credit_shared.loaded_model.LoadedModel`` in production; any :class:`Predictor` in tests), and its ``history`` is the
collaborator that looks up the clients' history features (the online feature table of the version's dataset in
production): scoring code computes with what it is given and never reaches for a database itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from credit_shared.contracts.loans import ModelRef
from credit_shared.features.labels import label
from credit_shared.homecredit.application import ID
from credit_shared.model_inputs import Columns, ModelInput
from credit_shared.model_loading import load_model
from credit_shared.online_features import feature_set_columns, read_history
from credit_shared.settings import MlflowSettings

log = logging.getLogger(__name__)


class UnknownVersion(LookupError):
    """The named version is not registered, or archived: the request cannot be answered with it."""


class Predictor(Protocol):
    """What scoring uses of a loaded model (``credit_shared.loaded_model.LoadedModel`` is one)."""

    @property
    def threshold(self) -> float:
        """Refuse at or above this probability."""
        ...

    @property
    def feature_names(self) -> list[str]:
        """The model's input columns, in order."""
        ...

    @property
    def categorical(self) -> list[str]:
        """The input columns that are categories."""
        ...

    def prepare(self, X: pd.DataFrame | Columns) -> ModelInput:  # noqa: N803 - the scikit-learn name
        """The rows as the classifier takes them, computed once for predicting and explaining."""
        ...

    def predict_proba(self, X: ModelInput) -> np.ndarray:  # noqa: N803
        """Probability of default per row."""
        ...

    def contributions(self, X: ModelInput) -> tuple[pd.DataFrame, np.ndarray]:  # noqa: N803
        """Exact contributions to the log-odds per row and input feature, and the base value per row."""
        ...


class History(Protocol):
    """The clients' history features of one dataset (what the model was trained with)."""

    @property
    def dataset_id(self) -> str:
        """The dataset whose online features these are."""
        ...

    @property
    def columns(self) -> list[str]:
        """The history feature columns, in their stored order."""
        ...

    def __call__(self, ids: Sequence[int]) -> pd.DataFrame:
        """The history of each client (``SK_ID_CURR`` first), NaN for a client without history (one lookup)."""
        ...


@dataclass(frozen=True)
class OnlineHistory:
    """The online feature table of a dataset, read with one query per batch."""

    engine: Engine
    dataset_id: str
    columns: list[str] = field(default_factory=list)

    def __call__(self, ids: Sequence[int]) -> pd.DataFrame:
        """The history features of a batch of clients, NaN for a client without history."""
        batch = read_history(self.engine, self.dataset_id, self.columns, ids)
        frame = pd.DataFrame(batch.values, columns=self.columns)
        frame.insert(0, ID, np.asarray(ids, dtype="int64"))
        return frame


@dataclass(frozen=True)
class ServedModel:
    """A registered version being served: its model, identity, history lookup, and how features are named."""

    model: Predictor
    ref: ModelRef
    history: History
    label: Callable[[str], str] = label

    def named(self) -> ServedModel:
        """The same version answering under its number alone (no alias): how a named version's decision reads."""
        return replace(self, ref=self.ref.model_copy(update={"alias": None}))


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


def _serve(settings: MlflowSettings, engine: Engine, version: Any, alias: str | None) -> ServedModel:
    """The registry entry ``version`` loaded as it is served: model, identity, history lookup."""
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
    return ServedModel(model, ref, OnlineHistory(engine, dataset_id, columns))
