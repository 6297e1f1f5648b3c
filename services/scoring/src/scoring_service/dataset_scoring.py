"""Scoring a whole dataset part: read it in chunks, decide each chunk like the stream does, store rows and summary.

Blocking code, run in a thread by the handler. The dataset already holds the model's features (ingestion computed
them with the shared feature code), so each chunk goes straight to :func:`scoring_service.scorer.decide_frame`, the
function the stream decides with: one decision rule, one set of reason codes. The mean |contribution| of each
feature is computed over every scored row (exact contributions, approvals included).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from credit_shared import scorings
from credit_shared.commands import CommandRefused
from credit_shared.contracts.scoring import (
    TOP_FEATURES,
    DatasetPart,
    DatasetScored,
    FeatureInfluence,
    ProbabilitySummary,
    ScoreDataset,
    ScoringSummary,
)
from credit_shared.datasets import PRODUCTION, TRAIN, dataset_dir, read_manifest
from credit_shared.homecredit.application import ID
from credit_shared.scorecard import scorecard
from scoring_service.scorer import contribution_matrix, decide_frame
from scoring_service.served import ServedModel

log = logging.getLogger(__name__)

Progress = Callable[[str, float, str | None], None]  # (stage, percent, message): a ProgressReporter

QUANTILES = {"p01": 0.01, "p05": 0.05, "p10": 0.10, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p90": 0.9, "p95": 0.95,
             "p99": 0.99}  # fmt: skip


class ScoringError(CommandRefused):
    """A scoring that cannot be carried out; ``reason`` is machine-readable, the message says why in words."""


@dataclass(frozen=True)
class ScoringPlaces:
    """Where datasets are read and scorings written, and how many rows are scored at a time."""

    datasets_dir: Path
    scorings_dir: Path
    chunk_rows: int = 5000


def part_file(places: ScoringPlaces, dataset_id: str, part: DatasetPart) -> Path:
    """The Parquet file of a dataset part.

    Raises:
        ScoringError: ``dataset_not_found`` or ``part_not_found``.
    """
    try:
        read_manifest(places.datasets_dir, dataset_id)
    except (FileNotFoundError, ValueError) as exc:
        raise ScoringError("dataset_not_found", str(exc)) from exc
    path = dataset_dir(places.datasets_dir, dataset_id) / (PRODUCTION if part is DatasetPart.PRODUCTION else TRAIN)
    if not path.is_file():
        raise ScoringError("part_not_found", f"dataset {dataset_id!r} has no {part.value} part")
    return path


def chunks(path: Path, columns: list[str], chunk_rows: int, selected: np.ndarray | None) -> Iterator[pd.DataFrame]:
    """The rows of a Parquet file, ``chunk_rows`` at a time, only the ``selected`` positions when given."""
    start = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk_rows, columns=columns):
        frame = batch.to_pandas()
        if selected is not None:
            lo, hi = np.searchsorted(selected, [start, start + len(frame)])
            frame = frame.iloc[selected[lo:hi] - start]
        start += batch.num_rows
        if len(frame):
            yield frame.reset_index(drop=True)


def sample_positions(rows: int, size: int | None, seed: int) -> np.ndarray | None:
    """Sorted positions of a seeded random sample without replacement; None = every row."""
    if size is None or size >= rows:
        return None
    return np.sort(np.random.default_rng(seed).choice(rows, size=size, replace=False))


def checked_part(
    command: ScoreDataset, model: ServedModel, places: ScoringPlaces
) -> tuple[Path, int, list[str], list[str]]:
    """The part's file, its row count, and the model's features it has and lacks.

    Raises:
        ScoringError: unknown dataset or part, an empty part, a dataset without any of the model's features.
    """
    path = part_file(places, command.dataset_id, command.part)
    schema = pq.read_schema(path)
    total = pq.ParquetFile(path).metadata.num_rows
    if total == 0:
        raise ScoringError("empty_part", f"the {command.part.value} part of dataset {command.dataset_id!r} is empty")
    if ID not in schema.names:
        raise ScoringError("invalid_dataset", f"the {command.part.value} part has no {ID} column")
    present = [f for f in model.model.feature_names if f in schema.names]
    missing = [f for f in model.model.feature_names if f not in schema.names]
    if not present:
        raise ScoringError(
            "incompatible_dataset",
            f"dataset {command.dataset_id!r} has none of the features of version {model.ref.version}",
        )
    if missing:
        log.warning("dataset %s lacks %d features of the model: scored as missing", command.dataset_id, len(missing))
    return path, total, present, missing


def score_dataset(
    command: ScoreDataset, model: ServedModel, places: ScoringPlaces, progress: Progress
) -> ScoringSummary:
    """Score a dataset part with ``model``, store the rows and the summary, and return the summary.

    Raises:
        ScoringError: unknown dataset or part, an empty part, a dataset without any of the model's features.
    """
    started = time.perf_counter()
    path, total, present, missing = checked_part(command, model, places)
    selected = sample_positions(total, command.sample_size, command.seed)
    wanted = total if selected is None else len(selected)
    parts: list[pd.DataFrame] = []
    abs_sum = np.zeros(len(model.model.feature_names))
    done = 0
    progress("scoring", 2.0, f"0 of {wanted} rows")
    for chunk in chunks(path, [ID, *present], places.chunk_rows, selected):
        features = chunk.reindex(columns=model.model.feature_names)  # an absent feature is missing, as in the stream
        inputs = model.model.prepare(features)
        contributions = contribution_matrix(model, inputs)[0]  # every row's, once
        decided = decide_frame(inputs, model, contributions)
        abs_sum += np.abs(contributions).sum(axis=0)
        reasons = [json.dumps([r.model_dump() for r in decided.reasons.get(k, [])]) for k in range(len(features))]
        parts.append(
            pd.DataFrame(
                {
                    ID: chunk[ID].astype("int64").to_numpy(),
                    "probability": decided.probabilities,
                    "decision": [d.value for d in decided.decisions],
                    "reasons": reasons,
                    "score": scorecard().scores(decided.probabilities),
                    "grade": scorecard().grades(decided.probabilities),
                }
            )
        )
        done += len(chunk)
        progress("scoring", 2.0 + 93.0 * done / wanted, f"{done} of {wanted} rows")
    rows = pd.concat(parts, ignore_index=True)
    progress("storing", 96.0, f"writing {len(rows)} rows")
    summary = summarise(
        command,
        model,
        rows,
        abs_sum=abs_sum,
        part_rows=total,
        missing=missing,
        duration_s=time.perf_counter() - started,
    )
    scorings.write_scoring(places.scorings_dir, summary, rows)
    progress("done", 100.0, f"{summary.refused} of {summary.rows} refused")
    return summary


def summarise(
    command: ScoreDataset,
    model: ServedModel,
    rows: pd.DataFrame,
    *,
    abs_sum: np.ndarray,
    part_rows: int,
    missing: list[str],
    duration_s: float,
) -> ScoringSummary:
    """The summary of a scoring: counts, refusal rate, probability quantiles, feature influence, model identity."""
    p = rows["probability"].to_numpy(dtype=float)
    refused = int((rows["decision"] == "refused").sum())
    quantiles = {name: float(np.quantile(p, q)) for name, q in QUANTILES.items()}
    probability = ProbabilitySummary(mean=float(p.mean()), min=float(p.min()), max=float(p.max()), **quantiles)
    mean_abs = abs_sum / len(rows)
    order = np.argsort(-mean_abs, kind="stable")
    features = [
        FeatureInfluence(
            feature=model.model.feature_names[j],
            label=model.label(model.model.feature_names[j]),
            mean_abs_contribution=float(mean_abs[j]),
        )
        for j in order
    ]
    return ScoringSummary(
        request_id=command.request_id,
        scoring_id=command.request_id,
        dataset_id=command.dataset_id,
        part=command.part,
        rows=len(rows),
        part_rows=part_rows,
        refused=refused,
        refusal_rate=refused / len(rows),
        threshold=model.model.threshold,
        probability=probability,
        top_features=features[:TOP_FEATURES],
        model=model.ref,
        duration_s=round(duration_s, 3),
        sample_size=command.sample_size,
        seed=command.seed,
        features=features,
        missing_features=missing,
        requested_by=command.requested_by,
    )


def headline(summary: ScoringSummary) -> DatasetScored:
    """The event of a stored scoring: its headline figures and its id, without the per-feature list."""
    return DatasetScored.model_validate(summary.model_dump(include=set(DatasetScored.model_fields)))
