"""Experiments and runs as the gateway reads them: MLflow behind one small adapter returning our own types.

A training run holds ``figures/<name>.json`` (chart data) and ``figures/<name>.png``, ``cv_results.json``,
``model_card.md``, ``metrics.json`` and ``command.json`` (written by the training service).
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from credit_shared import mlflow_utils
from credit_shared.settings import MlflowSettings


class NotFound(LookupError):
    """The experiment, run or artifact does not exist."""


class ExperimentView(BaseModel):
    """An MLflow experiment (one per dataset)."""

    experiment_id: str = Field(examples=["3"])
    name: str = Field(examples=["dataset-ds-20261124-101500-a1b2c3"])
    created_at: datetime | None
    tags: dict[str, str]


class RunView(BaseModel):
    """An MLflow run: its parameters, metrics and tags."""

    run_id: str = Field(examples=["5b0c1f0e6b2e4b39a7d3c1f2e0a9b8c7"])
    experiment_id: str
    name: str | None = Field(examples=["lgbm-weighted"])
    status: str = Field(examples=["FINISHED"])
    started_at: datetime | None
    ended_at: datetime | None
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    figures: list[str] | None = Field(None, description="Names of the run's figures (one run only)")


class RunStore(Protocol):
    """Reads (and deletes) experiments and runs."""

    def experiments(self) -> list[ExperimentView]:
        """Every active experiment, newest first."""
        ...

    def runs(self, experiment_id: str) -> list[RunView]:
        """The active runs of an experiment, newest first."""
        ...

    def run(self, run_id: str) -> RunView:
        """One run with the names of its figures."""
        ...

    def artifact(self, run_id: str, path: str) -> bytes:
        """The bytes of one artifact of a run."""
        ...

    def delete(self, run_id: str) -> None:
        """Delete a run (MLflow keeps it recoverable until garbage collection)."""
        ...


def _time(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, UTC) if ms else None


def _run_view(run: Any) -> RunView:
    info, data = run.info, run.data
    return RunView(
        run_id=info.run_id,
        experiment_id=str(info.experiment_id),
        name=info.run_name,
        status=str(info.status),
        started_at=_time(info.start_time),
        ended_at=_time(info.end_time),
        params={str(k): str(v) for k, v in data.params.items()},
        metrics={str(k): float(v) for k, v in data.metrics.items()},
        tags={str(k): str(v) for k, v in data.tags.items() if not str(k).startswith("mlflow.")},
    )


class MlflowRuns:
    """Experiments and runs of the MLflow tracking server."""

    def __init__(self, settings: MlflowSettings) -> None:
        self.settings = settings

    def _client(self) -> Any:
        return mlflow_utils.client(self.settings)

    def _missing(self, exc: Exception) -> bool:
        return "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")) or "INVALID_PARAMETER_VALUE" in str(
            getattr(exc, "error_code", "")
        )

    def experiments(self) -> list[ExperimentView]:
        """Every active experiment, newest first."""
        found = self._client().search_experiments(order_by=["creation_time DESC"])
        return [
            ExperimentView(
                experiment_id=str(e.experiment_id),
                name=e.name,
                created_at=_time(e.creation_time),
                tags={str(k): str(v) for k, v in e.tags.items() if not str(k).startswith("mlflow.")},
            )
            for e in found
        ]

    def runs(self, experiment_id: str) -> list[RunView]:
        """The active runs of an experiment, newest first."""
        from mlflow.exceptions import MlflowException

        client = self._client()
        try:
            client.get_experiment(experiment_id)
            found = client.search_runs([experiment_id], order_by=["attributes.start_time DESC"], max_results=1000)
        except MlflowException as exc:
            if self._missing(exc):
                raise NotFound(f"experiment {experiment_id!r} does not exist") from exc
            raise
        return [_run_view(r) for r in found]

    def _active_run(self, client: Any, run_id: str) -> Any:
        """The run, if it exists and is not deleted (NotFound otherwise, whichever store MLflow keeps it in)."""
        from mlflow.exceptions import MlflowException

        try:
            run = client.get_run(run_id)
        except MlflowException as exc:
            if self._missing(exc):
                raise NotFound(f"run {run_id!r} does not exist") from exc
            raise
        if run.info.lifecycle_stage == "deleted":
            raise NotFound(f"run {run_id!r} was deleted")
        return run

    def run(self, run_id: str) -> RunView:
        """One run with the names of its figures."""
        client = self._client()
        view = _run_view(self._active_run(client, run_id))
        names = {Path(a.path).stem for a in client.list_artifacts(run_id, "figures") if not a.is_dir}
        view.figures = sorted(names)
        return view

    def artifact(self, run_id: str, path: str) -> bytes:
        """The bytes of one artifact of a run (the caller checks ``path`` against the run's listing); NotFound
        for a run that does not exist or was deleted, as for an artifact it does not have."""
        from mlflow.exceptions import MlflowException

        client = self._client()
        self._active_run(client, run_id)  # the artifact store lists nothing for an unknown run: ask the tracking one
        folder = str(Path(path).parent) if "/" in path else ""
        listed = {a.path for a in client.list_artifacts(run_id, folder or None) if not a.is_dir}
        if path not in listed:
            raise NotFound(f"run {run_id!r} has no artifact {path!r}")
        with tempfile.TemporaryDirectory() as tmp:
            try:
                local = client.download_artifacts(run_id, path, tmp)
            except MlflowException as exc:
                raise NotFound(f"run {run_id!r} has no artifact {path!r}") from exc
            return Path(local).read_bytes()

    def delete(self, run_id: str) -> None:
        """Delete a run (soft delete: MLflow keeps it until garbage collection)."""
        self.run(run_id)
        self._client().delete_run(run_id)


def json_artifact(store: RunStore, run_id: str, path: str) -> Any:
    """An artifact parsed as JSON."""
    return json.loads(store.artifact(run_id, path))
