"""Building a dataset version: raw tables -> features -> cleaning -> Parquet parts, online features, MLflow."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from credit_shared.contracts.ingestion import BuildDataset, DatasetBuilt
from credit_shared.datasets import DatasetManifest
from credit_shared.feature_policy import PolicyOutcome, apply_policy
from credit_shared.features import FEATURE_COLUMNS, HISTORY_COLUMNS
from credit_shared.features.build import build_features
from credit_shared.features.labels import feature_infos
from credit_shared.features.sources import present_tables
from credit_shared.homecredit.application import ID, TARGET
from credit_shared.online_features import write_online_features
from credit_shared.settings import MlflowSettings
from ingestion_service import store
from ingestion_service.baseline import log_dataset
from ingestion_service.cleaning import Cleaner, CleaningParams
from ingestion_service.sources import RawSource, read_applications

log = logging.getLogger(__name__)

Report = Callable[[str, float, str | None], None]  # stage, percent, message

# Share of the build each stage takes, for the progress bar (features dominate).
STAGES = {"checksum": (0, 5), "features": (5, 70), "cleaning": (70, 80), "online": (80, 95), "writing": (95, 99)}


@dataclass(frozen=True)
class BuildContext:
    """The collaborators of a build."""

    datasets_dir: Path
    engine: Engine
    mlflow: MlflowSettings | None
    memory_limit: str = "3GB"
    threads: int = 2


def _reporter(report: Report, stage: str) -> Callable[[float, str | None], None]:
    start, end = STAGES[stage]

    def at(share: float, message: str | None = None) -> None:
        report(stage, start + (end - start) * max(0.0, min(1.0, share)), message)

    return at


@dataclass(frozen=True)
class _Parts:
    """The cleaned parts of a build and what the feature policy set apart."""

    cleaner: Cleaner
    policy: PolicyOutcome
    train: pd.DataFrame
    production: pd.DataFrame
    aside: pd.DataFrame | None  # the labelled rows' protected columns (for fairness), never features


def _clean(
    command: BuildDataset, train: pd.DataFrame, production: pd.DataFrame, target: pd.Series, report: Report
) -> _Parts:
    """The feature policy, then the cleaning fitted on the labelled rows and applied to both parts."""
    policy = apply_policy(FEATURE_COLUMNS, command.feature_policy)
    clean_at = _reporter(report, "cleaning")
    clean_at(0.0, f"{len(policy.inputs)} features on {len(train)} training rows ({len(policy.excluded)} excluded)")
    params = CleaningParams(
        max_missing_rate=command.max_missing_rate,
        min_variance=command.min_variance,
        leakage_auc=command.leakage_auc,
        max_correlation=command.max_correlation,
        imputation=command.imputation,
    )
    cleaner = Cleaner(params).fit(train[policy.inputs], target)
    train_part = pd.concat([train[[ID]], cleaner.transform(train[policy.inputs]), target], axis=1)
    production_part = pd.concat([production[[ID]], cleaner.transform(production[policy.inputs])], axis=1)
    clean_at(1.0, f"kept {len(cleaner.kept_)} features, dropped {len(cleaner.dropped_)}")
    aside = train[[ID, *policy.aside]] if policy.aside else None
    return _Parts(cleaner, policy, train_part, production_part, aside)


def _features(source: RawSource, ctx: BuildContext, report: Report) -> tuple[pd.DataFrame, list[str]]:
    """The feature table of every applicant, and the side tables that are absent."""
    features_at = _reporter(report, "features")
    applications = read_applications(source.folder)
    absent = present_tables(source.folder)[1]
    if absent:
        features_at(0.0, f"no {', '.join(absent)} table: its history features are missing")
    table = build_features(
        applications,
        source.folder,
        memory_limit=ctx.memory_limit,
        threads=ctx.threads,
        temp_dir=ctx.datasets_dir.parent / "tmp",
        progress=lambda stage, share: features_at(share, stage),
    )
    return table, absent


def _manifest(
    command: BuildDataset,
    parts: _Parts,
    target: pd.Series,
    *,
    dataset_id: str,
    source: RawSource,
    checksum: str,
    absent: list[str],
) -> DatasetManifest:
    """The manifest of the built dataset (before the MLflow run is known)."""
    cleaner, policy = parts.cleaner, parts.policy
    return DatasetManifest(
        dataset_id=dataset_id,
        name=command.name,
        description=command.description,
        source_checksum=checksum,
        source_kind=source.kind,
        parameters=command.model_dump(exclude={"request_id", "name", "description"}, mode="json"),
        features=feature_infos(cleaner.kept_),
        dropped=cleaner.dropped_,
        absent_tables=absent,
        aside=policy.aside,
        excluded=policy.excluded,
        flagged={k: v for k, v in policy.flagged.items() if k in set(cleaner.kept_)},
        sizes={"train": len(parts.train), "production": len(parts.production), "features": len(cleaner.kept_)},
        target_rate=float(target.mean()),
        statistics=store.statistics(parts.train[cleaner.kept_]),
    )


def build_dataset(command: BuildDataset, source: RawSource, ctx: BuildContext, report: Report) -> DatasetBuilt:
    """Build one dataset version; nothing becomes visible unless every step succeeds.

    Raises:
        ValueError: when the raw tables are invalid (the message names the table and column).
        FileNotFoundError: when the application table is missing (a missing side table only leaves its history
            features missing, and the manifest names it).
    """
    started = time.monotonic()
    store.remove_stale_staging(ctx.datasets_dir)
    dataset_id = store.new_dataset_id()
    _reporter(report, "checksum")(0.0, f"reading {source.kind} tables in {source.folder}")
    checksum = store.sources_checksum(source.files())

    table, absent = _features(source, ctx, report)
    labelled = table[TARGET].notna()
    train, production = table[labelled].reset_index(drop=True), table[~labelled].reset_index(drop=True)
    if train.empty:
        raise ValueError("application_train has no row with a TARGET: nothing to learn from")
    target = train[TARGET].astype(int)

    parts = _clean(command, train, production, target, report)
    cleaner, train_part, production_part = parts.cleaner, parts.train, parts.production
    manifest = _manifest(command, parts, target, dataset_id=dataset_id, source=source, checksum=checksum, absent=absent)
    if ctx.mlflow is not None:
        experiment_id, run_id = log_dataset(ctx.mlflow, manifest, target)
        manifest = manifest.model_copy(update={"mlflow_experiment_id": experiment_id, "baseline_run_id": run_id})

    online_at = _reporter(report, "online")
    history_columns = [c for c in cleaner.kept_ if c in set(HISTORY_COLUMNS)]
    history = pd.concat([train_part, production_part], ignore_index=True)[[ID, *history_columns]]
    write_online_features(ctx.engine, dataset_id, history, history_columns, lambda share: online_at(share, None))

    _reporter(report, "writing")(0.0, "writing Parquet parts")
    store.write_dataset(ctx.datasets_dir, manifest, train_part, production_part, parts.aside)  # it appears here
    report("done", 100.0, f"dataset {dataset_id} built")
    return DatasetBuilt(
        request_id=command.request_id,
        dataset_id=dataset_id,
        name=command.name,
        rows_train=len(train_part),
        rows_production=len(production_part),
        features=len(cleaner.kept_),
        dropped=len(cleaner.dropped_),
        mlflow_experiment_id=manifest.mlflow_experiment_id,
        baseline_run_id=manifest.baseline_run_id,
        duration_s=time.monotonic() - started,
        absent_tables=absent,
        aside=parts.policy.aside,
    )
