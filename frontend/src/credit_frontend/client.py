"""The dashboard's only way out: a small typed client of the gateway's ``/v1`` API, one method per resource.

Errors and the read cache are the plumbing's (:mod:`credit_frontend.gateway_http`): every error becomes a
:class:`GatewayError`, a gateway that does not answer a :class:`GatewayDown`; reads are cached for a few seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Final

import httpx

from credit_frontend.errors import GatewayDown, GatewayError, Json
from credit_frontend.gateway_http import GatewayHttp
from credit_frontend.settings import Settings, get_settings

log = logging.getLogger(__name__)

__all__ = ["GatewayClient", "GatewayDown", "GatewayError", "Json", "get_client", "use_client_factory"]
TERMINAL: Final = frozenset({"succeeded", "failed"})


class GatewayClient(GatewayHttp):
    """The gateway's resources, one method each; reads are cached for ``cache_ttl_s`` seconds."""

    # --- raw data
    def raw_tables(self) -> list[Json]:
        """The raw Home Credit tables."""
        result: list[Json] = self.get("/v1/raw/tables")
        return result

    def raw_rows(self, table: str, limit: int = 100) -> Json:
        """A sample of rows of a raw table."""
        result: Json = self.get(f"/v1/raw/tables/{table}/rows", {"limit": limit})
        return result

    def raw_columns(self, table: str) -> list[Json]:
        """The columns of a raw table with their glossary text."""
        result: list[Json] = self.get(f"/v1/raw/tables/{table}/columns")
        return result

    def raw_distribution(self, table: str, column: str, bins: int = 30) -> Json:
        """The distribution of one column of a raw table."""
        result: Json = self.get(f"/v1/raw/tables/{table}/columns/{column}/distribution", {"bins": bins})
        return result

    def raw_correlations(self, table: str) -> Json:
        """The distribution of the pairwise correlations of a raw table's numeric columns."""
        result: Json = self.get(f"/v1/raw/tables/{table}/correlations")
        return result

    # --- datasets
    def datasets(self) -> list[Json]:
        """Every dataset, newest first."""
        result: list[Json] = self.get("/v1/datasets")
        return result

    def dataset(self, dataset_id: str) -> Json:
        """One dataset's manifest."""
        result: Json = self.get(f"/v1/datasets/{dataset_id}")
        return result

    def dataset_rows(
        self, dataset_id: str, part: str, *, offset: int = 0, limit: int = 100, columns: list[str] | None = None
    ) -> Json:
        """A page of rows of one part of a dataset."""
        params = {"offset": offset, "limit": limit, "columns": columns or None}
        result: Json = self.get(f"/v1/datasets/{dataset_id}/parts/{part}/rows", params)
        return result

    def dataset_distribution(self, dataset_id: str, column: str, part: str = "train", bins: int = 30) -> Json:
        """The distribution of one column of a dataset part."""
        params = {"part": part, "bins": bins}
        result: Json = self.get(f"/v1/datasets/{dataset_id}/columns/{column}/distribution", params)
        return result

    def build_dataset(self, parameters: Json) -> Json:
        """Start building a dataset; returns the job."""
        result: Json = self.send("POST", "/v1/datasets", parameters)
        return result

    # --- jobs
    def job(self, job_id: str) -> Json:
        """One job, fresh (never cached)."""
        result: Json = self.get(f"/v1/jobs/{job_id}", cache=False)
        return result

    def jobs(self, limit: int = 20) -> list[Json]:
        """The most recent jobs."""
        result: list[Json] = self.get("/v1/jobs", {"limit": limit}, cache=False)
        return result

    def follow_job(self, job_id: str, *, timeout_s: float = 3600.0, poll_s: float = 1.0) -> Iterator[Json]:
        """The job's successive states until it ends, from its event stream (polling when the stream breaks).

        Raises:
            TimeoutError: when it has not ended after ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        job: Json | None = None
        try:
            for job in self.events(f"/v1/jobs/{job_id}/events", "job", timeout_s):
                yield job
                if job.get("status") in TERMINAL:
                    return
        except (httpx.HTTPError, ValueError) as exc:
            log.info("job stream of %s broke (%s): polling instead", job_id, exc)
        while time.monotonic() < deadline:
            job = self.job(job_id)
            yield job
            if job.get("status") in TERMINAL:
                self.forget()
                return
            time.sleep(poll_s)
        raise TimeoutError(f"job {job_id} has not ended after {timeout_s:g} s")

    # --- training
    def model_families(self) -> list[Json]:
        """The model families with their parameters (kind, default, low, high, log, choices, description)."""
        result: list[Json] = self.get("/v1/models/families")
        return result

    def start_training(self, request: Json) -> Json:
        """Start a training; returns the job."""
        result: Json = self.send("POST", "/v1/training", request)
        return result

    def enum(self, schema: str) -> list[str]:
        """The allowed values of an enumeration of the API (``Imbalance``, ``SearchMethod`` ...) from its OpenAPI.

        Returns:
            The values, or an empty list when the API does not define that enumeration.
        """
        spec: Json = self.get("/openapi.json")
        found = ((spec.get("components") or {}).get("schemas") or {}).get(schema) or {}
        return [str(v) for v in found.get("enum") or []]

    def experiments(self) -> list[Json]:
        """The MLflow experiments (one per dataset)."""
        result: list[Json] = self.get("/v1/experiments")
        return result

    def runs(self, experiment_id: str) -> list[Json]:
        """The runs of an experiment with their parameters and metrics."""
        result: list[Json] = self.get(f"/v1/experiments/{experiment_id}/runs")
        return result

    def run(self, run_id: str) -> Json:
        """One run: parameters, metrics, tags, the figures it has."""
        result: Json = self.get(f"/v1/runs/{run_id}")
        return result

    def run_figure(self, run_id: str, name: str) -> Json:
        """One figure of a run as chart data (JSON)."""
        result: Json = self.get(f"/v1/runs/{run_id}/figures/{name}")
        return result

    def run_cv_results(self, run_id: str) -> Json:
        """The cross-validation results of a run's search."""
        result: Json = self.get(f"/v1/runs/{run_id}/cv-results")
        return result

    def model_card(self, run_id: str) -> Json:
        """The model card of a run."""
        result: Json = self.get(f"/v1/runs/{run_id}/model-card")
        return result

    # --- registry
    def registry(self) -> Json:
        """The registered versions and their aliases."""
        result: Json = self.get("/v1/registry")
        return result

    def promote(self, version: str, alias: str, *, force: bool = False) -> Json:
        """Point ``alias`` (champion or challenger) at ``version`` (administrators); returns the job."""
        result: Json = self.send("POST", f"/v1/registry/aliases/{alias}", {"version": version, "force": force})
        return result

    def reasons(self) -> Json:
        """The reason catalogue: factor groups with their codes, texts and application columns."""
        result: Json = self.get("/v1/reasons")
        return result

    # --- clients and decisions
    def applicant(self, sk_id_curr: int) -> Json:
        """A known client: its data and latest decision."""
        result: Json = self.get(f"/v1/clients/{sk_id_curr}")
        return result

    def explanation(self, sk_id_curr: int) -> Json:
        """A client's full explanation: base value and every contribution."""
        result: Json = self.get(f"/v1/clients/{sk_id_curr}/explanation")
        return result

    def comparison(self, sk_id_curr: int, group: str = "all", features: list[str] | None = None) -> Json:
        """A client against all clients or similar ones: percentile and distribution per feature."""
        params = {"group": group, "features": features or None}
        result: Json = self.get(f"/v1/clients/{sk_id_curr}/comparison", params)
        return result

    def what_if(self, sk_id_curr: int, changes: Json) -> Json:
        """The decision on an edited copy of a client's data (nothing is recorded)."""
        result: Json = self.send("POST", f"/v1/clients/{sk_id_curr}/what-if", {"changes": changes})
        return result

    def decisions(
        self, *, sk_id_curr: int | None = None, decision: str | None = None, limit: int = 100, features: bool = False
    ) -> Json:
        """Audited decisions, newest first."""
        params = {"sk_id_curr": sk_id_curr, "decision": decision, "limit": limit, "features": features or None}
        result: Json = self.get("/v1/decisions", params)
        return result

    # --- monitoring
    def drift_reports(self, limit: int = 100) -> list[Json]:
        """Drift report summaries, newest first."""
        result: list[Json] = self.get("/v1/monitoring/reports", {"limit": limit})
        return result

    def drift_report(self, report_id: str) -> Json:
        """One drift report's JSON summary with every column's verdict."""
        result: Json = self.get(f"/v1/monitoring/reports/{report_id}")
        return result

    def drift_report_html(self, report_id: str) -> str:
        """The stored Evidently HTML of a report."""
        return self.request("GET", f"/v1/monitoring/reports/{report_id}/html").text

    def request_drift_report(self, request: Json) -> Json:
        """Ask for a drift report on demand; returns the job."""
        result: Json = self.send("POST", "/v1/monitoring/reports", request)
        return result

    def alerts(self, limit: int = 50) -> list[Json]:
        """Drift alerts, newest first."""
        result: list[Json] = self.get("/v1/monitoring/alerts", {"limit": limit})
        return result


ClientFactory = Callable[[], GatewayClient]


class _Clients:
    """The process's client, or the factory tests installed."""

    def __init__(self) -> None:
        self.factory: ClientFactory | None = None
        self.default: GatewayClient | None = None
        self.lock = threading.Lock()


_clients = _Clients()


def client_from_settings(settings: Settings) -> GatewayClient:
    """A client of the gateway named by ``settings``."""
    return GatewayClient(settings.gateway_url, settings.api_key.get_secret_value(), timeout_s=settings.timeout_s)


def use_client_factory(factory: ClientFactory | None) -> None:
    """Make :func:`get_client` use ``factory`` (tests inject a fake gateway); None restores the default."""
    with _clients.lock:
        _clients.factory, _clients.default = factory, None


def get_client() -> GatewayClient:
    """The client every page uses: one per process from the settings, unless a factory was installed."""
    with _clients.lock:
        if _clients.factory is not None:
            return _clients.factory()
        if _clients.default is None:
            _clients.default = client_from_settings(get_settings())
        return _clients.default
