"""Benchmark of the monitoring service's drift engine.

    uv run python bench/monitoring.py            # 800 features, 50,000-row window, 20,000-row reference
    uv run python bench/monitoring.py --quick    # 100 features, 5,000-row window

Figures:

- ``full_report_s``: Evidently's ``DataDriftPreset`` drift table over every feature of a window against the reference
  (per-column methods and thresholds as the service passes them, blocks of columns over a pool of 2 processes),
  plus writing its HTML (``html_save_s``, ``html_mb``); ``full_report_cpu_s`` its CPU time in all processes
  (``full_report_worker_cpu_s`` of it in the workers, which run in parallel);
- ``window_update_s``: what the service does every 1,000 decisions: read the decisions' features from the audit
  table (SQLite, JSON per decision, as the scoring service writes them), build the frame, compare it with the
  cached reference profile, prediction drift, severity, JSON summary and database row (median of repeats);
  ``window_compare_s`` is the comparison alone, ``window_update_cpu_s`` the update's CPU time;
- ``reference_build_s``: sampling the training rows and computing the reference statistics (once per version);
- ``peak_rss_gb``: the maximum resident set size of this process.

The data are synthetic (no full-scale engineered dataset is kept on these machines): numerical columns mixing
normal, log-normal, bounded and 0/1 columns with missing values, categorical columns with 2 to 30 values, the
shapes of the engineered Home Credit features; a few columns are shifted in the window so the report has drift.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _report import aligned, load_average, machine, started_at, write_and_print

from credit_shared import db
from credit_shared.db.models import DecisionRecord
from credit_shared.decisions_view import encode_features
from monitoring_service.artifacts import LocalArtifactStore
from monitoring_service.drift_store import fetch_features, save_report
from monitoring_service.evidently_report import run_report
from monitoring_service.reference import ModelInfo, ReferenceStore
from monitoring_service.service import MonitoringService
from monitoring_service.synthetic import shift, synthetic_frame, synthetic_kinds, write_dataset
from monitoring_service.windows import Served, Window

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("bench.monitoring")
REPORT_WORKERS = 2  # the service's default MONITORING_REPORT_WORKERS


class Catalog:
    """One model version trained on the bench dataset, with importances."""

    def __init__(self, columns: list[str]) -> None:
        self.info = ModelInfo(
            "credit-default", "1", "ds-bench-monitoring", "bench", {c: 1.0 / (i + 1) for i, c in enumerate(columns)}
        )

    def describe(self, name: str, version: str) -> ModelInfo:
        return self.info

    def resolve_alias(self, name: str, alias: str) -> str:
        return "1"


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # kilobytes on Linux


def audit_rows(frame: pd.DataFrame, prefix: str) -> tuple[list[dict[str, Any]], Window]:
    start = datetime(2026, 11, 24, 10, tzinfo=UTC)
    rows, window = [], Window("credit-default", "1")
    for i, record in enumerate(frame.to_dict(orient="records")):
        features = {k: None if isinstance(v, float) and v != v else v for k, v in record.items()}
        moment = start + timedelta(seconds=i)
        rows.append({
            "request_id": f"{prefix}-{i}", "sk_id_curr": 100_000 + i, "received_at": moment, "decided_at": moment,
            "input_hash": "0" * 64, "model_input": encode_features(features), "probability": 0.08, "threshold": 0.1,
            "decision": "approved", "reasons": [], "model_name": "credit-default", "model_version": "1",
            "model_alias": "champion", "run_id": "bench", "latency_ms": 3.0,
        })  # fmt: skip
        window.decisions.append(Served(f"{prefix}-{i}", float(0.03 + 0.1 * (i % 10) / 10), 0.1, True, moment))
    return rows, window


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small run that checks the benchmark works")
    parser.add_argument("--repeats", type=int, default=5, help="windowed updates measured (median reported)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    numerical, categorical = (90, 10) if args.quick else (780, 20)
    window_rows = 5_000 if args.quick else 50_000
    reference_rows, train_rows = 20_000, (25_000 if args.quick else 60_000)
    kinds = synthetic_kinds(numerical, categorical)
    columns = list(kinds)
    moved = columns[1::37][:20]
    started = started_at()
    figures: dict[str, float] = {}

    with tempfile.TemporaryDirectory(prefix="bench-monitoring-") as tmp:
        home = Path(tmp)
        write_dataset(home / "datasets", "ds-bench-monitoring", synthetic_frame(train_rows, kinds, seed=1), kinds)
        catalog = Catalog(columns)
        references = ReferenceStore(home / "refs", home / "datasets", catalog, max_rows=reference_rows, seed=0)
        t = time.perf_counter()
        reference = references.get("credit-default", "1")
        figures["reference_build_s"] = round(time.perf_counter() - t, 3)

        url = f"sqlite:///{home / 'app.db'}"
        db.migrate(url)
        engine = db.make_engine(url)
        service = MonitoringService(
            references=references, catalog=catalog, artifacts=LocalArtifactStore(home / "reports"),
            features=lambda ids: fetch_features(engine, ids), save_row=lambda r, s: save_report(engine, r, s),
            html_every_windows=0, html_on_alert=False,
        )  # fmt: skip
        updates, compares, update_cpus = [], [], []
        for k in range(args.repeats + 1):
            frame = shift(synthetic_frame(1000, kinds, seed=100 + k), moved[:3], kinds)
            rows, window = audit_rows(frame, f"w{k}")
            db.insert_ignore(engine, DecisionRecord, rows, keys=["request_id"])
            t, cpu = time.perf_counter(), time.process_time()
            outcome = service.check_window(window)
            elapsed, used = time.perf_counter() - t, time.process_time() - cpu
            t = time.perf_counter()
            reference.profile.compare(frame)
            compare = time.perf_counter() - t
            assert outcome.report is not None
            log.info("window %d: %.3f s (compare %.3f s), %d drifted", k, elapsed, compare, outcome.report.drifted)
            if k:  # the first window freezes the prediction reference and warms caches
                updates.append(elapsed)
                update_cpus.append(used)
                compares.append(compare)
        figures["window_update_s"] = round(statistics.median(updates), 3)
        figures["window_update_cpu_s"] = round(statistics.median(update_cpus), 3)
        figures["window_compare_s"] = round(statistics.median(compares), 3)

        current = shift(synthetic_frame(window_rows, kinds, seed=7), moved, kinds)
        import evidently  # noqa: F401 - import time is not part of the report

        t, cpu = time.perf_counter(), time.process_time()
        report = run_report(reference.sample, current, reference.profile, workers=REPORT_WORKERS)
        figures["full_report_compute_s"] = round(time.perf_counter() - t, 3)
        parent_cpu = time.process_time() - cpu
        t, cpu = time.perf_counter(), time.process_time()
        size = report.save_html(home / "reports" / "full" / "report.html")
        figures["html_save_s"] = round(time.perf_counter() - t, 3)
        figures["full_report_cpu_s"] = round(parent_cpu + report.cpu_s + time.process_time() - cpu, 3)
        figures["full_report_worker_cpu_s"] = round(report.cpu_s, 3)
        figures["full_report_s"] = round(figures["full_report_compute_s"] + figures["html_save_s"], 3)
        figures["html_mb"] = round(size / 1e6, 2)
        figures["full_report_drifted"] = float(len(report.result.drifted))
        fast = reference.profile.compare(current)
        figures["fast_check_50k_s"] = 0.0
        t = time.perf_counter()
        reference.profile.compare(current)
        figures["fast_check_50k_s"] = round(time.perf_counter() - t, 3)
        agree = np.mean([a.drifted == b.drifted for a, b in zip(fast.columns, report.result.columns, strict=True)])
        figures["fast_vs_evidently_agreement"] = round(float(agree), 4)
        figures["peak_rss_gb"] = round(peak_rss_gb(), 3)

    result = {
        "name": "monitoring",
        "quick": args.quick,
        "started_at": started,
        "machine": machine(),
        "params": {
            "features": len(columns),
            "numerical": numerical,
            "categorical": categorical,
            "window_rows": window_rows,
            "reference_rows": reference_rows,
            "train_rows": train_rows,
            "update_window_decisions": 1000,
            "shifted_columns": len(moved),
            "repeats": args.repeats,
            "report_workers": REPORT_WORKERS,
        },
        "figures": figures,
        "ratios": {},
        "notes": (
            "synthetic features (no full-scale engineered dataset kept on this machine); full report = Evidently's "
            "DataDriftPreset calculation and widgets (get_drift_for_columns + DataDriftTable rows) on every column "
            "with the service's per-column methods, in blocks of 40 columns over a forkserver pool of "
            f"{REPORT_WORKERS} processes (server start included), one HTML written; full_report_cpu_s = CPU of "
            "this process plus the blocks' CPU in the workers (worker start-up not included); windowed update "
            "= the service's check of 1,000 decisions read from a SQLite audit table (fast vectorised engine, no "
            f"HTML). Load average at the end: {load_average()[0]:.1f} on {os.cpu_count()} cores (shared machine)."
        ),
    }
    write_and_print(result, args.quick, aligned(figures))


if __name__ == "__main__":
    main()
