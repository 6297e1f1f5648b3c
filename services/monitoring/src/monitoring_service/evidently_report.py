"""The one module that speaks Evidently 0.7: the data-drift report of ``DataDriftPreset``, computed column block by
column block, turned into the project's own types and one HTML file.

Each column is compared with the method and threshold the reference profile chose for it (Evidently's default
choice unless one is configured per column type), passed to Evidently explicitly, so the report and the fast
per-window check in :mod:`monitoring_service.profile` use the same rules.

Why not ``Report([DataDriftPreset()])`` on the whole frame: its cost grows with the square of the width. For every
column, Evidently copies the *whole* current frame (to drop the column's missing rows) three times over (the
``ValueDrift`` metric, ``DatasetDriftMetric``, ``DataDriftTable``), so 800 columns x 50,000 rows took ~3,000 s; it
also computes each column's test three times and draws per-column plotly figures for the ``ValueDrift`` metrics
that the preset's HTML never shows (the preset renders only ``DatasetDriftMetric`` and ``DataDriftTable``).

So the report is built from the same Evidently parts the preset renders, once per column:

- the columns are split into blocks of :data:`BLOCK_COLUMNS`; each block runs Evidently's
  ``get_drift_for_columns`` (the calculation behind ``DataDriftTable`` and ``DatasetDriftMetric``, with the
  per-column methods and thresholds the preset passes as ``DataDriftOptions``) and ``DataDriftTableRenderer``'s
  row of each column (distribution sparklines, drift-over-index and distribution figures), in a pool of
  ``workers`` processes;
- the rows are merged into the preset's two widgets: the dataset-drift counters and one "Data Drift Summary"
  table over every column (sorted by drift score, as Evidently sorts it), rendered by Evidently's own HTML template.

The scores and verdicts are Evidently's (``drift_score``, ``drift_detected``); only the bookkeeping is ours.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pandas as pd

from monitoring_service.domain import ColumnDrift, DriftResult
from monitoring_service.profile import ReferenceProfile

log = logging.getLogger(__name__)

BLOCK_COLUMNS: Final = 40  # columns per Evidently run: small enough that its per-column whole-frame copies are cheap
EVIDENTLY_MODULES: Final = (
    "evidently.legacy.calculations.data_drift",
    "evidently.legacy.metrics.data_drift.data_drift_table",
    "evidently.legacy.utils.data_operations",
)
DATASET_DRIFT_SHARE: Final = 0.5  # DataDriftPreset's default: dataset drift when half the columns drift


@dataclass(frozen=True)
class ColumnOutcome:
    """Evidently's verdict on one column and its row of the HTML table (``None``: Evidently renders no row)."""

    column: str
    score: float
    drifted: bool
    row: Any


@dataclass(frozen=True)
class Block:
    """One block of columns, with both samples restricted to them (what a worker process receives)."""

    reference: pd.DataFrame
    current: pd.DataFrame
    numerical: list[str]
    categorical: list[str]
    methods: dict[str, str]
    thresholds: dict[str, float]


@dataclass(frozen=True)
class EvidentlyReport:
    """A computed report: our verdicts plus the Evidently widgets that render its HTML."""

    result: DriftResult
    widgets: list[Any]
    cpu_s: float = 0.0  # CPU seconds of the Evidently calculation, summed over the worker processes

    def save_html(self, path: Path) -> int:
        """Write the interactive HTML report (Evidently's template, everything embedded); returns its size in bytes."""
        from evidently.core.metric_types import render_widgets
        from evidently.legacy.renderers.html_widgets import group_widget

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_widgets([group_widget(title="", widgets=self.widgets)]), encoding="utf-8")
        return path.stat().st_size


def _prepared(frame: pd.DataFrame, numerical: list[str], categorical: list[str]) -> pd.DataFrame:
    data = {c: pd.to_numeric(frame[c], errors="coerce").astype("float64") for c in numerical}
    data.update({c: frame[c].astype("object").where(frame[c].notna(), None) for c in categorical})
    return pd.DataFrame(data, index=frame.index).reset_index(drop=True)


