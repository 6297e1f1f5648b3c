"""The monitoring logic: compare a window of served traffic, or a dataset part, with a model version's reference.

Plain, synchronous code that takes its collaborators as parameters; the handlers run it in a worker thread.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from credit_shared.contracts.monitoring import (
    ColumnDriftSummary,
    DriftAlert,
    DriftReported,
    PredictionDriftSummary,
    RequestDriftReport,
)
from credit_shared.datasets import PRODUCTION, TRAIN, dataset_dir
from monitoring_service.artifacts import LocalArtifactStore
from monitoring_service.domain import DriftResult, SeverityRules, at_least, rank_drifted
from monitoring_service.evidently_report import run_report
from monitoring_service.performance import expected_costs
from monitoring_service.profile import psi
from monitoring_service.reference import ModelCatalog, ModelInfo, Reference, ReferenceStore, sample_parquet
from monitoring_service.stability import Stability, csi, pd_stability
from monitoring_service.statistics import cbpe_auc
from monitoring_service.windows import Served, Window

log = logging.getLogger(__name__)

FeatureLookup = Callable[[list[str]], dict[str, dict[str, Any]]]
SaveRow = Callable[[DriftReported, dict[str, Any]], object]
ProgressFn = Callable[[str, float, str | None], None]


def with_verdicts(result: DriftResult, evidently: DriftResult) -> DriftResult:
    """``result`` with Evidently's verdict on every column it compared (the HTML report and the summary then agree)."""
    found = evidently.by_column()
    columns = tuple(found.get(c.column, c) for c in result.columns)
    return DriftResult(columns, result.rows, result.reference_rows)


@dataclass(frozen=True)
class WindowOutcome:
    """What comparing a window produced: its report (None when no decision had features yet), an alert, retries."""

    report: DriftReported | None
    alert: DriftAlert | None
    retry: list[Served] = field(default_factory=list)


