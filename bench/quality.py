"""Benchmark of decision quality on the real rows: is the first model a credit-grade model, and against what?

    uv run python bench/quality.py           # 5 x 2 repeated stratified CV, tuned LightGBM of 8 candidates, 5 seeds
    uv run python bench/quality.py --quick   # 1 x 2, 2 candidates, 2 seeds (checks the benchmark still works)

Data: the 6,999 real rows of ``../shared/data/home-credit/application_train.csv`` (7.7 % defaults), application
features only (``training_service.sample.write_application_dataset``). Every model gets the same inputs: the default
feature policy applied (``CODE_GENDER`` and ``NAME_FAMILY_STATUS`` kept aside; ``CODE_GENDER`` gives the
disparate-impact ratio).

Outer loop: repeated stratified cross-validation (``RepeatedStratifiedKFold``, ``--repeats`` x ``--folds``); each model
is fitted on the outer training rows only and measured on the outer held-out rows, all in the same run:

- ``accept_all``: refuses nobody; its probability is the training rows' default rate (the constant predictor);
- ``seed_lr``: the seed project's logistic regression: median imputation, scaling, one-hot categories, balanced
  class weights, refusal at 0.5 (its probabilities are not calibrated);
- ``first_start``: exactly the command the first start trains (``credit_local.bootstrap.first_model``, 5 folds),
  through ``training_service.trainer.train_model`` (lockstep trees, calibration, cost-tuned threshold);
- ``tuned_lgbm``: the same trainer with a random search over LightGBM's parameters (``--budget`` candidates).

Per model and outer fold: ROC AUC, business cost per applicant at the model's own threshold (10 per missed default,
1 per good client refused), Brier score, expected calibration error (10 equal-frequency bins), mean PD and observed
default rate, refusal rate, and the disparate-impact ratio by gender (approval rate of the less approved of F / M over
the more approved's). The table gives the mean and the standard deviation over the outer folds.

Seeds: the first-start recipe trained on all 6,999 rows with ``--seeds`` seeds (its own 20 % test split each time):
number of trees, threshold, test AUC, cost, Brier and expected/observed ratio, min and max.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _report import load_average, machine, started_at, write_and_print
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from credit_local.bootstrap import first_model
from credit_shared.contracts.quality import FeaturePolicy
from credit_shared.contracts.training import TrainModel
from credit_shared.evaluation import CostWeights, business_cost, expected_calibration_error
from credit_shared.feature_policy import apply_policy
from training_service.pipeline import Columns
from training_service.sample import write_application_dataset
from training_service.trainer import Dataset, load_dataset, train_model

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "data" / "home-credit" / "application_train.csv"
WEIGHTS = CostWeights(10.0, 1.0)
SEARCH: dict[str, Any] = {
    "method": "random",
    "parameters": {
        "learning_rate": {"low": 0.01, "high": 0.08, "scale": "log"},
        "num_leaves": {"low": 4, "high": 31, "scale": "log"},
        "min_child_samples": {"low": 20, "high": 200, "scale": "log"},
        "colsample_bytree": {"low": 0.2, "high": 0.7},
        "reg_lambda": {"low": 0.0, "high": 20.0},
    },
}
FIXED = {"n_estimators": 3000, "min_estimators": 50, "early_stopping_rounds": 150, "subsample": 0.8,
         "subsample_freq": 1}  # fmt: skip
MEASURES = ("auc", "cost", "brier", "ece", "mean_pd", "default_rate", "refusal_rate", "di_gender")

Fitted = tuple[np.ndarray, float]  # probabilities on the held-out rows, threshold


def measure(y: np.ndarray, p: np.ndarray, threshold: float, gender: pd.Series) -> dict[str, float]:
    """Every measure of one model on one population."""
    refused = p >= threshold
    approval = {g: float(1 - refused[(gender == g).to_numpy()].mean()) for g in ("F", "M") if (gender == g).any()}
    di = min(approval.values()) / max(approval.values()) if approval and max(approval.values()) > 0 else float("nan")
    return {
        "auc": float(roc_auc_score(y, p)) if np.ptp(p) > 0 else 0.5,
        "cost": business_cost(y, refused, WEIGHTS),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
        "mean_pd": float(p.mean()),
        "default_rate": float(y.mean()),
        "refusal_rate": float(refused.mean()),
        "di_gender": di,
    }


def accept_all(train: Dataset, X_test: pd.DataFrame, _seed: int) -> Fitted:  # noqa: N803
    return np.full(len(X_test), float(train.y.mean())), 1.01


def seed_lr(train: Dataset, X_test: pd.DataFrame, seed: int) -> Fitted:  # noqa: N803
    columns = Columns.of(train.X)
    prepare = ColumnTransformer([
        ("numeric", Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                              ("scale", StandardScaler())]), columns.numeric),
        ("categorical", OneHotEncoder(handle_unknown="ignore"), columns.categorical),
    ])  # fmt: skip
    model = Pipeline(
        [("prepare", prepare), ("lr", LogisticRegression(class_weight="balanced", max_iter=3000, random_state=seed))]
    )
    model.fit(train.X, train.y)
    return model.predict_proba(X_test)[:, 1], 0.5


def trainer(command: Callable[[int], dict[str, Any]]) -> Callable[[Dataset, pd.DataFrame, int], Fitted]:
    def fit(train: Dataset, X_test: pd.DataFrame, seed: int) -> Fitted:  # noqa: N803
        body = {**command(seed), "request_id": "bench", "dataset_id": "bench", "seed": seed}
        with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
            trained = train_model(TrainModel(**body), train, Path(tmp), lambda *a: None)
        return trained.pipeline.predict_proba(X_test[trained.feature_names])[:, 1], trained.threshold

    return fit


def first_start_command(seed: int) -> dict[str, Any]:
    return first_model("bench", 5)


def tuned_command(budget: int) -> Callable[[int], dict[str, Any]]:
    def command(seed: int) -> dict[str, Any]:
        return {"run_name": "tuned", "family": "lightgbm", "imbalance": "none", "folds": 3, "params": FIXED,
                "search": {**SEARCH, "budget": budget}}  # fmt: skip

    return command


def outer_cv(data: Dataset, models: dict[str, Callable[..., Fitted]], repeats: int, folds: int) -> dict[str, Any]:
    outer = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=0)
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in models}
    seconds: dict[str, float] = dict.fromkeys(models, 0.0)
    for k, (train_idx, test_idx) in enumerate(outer.split(data.X, data.y)):
        train = Dataset(data.manifest, data.X.iloc[train_idx], data.y[train_idx], data.aside.iloc[train_idx])
        gender = data.aside["CODE_GENDER"].iloc[test_idx].astype(str).reset_index(drop=True)
        for name, fit in models.items():
            started = time.perf_counter()
            p, threshold = fit(train, data.X.iloc[test_idx], k)
            seconds[name] += time.perf_counter() - started
            rows[name].append(measure(data.y[test_idx], np.asarray(p, dtype=float), threshold, gender))
            logging.info("outer fold %d, %s: %s", k + 1, name, {m: round(v, 4) for m, v in rows[name][-1].items()})
    return {"rows": rows, "seconds": seconds}


def seed_spread(data: Dataset, seeds: int) -> dict[str, Any]:
    found = []
    for seed in range(1, seeds + 1):
        body = {**first_model("bench", 5), "request_id": "bench", "dataset_id": "bench", "seed": seed}
        with tempfile.TemporaryDirectory(prefix="bench-quality-") as tmp:
            m = train_model(TrainModel(**body), data, Path(tmp), lambda *a: None).metrics
        found.append({"seed": seed, "trees": m.get("trees"), "threshold": m["threshold"], "test_auc": m["test_roc_auc"],
                      "test_cost": m["test_business_cost"], "test_brier": m["test_brier"],
                      "test_expected_observed": m["test_expected_observed_ratio"]})  # fmt: skip
        logging.info("seed %d: %s", seed, found[-1])
    keys = [k for k in found[0] if k != "seed"]
    return {"runs": found, "range": {k: [min(r[k] for r in found), max(r[k] for r in found)] for k in keys}}


def load() -> Dataset:
    tmp = Path(tempfile.mkdtemp(prefix="bench-quality-data-"))
    write_application_dataset(SAMPLE, tmp, "bench")
    data = load_dataset(tmp, "bench")
    policy = apply_policy([str(c) for c in data.X.columns], FeaturePolicy())
    return Dataset(data.manifest, data.X[policy.inputs], data.y, data.X[policy.aside])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 x 2 folds, 2 candidates, 2 seeds")
    parser.add_argument("--repeats", type=int, help="repeats of the outer CV (default 5; 1 with --quick)")
    parser.add_argument("--folds", type=int, default=2, help="folds of the outer CV")
    parser.add_argument("--budget", type=int, help="candidates of the tuned LightGBM (default 8; 2 with --quick)")
    parser.add_argument("--seeds", type=int, help="seeds of the spread (default 5; 2 with --quick)")
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 5)
    budget = args.budget or (2 if args.quick else 8)
    seeds = args.seeds or (2 if args.quick else 5)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("training_service").setLevel(logging.WARNING)
    if not SAMPLE.is_file():
        sys.exit(f"the real sample is not at {SAMPLE}")
    started = started_at()
    load_start = load_average()
    t0 = time.perf_counter()
    data = load()
    models = {"accept_all": accept_all, "seed_lr": seed_lr, "first_start": trainer(first_start_command),
              "tuned_lgbm": trainer(tuned_command(budget))}  # fmt: skip
    cv = outer_cv(data, models, repeats, args.folds)
    spread = seed_spread(data, seeds)
    wall_s = time.perf_counter() - t0
    summary = {name: {m: (float(np.mean([r[m] for r in rs])), float(np.std([r[m] for r in rs]))) for m in MEASURES}
               for name, rs in cv["rows"].items()}  # fmt: skip
    write(args, started, load_start, wall_s, summary, cv, spread, repeats, budget)


def write(args: Any, started: str, load_start: list[float], wall_s: float, summary: dict[str, Any],
          cv: dict[str, Any], seeds: dict[str, Any], repeats: int, budget: int) -> None:  # fmt: skip
    figures: dict[str, float] = {"wall_s": round(wall_s, 1)}
    spread: dict[str, float] = {}  # the standard deviation over the outer folds of each figure
    for name, values in summary.items():
        for m, (mean, std) in values.items():
            figures[f"{name}_{m}"], spread[f"{name}_{m}_std"] = round(mean, 4), round(std, 4)
    fs, lr, const = summary["first_start"], summary["seed_lr"], summary["accept_all"]
    checks = {
        "first_start_beats_seed_lr_auc": fs["auc"][0] > lr["auc"][0],
        "first_start_beats_seed_lr_cost": fs["cost"][0] < lr["cost"][0],
        "first_start_brier_below_constant": fs["brier"][0] < const["brier"][0],
        "first_start_mean_pd_within_1_5_points": abs(fs["mean_pd"][0] - fs["default_rate"][0]) < 0.015,
    }
    result = {
        "name": "quality",
        "quick": args.quick,
        "started_at": started,
        "machine": machine(load_average_start=load_start, load_average_end=load_average()),
        "params": {
            "rows": 6999,
            "outer": f"{repeats} x {args.folds} repeated stratified",
            "tuned_budget": budget,
            "first_start": first_model("bench", 5),
            "tuned_fixed": FIXED,
            "tuned_search": SEARCH,
            "seconds_per_model": {k: round(v, 1) for k, v in cv["seconds"].items()},
        },
        "figures": figures,
        "ratios": {
            "first_start_vs_seed_lr_cost": round(fs["cost"][0] / lr["cost"][0], 4),
            "first_start_vs_constant_brier": round(fs["brier"][0] / const["brier"][0], 4),
        },
        "spread": spread,
        "checks": checks,
        "seeds": seeds,
        "folds": cv["rows"],
        "notes": "Means and standard deviations over the outer held-out folds; every model fitted on the outer "
        "training rows only. Costs at each model's own threshold (0.5 for the seed-like LR, 1.01 = nobody refused for "
        "accept_all, the tuned threshold for the trained ones). di_gender: approval rate of the less approved gender "
        "over the more approved's (0.8 is the usual flag). The machine is shared: times vary.",
    }
    lines = [f"{'model':<12}" + "".join(f"{m:>17}" for m in MEASURES)]
    for name, values in summary.items():
        lines.append(f"{name:<12}" + "".join(f"{v[0]:>9.4f} ±{v[1]:.4f}" for v in values.values()))
    lines.append("seeds (first start, all rows): " + json.dumps(seeds["range"]))
    lines.append("checks: " + json.dumps(checks))
    write_and_print(result, args.quick, lines)


if __name__ == "__main__":
    main()