def drift_block(block: Block) -> tuple[list[ColumnOutcome], float]:
    """Evidently's drift calculation and table rows for one block of columns (runs in a worker process).

    Returns:
        The outcome of each column and the CPU seconds the block took.
    """
    started = time.process_time()
    from evidently.legacy.calculations.data_drift import get_drift_for_columns
    from evidently.legacy.calculations.stattests import chi_stat_test
    from evidently.legacy.metrics.data_drift.data_drift_table import DataDriftTableRenderer
    from evidently.legacy.options.data_drift import DataDriftOptions
    from evidently.legacy.pipeline.column_mapping import ColumnMapping
    from evidently.legacy.utils.data_operations import process_columns

    columns = block.numerical + block.categorical
    # By name, Evidently allows chi-square on categorical columns only; its own default choice applies the test
    # object to numerical columns of a few values, and so do we.
    methods: dict[str, Any] = {
        c: chi_stat_test if m == "chisquare" and c in block.numerical else m for c, m in block.methods.items()
    }
    reference = _prepared(block.reference, block.numerical, block.categorical)
    current = _prepared(block.current, block.numerical, block.categorical)
    mapping = ColumnMapping(
        target=None, prediction=None, numerical_features=block.numerical, categorical_features=block.categorical
    )
    drift = get_drift_for_columns(
        current_data=current,
        reference_data=reference,
        dataset_columns=process_columns(reference, mapping),
        data_drift_options=DataDriftOptions(per_feature_stattest=methods, per_feature_threshold=dict(block.thresholds)),
        columns=columns,
        agg_data=True,  # DataDriftPreset's default render options (no raw data in the HTML)
    )
    renderer = DataDriftTableRenderer()
    outcomes = [
        ColumnOutcome(
            column,
            float(found.drift_score),
            bool(found.drift_detected),
            renderer._generate_column_params(column, found, True),  # the table renderer's own row
        )
        for column, found in drift.drift_by_columns.items()
    ]
    return outcomes, time.process_time() - started


def _run_blocks(blocks: list[Block], workers: int) -> tuple[list[ColumnOutcome], float]:
    if workers <= 1 or len(blocks) <= 1:
        done = [drift_block(block) for block in blocks]
    else:
        # forkserver, not fork: the service calls this from a worker thread of an asyncio process. The server
        # imports Evidently once; each worker forks from it warm instead of paying the ~5 s CPU import (as spawn).
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__, *EVIDENTLY_MODULES])
        with ProcessPoolExecutor(max_workers=min(workers, len(blocks)), mp_context=context) as pool:
            done = list(pool.map(drift_block, blocks))
    return [outcome for found, _ in done for outcome in found], sum(cpu for _, cpu in done)


def _widgets(outcomes: list[ColumnOutcome]) -> list[Any]:
    """The widgets ``DataDriftPreset`` renders (``DatasetDriftMetric`` counters, ``DataDriftTable``), all columns."""
    from evidently.legacy.metrics.data_drift.data_drift_table import DataDriftTableRenderer
    from evidently.legacy.renderers.html_widgets import (
        ColumnDefinition,
        ColumnType,
        CounterData,
        counter,
        header_text,
        rich_table_data,
    )

    total, drifted = len(outcomes), sum(o.drifted for o in outcomes)
    share = drifted / total if total else 0.0
    detected = "detected" if total and share >= DATASET_DRIFT_SHARE else "NOT detected"
    color = DataDriftTableRenderer().color_options.primary_color
    histogram = {"xField": "x", "yField": "y", "color": color}
    table_columns = [
        ColumnDefinition("Column", "column_name"),
        ColumnDefinition("Type", "column_type"),
        ColumnDefinition("Reference Distribution", "reference_distribution", ColumnType.HISTOGRAM, options=histogram),
        ColumnDefinition("Current Distribution", "current_distribution", ColumnType.HISTOGRAM, options=histogram),
        ColumnDefinition("Data Drift", "data_drift"),
        ColumnDefinition("Stat Test", "stattest_name"),
        ColumnDefinition("Drift Score", "drift_score"),
    ]
    rows = [o.row for o in sorted(outcomes, key=lambda o: -o.score) if o.row is not None]
    return [
        counter(
            counters=[
                CounterData(
                    f"Dataset Drift is {detected}. Dataset drift detection threshold is {DATASET_DRIFT_SHARE}",
                    "Dataset Drift",
                )
            ],
            title="",
        ),
        counter(
            counters=[
                CounterData.int("Columns", total),
                CounterData.int("Drifted Columns", drifted),
                CounterData.float("Share of Drifted Columns", share, 3),
            ],
            title="",
        ),
        header_text(label="Data Drift Summary"),
        rich_table_data(
            title=f"Drift is detected for {round(share * 100, 3)}% of columns ({drifted} out of {total}).",
            columns=table_columns,
            data=rows,
        ),
    ]


