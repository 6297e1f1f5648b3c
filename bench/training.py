"""Benchmark of training: LightGBM with class weighting, a 3-fold random search of 8 candidates with early stopping,
the threshold tuned on out-of-fold probabilities, then the final fit, metrics and every artifact (no MLflow).

    uv run python bench/training.py            # full scale: application features of 307,511 synthetic applicants
    uv run python bench/training.py --quick    # the 6,999 real rows of ../shared/data/home-credit

Data: application features only (``credit_shared.features.application``), written as a dataset folder by
``training_service.sample.write_application_dataset``. The full run reads ``application_train.csv`` from
``--tables`` (default ``.credit/bench-data/synthetic-356255-seed7``, the tables ``bench/ingestion.py`` generates);
it generates them with ``credit_local.synthetic.generate`` when absent.
Peak RSS is this process's ``ru_maxrss``. The quick run is the reproduction of the issue's "Done when" figure
(cross-validated ROC AUC on the real rows, cost against accepting everybody).
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _report import aligned, machine, started_at, write_and_print

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "data" / "home-credit" / "application_train.csv"
FULL_TABLES = ROOT / ".credit" / "bench-data" / "synthetic-356255-seed7"

SEARCH: dict[str, Any] = {
    "method": "random",
    "budget": 8,
    "parameters": {
        "learning_rate": {"low": 0.01, "high": 0.06, "scale": "log"},
        "num_leaves": {"low": 4, "high": 24, "scale": "log"},
        "min_child_samples": {"low": 20, "high": 150, "scale": "log"},
        "colsample_bytree": {"low": 0.2, "high": 0.6},
        "reg_lambda": {"low": 0.0, "high": 20.0},
    },
}
FIXED = {"n_estimators": 5000, "subsample": 0.8, "subsample_freq": 1, "early_stopping_rounds": 300,
         "validation_fraction": 0.2}  # fmt: skip


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


def full_tables(folder: Path) -> Path:
    csv = folder / "application_train.csv"
    if not csv.is_file():
        from credit_local.synthetic import generate

        logging.info("generating the full-scale synthetic tables into %s (minutes)", folder)
        generate(folder, 356_255, seed=7)
    return csv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the real 6,999 rows instead of full scale")
    parser.add_argument("--tables", type=Path, default=FULL_TABLES, help="folder of the full-scale tables")
    parser.add_argument("--budget", type=int, default=8, help="candidates of the random search")
    parser.add_argument("--folds", type=int, help="cross-validation folds (default: 3, the issue's; 5 with --quick)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    args.folds = args.folds or (5 if args.quick else 3)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from credit_shared.contracts.training import TrainModel
    from training_service.sample import write_application_dataset
    from training_service.trainer import load_dataset, train_model

    if args.quick and not SAMPLE.is_file():
        sys.exit(f"the real sample is not at {SAMPLE}")
    csv = SAMPLE if args.quick else full_tables(args.tables)
    started = started_at()
    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        t0 = time.perf_counter()
        write_application_dataset(csv, Path(tmp) / "datasets", "bench")
        data = load_dataset(Path(tmp) / "datasets", "bench")
        prepare_s = time.perf_counter() - t0
        command = TrainModel(
            request_id="bench", dataset_id="bench", run_name="bench", family="lightgbm", imbalance="class_weight",
            params=FIXED, search={**SEARCH, "budget": args.budget}, folds=args.folds, seed=7,
        )  # fmt: skip
        last = [0.0]

        def progress(stage: str, percent: float, message: str | None = None) -> None:
            if percent - last[0] >= 5 or stage != "cross-validation":
                logging.info("%5.1f%% %s %s", percent, stage, message or "")
                last[0] = percent

        t0 = time.perf_counter()
        trained = train_model(command, data, Path(tmp) / "artifacts", progress, threads=args.threads)
        wall_s = time.perf_counter() - t0
    m = trained.metrics
    figures = {
        "wall_s": round(wall_s, 2),
        "prepare_s": round(prepare_s, 2),
        "search_s": round(m["search_time_s"], 2),
        "final_fit_s": round(m["training_time_s"], 2),
        "peak_rss_gb": round(rss_gb(), 3),
        "rows": len(data.y),
        "features": data.X.shape[1],
        "cv_auc": round(m["cv_roc_auc"], 4),
        "cv_auc_std": round(m["cv_roc_auc_std"], 4),
        "cv_cost": round(m["cv_business_cost"], 4),
        "test_auc": round(m["test_roc_auc"], 4),
        "test_cost": round(m["test_business_cost"], 4),
        "test_cost_at_0_5": round(m["test_cost_at_0_5"], 4),
        "test_cost_accept_all": round(m["test_cost_accept_all"], 4),
        "test_refusal_rate": round(m["test_refusal_rate"], 4),
        "threshold": round(trained.threshold, 4),
        "inference_ms_per_row": round(m["inference_ms_per_row"], 4),
    }
    result = {
        "name": "training",
        "quick": args.quick,
        "started_at": started,
        "machine": machine(),
        "params": {
            "family": "lightgbm",
            "imbalance": "class_weight",
            "folds": args.folds,
            "candidates": args.budget,
            "search": "random",
            "fixed": FIXED,
            "threads": args.threads,
            "data": str(csv.name),
            "best_params": trained.params,
        },
        "figures": figures,
        "ratios": {"cost_vs_accept_all": round(m["test_business_cost"] / m["test_cost_accept_all"], 4)},
        "notes": "Application features only. wall_s covers the search, the threshold, the final fit, metrics and "
        "every artifact (figures, SHAP, model card), not MLflow logging. cv_* are the chosen candidate's "
        "out-of-fold fold means at the tuned threshold; test_* on the held-out 20 %. The machine is shared: "
        "absolute times vary from run to run.",
    }
    write_and_print(result, args.quick, aligned(figures))


if __name__ == "__main__":
    main()
