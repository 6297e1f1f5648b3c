"""Composition root of the monitoring service: broker, handlers, drift engine, readiness checks."""

from __future__ import annotations

import asyncio
from functools import partial

from credit_shared import db
from credit_shared.commands import CommandLedger
from credit_shared.mlflow_utils import ping as mlflow_ping
from credit_shared.runtime import Worker, new_worker
from monitoring_service.artifacts import LocalArtifactStore
from monitoring_service.drift_store import fetch_features, save_report
from monitoring_service.handlers import MonitoringMetrics, make_router
from monitoring_service.mlflow_catalog import MlflowCatalog
from monitoring_service.performance_runner import PerformanceRunner, catalog_test_auc
from monitoring_service.reference import ModelCatalog, ReferenceStore
from monitoring_service.service import MonitoringService
from monitoring_service.settings import Settings, get_settings

NAME = "monitoring"
DESCRIPTION = (
    "Compares windows of served traffic (loan-decisions, with the features recorded in the audit table) and dataset "
    "parts with the training reference of the model version that decided: per-column data drift (Evidently "
    "methods), prediction drift (PSI, approval rate), severity and alerts; drift reports on demand. Joins the outcomes "
    "lenders publish on loan-outcomes with the decisions: realized performance per model version (champion and shadow "
    "challenger), vintage and grade, and its alerts."
)


def build(settings: Settings | None = None, *, catalog: ModelCatalog | None = None) -> tuple[Worker, Settings]:
    """Build the monitoring worker (nothing connects until the runtime starts it).

    Args:
        settings: the service settings (read from the environment by default).
        catalog: where model versions are described (the MLflow registry by default; a fake in tests).
    """
    settings = settings or get_settings()
    worker = new_worker(settings.kafka, name=NAME, title="Monitoring service", description=DESCRIPTION)
    engine = db.make_engine(settings.database)
    catalog = catalog or MlflowCatalog(settings.mlflow)
    references = ReferenceStore(
        settings.references_dir,
        settings.platform.datasets_dir,
        catalog,
        max_rows=settings.reference_max_rows,
        seed=settings.reference_seed,
        choice=settings.method_choice(),
    )
    service = MonitoringService(
        references=references,
        catalog=catalog,
        artifacts=LocalArtifactStore(settings.reports_dir),
        features=partial(fetch_features, engine),
        save_row=partial(save_report, engine),
        rules=settings.rules(),
        alert_level=settings.alert_level,
        html_every_windows=settings.html_every_windows,
        html_on_alert=settings.html_on_alert,
        html_max_columns=settings.html_max_columns,
        report_workers=settings.report_workers,
        features_max_attempts=settings.features_max_attempts,
    )
    test_auc = catalog_test_auc(catalog)
    router, runner, realized = make_router(
        settings,
        service,
        CommandLedger(engine, NAME),
        MonitoringMetrics.create(worker.registry),
        performance=lambda publish: PerformanceRunner(
            engine, publish, test_auc, settings.alert_rules(), settings.performance_interval_s
        ),
    )
    worker.broker.include_router(router)
    worker.checks.update(
        database=partial(asyncio.to_thread, db.ping, engine),
        mlflow=partial(asyncio.to_thread, mlflow_ping, settings.mlflow),
    )
    worker.after_startup.extend([runner.start, realized.start])
    worker.on_shutdown.extend([runner.stop, realized.stop])
    return worker, settings
