"""Benchmark of dataset scoring: a whole production part scored by the scoring service's own function, in this process.

    uv run python bench/dataset_scoring.py           # 48,744 rows x 800 features, LightGBM of 500 trees
    uv run python bench/dataset_scoring.py --quick   # 5,000 rows x 200 features, 100 trees

Set-up (timed as ``setup_s``, not part of the figures): a random feature frame of the size of the Kaggle
``application_test`` table (10 % missing values), a LightGBM pipeline built by the training code
(``build_pipeline``) and fitted on a labelled frame of the same width and at most 20,000 rows (early stopping off,
so every tree is kept), the threshold set to refuse about 30 % of the rows, the production part written as Parquet
with its manifest.

Figures, in one run:

- ``wall_s`` / ``rows_per_s``: :func:`scoring_service.dataset_scoring.score_dataset` on the whole part (read in
  chunks, probabilities, decisions, reason codes of the refusals, exact contributions of every row for the feature
  summary, rows and summary written);
- ``predict_s`` and ``contributions_s``: the model's own ``predict_proba`` and ``contributions`` over the same rows
  (the floor of any implementation); ``overhead`` = ``wall_s / (predict_s + contributions_s)``;
- ``peak_rss_gb``: this process's high-water mark.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _report import load_average, machine, started_at, write_and_print

from credit_shared import datasets as store
from credit_shared.contracts.loans import ModelRef
from credit_shared.contracts.model_families import ParamValue
from credit_shared.contracts.scoring import ScoreDataset
from credit_shared.contracts.training import TrainModel
from credit_shared.loaded_model import LoadedModel
from scoring_service.dataset_scoring import ScoringPlaces, score_dataset
from scoring_service.served import OnlineHistory, ServedModel
from training_service.pipeline import Columns, build_pipeline

ROOT = Path(__file__).resolve().parents[1]
ID = "SK_ID_CURR"


def frame(rows: int, features: int, seed: int) -> pd.DataFrame:
    """Random features with 10 % missing values (the first ten carry the signal)."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(rows, features))
    values[rng.random(size=values.shape) < 0.1] = np.nan
    out = pd.DataFrame(values, columns=[f"F{j:03d}" for j in range(features)])
    out.insert(0, ID, np.arange(100_000, 100_000 + rows, dtype="int64"))
    return out


def fitted_model(rows: int, features: int, trees: int) -> LoadedModel:
    """A LightGBM pipeline of exactly ``trees`` trees, fitted by the training code on a random labelled frame."""
    x = frame(rows, features, seed=1).drop(columns=[ID])
    signal = np.nan_to_num(x.iloc[:, :10].to_numpy()).sum(axis=1)
    y = (np.random.default_rng(2).random(rows) < 1 / (1 + np.exp(-(signal - 3)))).astype(int)
    command = TrainModel(request_id="b", dataset_id="ds-bench", run_name="b", family="lightgbm", folds=2)
    params: dict[str, ParamValue] = {"n_estimators": trees, "num_leaves": 31, "learning_rate": 0.05,
                                     "validation_fraction": 0.0, "early_stopping_rounds": 0}  # fmt: skip
    pipeline = build_pipeline(command, Columns.of(x), params, threads=os.cpu_count() or 1).fit(x, y)
    model = LoadedModel(pipeline, 0.5, "credit-default", "1", [str(c) for c in x.columns], family="lightgbm")
    model.threshold = float(np.quantile(model.predict_proba(x.head(5000)), 0.7))  # about 30 % refused
    return model


def write_part(datasets_dir: Path, part: pd.DataFrame) -> str:
    """The production part and manifest of a dataset."""
    dataset_id = "ds-bench"
    folder = store.dataset_dir(datasets_dir, dataset_id)
    folder.mkdir(parents=True)
    part.to_parquet(folder / store.PRODUCTION, index=False)
    part.head(0).assign(TARGET=pd.Series(dtype=int)).to_parquet(folder / store.TRAIN, index=False)
    features = [
        {"name": c, "type": "float", "label": c, "source": "bench", "online": "request"} for c in part.columns[1:]
    ]
    manifest = store.DatasetManifest(
        dataset_id=dataset_id, name="bench", source_checksum="0" * 64, source_kind="synthetic",
        features=features,  # type: ignore[arg-type]
    )  # fmt: skip
    (folder / store.MANIFEST).write_text(manifest.model_dump_json())
    return dataset_id


def run(rows: int, features: int, trees: int, quick: bool) -> dict[str, Any]:
    started = started_at()
    t0 = time.perf_counter()
    model = fitted_model(min(rows, 20_000), features, trees)
    part = frame(rows, features, seed=3)
    ref = ModelRef(name="credit-default", version="1", alias="champion", run_id="bench")
    served = ServedModel(model, ref, OnlineHistory(None, "ds-bench", []))  # type: ignore[arg-type] # no history read
    with tempfile.TemporaryDirectory(prefix="bench-dataset-scoring-") as tmp:
        home = Path(tmp)
        dataset_id = write_part(home / "datasets", part)
        setup_s = time.perf_counter() - t0
        places = ScoringPlaces(home / "datasets", home / "scorings")
        command = ScoreDataset(request_id="bench", dataset_id=dataset_id)
        t0 = time.perf_counter()
        summary = score_dataset(command, served, places, lambda *_: None)
        wall_s = time.perf_counter() - t0
    x = part.drop(columns=[ID])
    t0 = time.perf_counter()
    model.predict_proba(x)
    predict_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.contributions(x)
    contributions_s = time.perf_counter() - t0
    peak_rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    return {
        "name": "dataset_scoring",
        "quick": quick,
        "started_at": started,
        "machine": machine(load_average_after=load_average()),
        "params": {"rows": rows, "features": features, "model_trees": trees, "chunk_rows": places.chunk_rows},
        "figures": {
            "setup_s": round(setup_s, 2),
            "wall_s": round(wall_s, 2),
            "rows_per_s": round(rows / wall_s, 1),
            "predict_s": round(predict_s, 2),
            "contributions_s": round(contributions_s, 2),
            "refusal_rate": round(summary.refusal_rate, 3),
            "peak_rss_gb": round(peak_rss_gb, 2),
        },
        "ratios": {"overhead": round(wall_s / (predict_s + contributions_s), 3)},
        "notes": "In-process, one run; the contributions of every row (for the mean |contribution| per feature) "
        "dominate. The machines are shared: read the ratio, not the absolute times.",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small run that checks the benchmark works")
    args = parser.parse_args()
    result = run(5_000, 200, 100, True) if args.quick else run(48_744, 800, 500, False)
    write_and_print(result, args.quick)


if __name__ == "__main__":
    main()
