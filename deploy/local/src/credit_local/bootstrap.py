"""First start: data, a dataset, a calibrated LightGBM promoted to champion, through the platform's own REST API.

Nothing here is a side door: the dataset is built by the ingestion service, the model trained and promoted by the
training service, each as a job of the gateway followed to its end. Only the synthetic raw tables are written
locally (they are the raw data a lending team would download). Later starts find the champion and do nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from credit_local.synthetic import generate
from credit_shared.settings import PlatformSettings

Report = Callable[[str, float, str], None]  # stage, percent of the stage, message


class BootstrapSettings(BaseSettings):
    """What the first start prepares (prefix ``CREDIT_BOOTSTRAP_``)."""

    model_config = SettingsConfigDict(env_prefix="CREDIT_BOOTSTRAP_", extra="ignore")

    enabled: bool = Field(True, description="Prepare data and a champion on a first `make up`")
    applicants: int = Field(10_000, ge=1_000, description="Synthetic applicants generated when no real data is set")
    seed: int = Field(0, ge=0, description="Seed of the synthetic tables")
    folds: int = Field(
        5,
        ge=2,
        le=10,
        description="Cross-validation folds of the first model (fewer folds train the calibration on smaller models "
        "than the final fit: its mean probability then runs a few percent high)",
    )
    timeout_s: float = Field(3600.0, gt=0, description="Longest wait for one step (build, training, promotion)")


class BootstrapError(RuntimeError):
    """A step of the first start failed (the message says which and why)."""


@dataclass(frozen=True)
class Bootstrapped:
    """What the platform serves after the first start."""

    dataset_id: str
    version: str
    created: bool  # False when everything existed already


def first_model_params() -> dict[str, Any]:
    """The first model's parameters: LightGBM's registry defaults, written out in the command (and so in the run's
    parameters); calibration and the cost-tuned threshold come with every training. bench/quality.py measures this
    recipe."""
    from credit_shared.contracts.model_families import ModelFamily, family_defaults

    return dict(family_defaults(ModelFamily.LIGHTGBM))


def first_model(dataset_id: str, folds: int) -> dict[str, Any]:
    """The training command of the first start (the body of ``POST /v1/training``)."""
    return {
        "dataset_id": dataset_id,
        "run_name": "lightgbm-class-weight",
        "family": "lightgbm",
        "imbalance": "class_weight",
        "calibration": "auto",
        "folds": folds,
        "params": first_model_params(),
        "description": "First model: LightGBM with class weighting, trees chosen by cross-validation, calibrated "
        "probabilities of default and a cost-tuned threshold; protected attributes kept out of the inputs",
    }


def follow(client: httpx.Client, job: dict[str, Any], stage: str, report: Report, timeout_s: float) -> dict[str, Any]:
    """Poll a job until it ends, reporting its progress; return its result.

    Raises:
        BootstrapError: when the job fails or does not end in time.
    """
    deadline = time.monotonic() + timeout_s
    url = job["url"]
    while time.monotonic() < deadline:
        job = client.get(url).raise_for_status().json()
        report(stage, float(job.get("progress") or 0.0), str(job.get("stage") or job["status"]))
        if job["status"] == "succeeded":
            return dict(job.get("result") or {})
        if job["status"] == "failed":
            raise BootstrapError(f"{stage} failed: {job.get('message')}")
        time.sleep(1.0)
    raise BootstrapError(f"{stage} did not finish within {timeout_s:.0f} s (job {url})")


def _post(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body)
    if response.status_code >= 400:
        raise BootstrapError(f"POST {path} answered {response.status_code}: {response.text[:500]}")
    return dict(response.json())


def bootstrap(
    platform: PlatformSettings,
    api_url: str,
    admin_key: str,
    settings: BootstrapSettings,
    report: Report,
    *,
    scoring_url: str | None = None,
) -> Bootstrapped:
    """Make sure a dataset and a champion exist, creating them through the gateway if needed.

    With ``scoring_url`` (the scoring worker's health server), "ready" waits until the scoring service serves the
    champion too: the promotion's event reaches it asynchronously, and an application published before then would be
    held (not lost) for seconds, which is not what "ready" promises.
    """
    with httpx.Client(base_url=api_url, headers={"X-API-Key": admin_key}, timeout=60.0) as client:
        registry = client.get("/v1/registry").raise_for_status().json()
        datasets = client.get("/v1/datasets").raise_for_status().json()
        champion = registry.get("aliases", {}).get("champion")
        if champion and datasets:
            _wait_serving(scoring_url, str(champion), report, settings.timeout_s)
            report("ready", 100.0, f"champion version {champion} already serves")
            return Bootstrapped(datasets[0]["dataset_id"], str(champion), created=False)

        if datasets:
            dataset_id = datasets[0]["dataset_id"]
            report("dataset", 100.0, f"using dataset {dataset_id}")
        else:
            if platform.data_dir is None:
                synthetic = platform.home.resolve() / "raw" / "synthetic"
                if not (synthetic / "application_train.csv").is_file():
                    generate(
                        synthetic,
                        settings.applicants,
                        settings.seed,
                        progress=lambda done, total: report("synthetic data", 100.0 * done / max(total, 1), "tables"),
                    )
            job = _post(client, "/v1/datasets", {"name": "first-dataset", "description": "Built on first start"})
            dataset_id = follow(client, job, "dataset", report, settings.timeout_s)["dataset_id"]

        job = _post(client, "/v1/training", first_model(dataset_id, settings.folds))
        version = str(follow(client, job, "training", report, settings.timeout_s)["version"])
        job = _post(client, "/v1/registry/aliases/champion", {"version": version})
        follow(client, job, "promotion", report, settings.timeout_s)
        _wait_serving(scoring_url, version, report, settings.timeout_s)
        report("ready", 100.0, f"version {version} is champion")
        return Bootstrapped(dataset_id, version, created=True)


def _wait_serving(scoring_url: str | None, version: str, report: Report, timeout_s: float) -> None:
    """Wait until the scoring service is ready, i.e. holds a champion (it is not ready without one)."""
    if scoring_url is None:
        return
    report("serving", 0.0, f"scoring loads version {version}")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{scoring_url}/ready", timeout=5.0).status_code == 200:
                break
        except httpx.HTTPError:
            pass  # restarting, or too busy to answer in time: ask again
        if time.monotonic() > deadline:
            raise BootstrapError(f"the scoring service did not serve version {version} within {timeout_s:g} s")
        time.sleep(0.5)
    report("serving", 100.0, f"scoring serves version {version}")