@dataclass
class MonitoringService:
    """Compares served windows and dataset parts with the reference of the model version that decided."""

    references: ReferenceStore
    catalog: ModelCatalog
    artifacts: LocalArtifactStore
    features: FeatureLookup
    save_row: SaveRow
    rules: SeverityRules = field(default_factory=SeverityRules)
    alert_level: str = "orange"
    html_every_windows: int = 10
    html_on_alert: bool = True
    html_max_columns: int = 100
    report_workers: int = 1
    features_max_attempts: int = 3
    _windows_seen: Counter[tuple[str, str]] = field(default_factory=Counter)

    def check_window(self, window: Window) -> WindowOutcome:
        """Compare a window with its model version's reference, store the report, decide on an alert.

        Decisions whose features are not in the audit table yet are handed back for a later window (up to
        ``features_max_attempts`` times, then dropped with a warning).
        """
        found = self.features([d.request_id for d in window.decisions])
        ready = [d for d in window.decisions if d.request_id in found]
        waiting = [replace(d, attempts=d.attempts + 1) for d in window.decisions if d.request_id not in found]
        retry = [d for d in waiting if d.attempts < self.features_max_attempts]
        if len(retry) < len(waiting):
            log.warning("%d decisions never got features in the audit table", len(waiting) - len(retry))
        if not ready:
            return WindowOutcome(None, None, retry)
        reference = self.references.get(window.model_name, window.model_version)
        frame = pd.DataFrame.from_records([found[d.request_id] for d in ready], columns=reference.profile.columns)
        started = time.perf_counter()
        result = reference.profile.compare(frame)
        key = (window.model_name, window.model_version)
        self._windows_seen[key] += 1
        end = max(d.decided_at for d in ready)
        digest = hashlib.sha256("".join(sorted(d.request_id for d in ready)).encode()).hexdigest()[:8]
        report_id = f"w-{window.model_version}-{end:%Y%m%dT%H%M%S}-{digest}"
        prediction = self.prediction_drift(reference.model, ready)  # retried decisions count once, later
        build = partial(
            self._report,
            report_id,
            "window",
            reference,
            prediction=prediction,
            window=(min(d.decided_at for d in ready), end),
        )
        report, html_columns = build(result), None
        want_html = (self.html_on_alert and at_least(report.severity, self.alert_level)) or (
            self.html_every_windows > 0 and (self._windows_seen[key] - 1) % self.html_every_windows == 0
        )
        if want_html:
            columns = self._html_columns(result, reference.model.importances)
            rendered = run_report(reference.sample, frame, reference.profile, columns, workers=self.report_workers)
            rendered.save_html(self.artifacts.html_path(report_id))
            result, html_columns = with_verdicts(result, rendered.result), len(columns)  # the HTML's own verdicts
            report = build(result, html=True)
        stable = csi(reference.profile, frame)
        unstable = [c.column for c in stable if c.band == "act" and c.significant]
        report = report.model_copy(update={"unstable_columns": unstable})
        self._store(report, result, reference.model.importances, html_columns, stable)
        log.info(
            "window %s: %d rows, %d/%d drifted, %s (%.2f s)",
            report_id,
            report.rows,
            report.drifted,
            report.columns,
            report.severity,
            time.perf_counter() - started,
        )
        return WindowOutcome(report, self._alert(report), retry)

    def report_on_demand(self, command: RequestDriftReport, model_name: str, progress: ProgressFn) -> DriftReported:
        """Compare one column, or every column, of a dataset part with a model version's reference.

        Raises:
            LookupError: unknown model, alias or dataset.
            FileNotFoundError: the dataset part does not exist.
            ValueError: the column is not one of the model's features.
        """
        name = command.model_name or model_name
        version = command.model_version or self.catalog.resolve_alias(name, command.alias)
        progress("reference", 5.0, f"{name} v{version}")
        reference = self.references.get(name, version)
        columns = reference.profile.columns
        if command.column is not None:
            if command.column not in columns:
                raise ValueError(f"{command.column!r} is not a feature of {name} v{version}")
            columns = [command.column]
        dataset_id = command.dataset_id or reference.model.dataset_id
        path = dataset_dir(self.references.datasets_dir, dataset_id) / (
            TRAIN if command.part == "train" else PRODUCTION
        )
        if not path.is_file():
            raise FileNotFoundError(f"dataset {dataset_id!r} has no {command.part} part")
        progress("reading", 20.0, f"{command.part} of {dataset_id}")
        current = sample_parquet(path, columns, command.max_rows, self.references.seed)
        progress("comparing", 40.0, f"{len(columns)} columns, {len(current)} rows")
        rendered = run_report(reference.sample, current, reference.profile, columns, workers=self.report_workers)
        report_id = "od-" + hashlib.sha256(command.request_id.encode()).hexdigest()[:24]
        progress("rendering", 85.0, None)
        rendered.save_html(self.artifacts.html_path(report_id))
        report = self._report(
            report_id,
            "on_demand",
            reference,
            rendered.result,
            request_id=command.request_id,
            dataset_id=dataset_id,
            part=command.part,
            html=True,
        )
        self._store(report, rendered.result, reference.model.importances, len(columns))
        progress("stored", 100.0, report_id)
        return report

    def prediction_drift(self, model: ModelInfo, decisions: list[Served]) -> PredictionDriftSummary:
        """PSI of the window's probabilities and the shift of its approval rate against the model's reference, and
        what the calibrated PDs say before any outcome: expected default rate, expected cost, estimated AUC (CBPE).

        The reference probabilities are the model's own (from its training run) when it logged some; otherwise
        the first window of a model version becomes its reference (its own PSI is then null).
        """
        probabilities = np.asarray([d.probability for d in decisions], dtype=np.float64)
        approved = np.asarray([d.approved for d in decisions], dtype=bool)
        approval = float(approved.mean())
        expected = {
            "expected_default_rate": float(probabilities.mean()),
            "expected_cost_per_applicant": float(expected_costs(approved, probabilities).mean()),
            "estimated_auc": cbpe_auc(probabilities),
        }
        found = self.references.prediction_reference(model)
        if found is None:
            self.references.freeze_predictions(model, probabilities.tolist())
            return PredictionDriftSummary(
                psi=None,
                reference="first_window",
                approval_rate=approval,
                reference_approval_rate=approval,
                approval_rate_shift=0.0,
                **expected,
            )
        reference, source = found
        threshold = float(np.median([d.threshold for d in decisions]))
        reference_approval = float(np.mean(np.asarray(reference) < threshold))
        stable = pd_stability(np.asarray(reference, dtype=np.float64), probabilities)
        return PredictionDriftSummary(
            psi=psi(reference, probabilities),
            reference=source,
            approval_rate=approval,
            reference_approval_rate=reference_approval,
            approval_rate_shift=approval - reference_approval,
            psi_band=stable.band if stable else None,
            psi_significant=stable.significant if stable else None,
            **expected,
        )

    def _html_columns(self, result: DriftResult, importances: dict[str, float]) -> list[str]:
        order = {c: i for i, c in enumerate(result.drifted)}
        ranked = sorted(
            (c.column for c in result.columns),
            key=lambda c: (c not in order, -abs(importances.get(c, 0.0)), order.get(c, 0), c),
        )
        return ranked[: self.html_max_columns]

    def _report(
        self,
        report_id: str,
        kind: str,
        reference: Reference,
        result: DriftResult,
        *,
        prediction: PredictionDriftSummary | None = None,
        window: tuple[Any, Any] | None = None,
        request_id: str | None = None,
        dataset_id: str | None = None,
        part: str | None = None,
        html: bool = False,
    ) -> DriftReported:
        importances = reference.model.importances
        names = [c.column for c in result.columns]
        severity, important = self.rules.severity(
            result.drifted, importances, names, self.rules.material(result.columns)
        )
        top = [
            ColumnDriftSummary(
                column=r.drift.column,
                kind=r.drift.kind,
                method=r.drift.method,
                threshold=r.drift.threshold,
                score=r.drift.score,
                drifted=True,
                importance=r.importance,
            )
            for r in rank_drifted(result, importances)
        ]
        return DriftReported(
            report_id=report_id,
            kind=kind,
            request_id=request_id,  # type: ignore[arg-type]
            model_name=reference.model.name,
            model_version=reference.model.version,
            dataset_id=dataset_id or reference.model.dataset_id,
            part=part,
            window_start=window[0] if window else None,
            window_end=window[1] if window else None,
            rows=result.rows,
            columns=len(result.columns),
            drifted=len(result.drifted),
            drift_share=result.drift_share,
            severity=severity,
            important_drifted=important,
            top_drifted=top,
            prediction=prediction,
            html=html,
        )

    def _store(
        self,
        report: DriftReported,
        result: DriftResult,
        importances: dict[str, float],
        html_columns: int | None,
        stable: list[Stability] | None = None,
    ) -> None:
        summary = report.model_dump(mode="json")
        if stable is not None:
            summary["stability"] = [c.as_dict() for c in stable]
        summary["population"] = "model_inputs"  # every count is over the model's input columns
        names = [c.column for c in result.columns]
        summary["weighted_drift_share"] = self.rules.weighted_share(result.drifted, importances, names)
        summary["material_drift_share"] = self.rules.weighted_share(
            self.rules.material(result.columns), importances, names
        )
        summary["html_columns"] = html_columns  # the columns the Evidently HTML compares (None: no HTML)
        summary["all_columns"] = [
            {
                "column": c.column,
                "kind": c.kind,
                "method": c.method,
                "threshold": c.threshold,
                "score": c.score,
                "drifted": c.drifted,
                "importance": importances.get(c.column),
            }
            for c in result.columns
        ]
        self.artifacts.write_summary(report.report_id, summary)
        self.save_row(report, summary)

    def _alert(self, report: DriftReported) -> DriftAlert | None:
        if not at_least(report.severity, self.alert_level):
            return None
        message = f"{report.drifted} of {report.columns} columns drifted"
        if report.important_drifted:
            message += f", important features among them: {', '.join(report.important_drifted)}"
        facts = report.model_dump(include=DriftAlert.model_fields.keys() - {"message"})  # the report's own fields
        return DriftAlert(**facts, message=message)