def _blocks(
    reference: pd.DataFrame, current: pd.DataFrame, comparable: list[str], profile: ReferenceProfile
) -> list[Block]:
    """The comparable columns in blocks of :data:`BLOCK_COLUMNS`, each with the profile's types, methods and
    thresholds."""
    index = {c: j for j, c in enumerate(profile.columns)}
    blocks = []
    for start in range(0, len(comparable), BLOCK_COLUMNS):
        part = comparable[start : start + BLOCK_COLUMNS]
        blocks.append(
            Block(
                reference=reference[part],
                current=current[part],
                numerical=[c for c in part if profile.kinds[index[c]] == "numerical"],
                categorical=[c for c in part if profile.kinds[index[c]] == "categorical"],
                methods={c: profile.methods[index[c]] for c in part},
                thresholds={c: profile.thresholds[index[c]] for c in part},
            )
        )
    return blocks


def _verdicts(wanted: list[str], found: dict[str, ColumnOutcome], profile: ReferenceProfile) -> tuple[ColumnDrift, ...]:
    """Each wanted column's verdict (no score and no drift for a column Evidently did not compare)."""
    index = {c: j for j, c in enumerate(profile.columns)}
    verdicts = []
    for column in wanted:
        j = index[column]
        outcome = found.get(column)
        score = outcome.score if outcome is not None and math.isfinite(outcome.score) else None
        drifted = outcome is not None and outcome.drifted
        verdicts.append(
            ColumnDrift(column, profile.kinds[j], profile.methods[j], profile.thresholds[j], score, drifted)
        )
    return tuple(verdicts)


def run_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    profile: ReferenceProfile,
    columns: list[str] | None = None,
    *,
    workers: int = 1,
) -> EvidentlyReport:
    """Compare ``current`` with ``reference`` as Evidently's ``DataDriftPreset`` does, column block by block.

    Args:
        reference: the reference sample (the rows the profile was built from).
        current: the rows to compare.
        profile: the reference profile, which fixes each column's type, method and threshold.
        columns: the columns to compare (default every profile column). A column without any value in either
            sample is not given to Evidently (it cannot compare it) and gets no score and no drift.
        workers: processes computing the blocks (1: in this process).

    Returns:
        The verdicts in the requested column order and the report's widgets.

    Raises:
        ValueError: when a requested column is not in the profile.
    """
    index = {c: j for j, c in enumerate(profile.columns)}
    wanted = columns if columns is not None else profile.columns
    unknown = [c for c in wanted if c not in index]
    if unknown:
        raise ValueError(f"columns not in the model's reference: {unknown[:10]}")
    current = current.reindex(columns=wanted)
    comparable = [c for c in wanted if reference[c].notna().any() and current[c].notna().any()]
    blocks = _blocks(reference, current, comparable, profile)
    log.info(
        "evidently drift: %d columns in %d blocks (%d workers), %d reference rows, %d current rows",
        len(comparable),
        len(blocks),
        workers,
        len(reference),
        len(current),
    )
    outcomes, cpu_s = _run_blocks(blocks, workers)
    verdicts = _verdicts(wanted, {o.column: o for o in outcomes}, profile)
    result = DriftResult(verdicts, rows=len(current), reference_rows=len(reference))
    return EvidentlyReport(result, _widgets(outcomes), cpu_s)
