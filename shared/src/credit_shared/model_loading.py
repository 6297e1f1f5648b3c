"""Load a registered credit-default model from the MLflow registry by alias, with its threshold and metadata.

Training writes the metadata keys below into the MLflow model; :func:`load_model` reads them back into a
:class:`~credit_shared.loaded_model.LoadedModel`.
"""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path
from typing import Final

import numpy as np

from credit_shared import boosting
from credit_shared.loaded_model import LoadedModel
from credit_shared.settings import MlflowSettings

log = logging.getLogger(__name__)

THRESHOLD_KEY: Final = "threshold"
FEATURES_KEY: Final = "feature_names"
BACKGROUND_KEY: Final = "background"
FAMILY_KEY: Final = "family"

# Versions pickled before the boosting classifier moved to credit_shared.boosting name it
# ``credit_shared.models.EarlyStoppingLGBMClassifier``: that old module name still resolves while unpickling.
sys.modules.setdefault("credit_shared.models", boosting)


def load_model(
    settings: MlflowSettings | str, name: str | None = None, alias: str = "champion", *, version: str | None = None
) -> LoadedModel:
    """Load a registered version by alias (``models:/<name>@<alias>``), with its threshold and metadata.

    Args:
        settings: the MLflow settings, or a tracking URI.
        name: registered model name (default: ``settings.model_name``, else ``credit-default``).
        alias: ``champion`` or ``challenger`` (or any alias).
        version: load this version number instead (``models:/<name>/<version>``); the result then has no alias.

    Raises:
        LookupError: when no version carries the alias (or the version does not exist).
        ValueError: when the version has no decision threshold.
    """
    import mlflow.sklearn
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    uri = settings if isinstance(settings, str) else settings.tracking_uri
    name = name or (settings.model_name if isinstance(settings, MlflowSettings) else "credit-default")
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        found = client.get_model_version(name, version) if version else client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        missing = (
            f"{name!r} has no version {version!r}" if version else f"no version of {name!r} has the alias {alias!r}"
        )
        raise LookupError(missing) from exc
    loaded_alias = None if version else alias
    with tempfile.TemporaryDirectory(prefix="credit-model-") as tmp:
        # the version's own artifact location, not ``models:/``: MLflow resolves a ``models:/`` URI against the
        # process-wide registry URI whatever ``registry_uri`` says (a local ./mlflow.db when it is unset)
        local = download_artifacts(
            artifact_uri=client.get_model_version_download_uri(name, found.version), dst_path=tmp, tracking_uri=uri
        )
        pipeline = mlflow.sklearn.load_model(local)
        metadata = Model.load(Path(local) / "MLmodel").metadata or {}
    threshold = metadata.get(THRESHOLD_KEY, found.tags.get(THRESHOLD_KEY))
    if threshold is None:
        raise ValueError(f"{name} version {found.version} has no decision threshold")
    background = metadata.get(BACKGROUND_KEY)
    log.info("loaded %s version %s (%s), threshold %s", name, found.version, loaded_alias, threshold)
    return LoadedModel(
        pipeline=pipeline,
        threshold=float(threshold),
        name=name,
        version=str(found.version),
        feature_names=list(metadata.get(FEATURES_KEY) or pipeline.feature_names_in_),
        alias=loaded_alias,
        run_id=found.run_id,
        family=metadata.get(FAMILY_KEY),
        background=None if background is None else np.asarray(background, dtype=float),
    )
