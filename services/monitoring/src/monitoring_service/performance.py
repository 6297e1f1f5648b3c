"""Realized performance from sufficient statistics and the decisions with an outcome (plain functions).

The decisions side of every figure (how many, approvals, mean PD, expected cost) comes from the per version /
vintage / grade :class:`Cell` sums, kept up to date as decisions land; the outcome side (observed default rate,
expected rate on the same decisions, AUC, cost, calibration) from the decisions with an outcome. A report over a
million decisions with 100,000 outcomes reads a few hundred cells and 100,000 rows (bench/performance.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import numpy as np
import pandas as pd

from credit_shared.contracts.performance import (
    CalibrationBin,
    Comparison,
    GradePerformance,
    PerformanceReport,
    VersionPerformance,
    VintagePerformance,
)
from credit_shared.evaluation import CostWeights
from monitoring_service.performance_alerts import AlertRules, performance_alerts
from monitoring_service.statistics import auc_delong, mean_interval, wilson

DECILES: Final = 10
COSTS: Final = CostWeights()  # CREDIT.md: a missed defaulter costs 10, a wrongly refused good client 1
REALIZED_COLUMNS: Final = ("request_id", "version", "role", "vintage", "grade", "probability", "approved", "defaulted")


@dataclass(frozen=True)
class Cell:
    """The sums of the decisions of one version (in one role), vintage and grade."""

    version: str
    role: str
    vintage: str
    grade: str
    model_name: str
    decisions: int
    approved: int
    pd_sum: float
    expected_cost_sum: float
    threshold_sum: float


@dataclass(frozen=True)
class VersionFacts:
    """What is known of a version besides its decisions: its test AUC, and its latest window's CBPE and PSI."""

    test_auc: float | None = None
    estimated_auc: float | None = None
    psi: float | None = None


def realized_frame(rows: Iterable[tuple[Any, ...]]) -> pd.DataFrame:
    """The decisions with an outcome as a frame of :data:`REALIZED_COLUMNS`."""
    frame = pd.DataFrame.from_records(list(rows), columns=list(REALIZED_COLUMNS))
    return frame.astype({"probability": "float64", "approved": "bool", "defaulted": "bool"})


def costs(approved: np.ndarray, defaulted: np.ndarray, weights: CostWeights = COSTS) -> np.ndarray:
    """The business cost of each decision: an approved defaulter costs ``fn``, a refused good client ``fp``."""
    return np.where(approved & defaulted, weights.fn, 0.0) + np.where(~approved & ~defaulted, weights.fp, 0.0)


def expected_costs(approved: np.ndarray, probability: np.ndarray, weights: CostWeights = COSTS) -> np.ndarray:
    """The cost each decision is expected to have from its calibrated PD alone: ``fn`` PD for an approval (it
    defaults with probability PD), ``fp`` (1 - PD) for a refusal."""
    p = np.asarray(probability, dtype=np.float64)
    return np.where(np.asarray(approved, dtype=bool), weights.fn * p, weights.fp * (1 - p))


def figures(cells: Sequence[Cell], realized: pd.DataFrame) -> dict[str, Any]:
    """The :class:`~credit_shared.contracts.performance.Figures` of some cells and their decisions with an outcome."""
    decisions = sum(c.decisions for c in cells)
    approved = sum(c.approved for c in cells)
    p = realized["probability"].to_numpy(dtype=np.float64)
    y = realized["defaulted"].to_numpy(dtype=bool)
    cost = costs(realized["approved"].to_numpy(dtype=bool), y)
    n, defaults = int(y.size), int(y.sum())
    observed = defaults / n if n else None
    expected = float(p.mean()) if n else None
    auc, auc_interval = auc_delong(p, y)
    return {
        "decisions": decisions,
        "approved": approved,
        "approval_rate": approved / decisions if decisions else None,
        "approval_rate_interval": wilson(approved, decisions),
        "predicted_default_rate": sum(c.pd_sum for c in cells) / decisions if decisions else None,
        "expected_cost_per_applicant": sum(c.expected_cost_sum for c in cells) / decisions if decisions else None,
        "outcomes": n,
        "defaults": defaults,
        "observed_default_rate": observed,
        "observed_default_rate_interval": wilson(defaults, n),
        "expected_default_rate": expected,
        "expected_observed_ratio": expected / observed if expected is not None and observed else None,
        "realized_auc": auc,
        "realized_auc_interval": auc_interval,
        "realized_cost_per_applicant": float(cost.mean()) if n else None,
        "realized_cost_interval": mean_interval(cost),
    }


def calibration(realized: pd.DataFrame, bins: int = DECILES) -> list[CalibrationBin]:
    """Expected against observed default rate by PD decile (equal counts, fewer bins for fewer outcomes)."""
    order = np.argsort(realized["probability"].to_numpy(dtype=np.float64), kind="stable")
    p = realized["probability"].to_numpy(dtype=np.float64)[order]
    y = realized["defaulted"].to_numpy(dtype=bool)[order]
    out = []
    for part in np.array_split(np.arange(p.size), min(bins, p.size)) if p.size else []:
        defaults, n = int(y[part].sum()), int(part.size)
        out.append(
            CalibrationBin(
                pd_low=float(p[part[0]]),
                pd_high=float(p[part[-1]]),
                outcomes=n,
                expected_default_rate=float(p[part].mean()),
                observed_default_rate=defaults / n,
                observed_interval=wilson(defaults, n) or (0.0, 1.0),
            )
        )
    return out


def compare(realized: pd.DataFrame, champion: str, challenger: str) -> Comparison | None:
    """Champion against challenger on the applicants both scored, with an outcome (a paired cost difference)."""
    a = realized[(realized["version"] == champion) & (realized["role"] == "champion")].set_index("request_id")
    b = realized[(realized["version"] == challenger) & (realized["role"] == "challenger")].set_index("request_id")
    both = a.index.intersection(b.index)
    if both.empty:
        return None
    a, b = a.loc[both], b.loc[both]
    y = a["defaulted"].to_numpy(dtype=bool)
    cost_a = costs(a["approved"].to_numpy(dtype=bool), y)
    cost_b = costs(b["approved"].to_numpy(dtype=bool), y)
    return Comparison(
        champion=champion,
        challenger=challenger,
        applicants=int(both.size),
        champion_cost_per_applicant=float(cost_a.mean()),
        challenger_cost_per_applicant=float(cost_b.mean()),
        cost_saving_per_applicant=float((cost_a - cost_b).mean()),
        cost_saving_interval=mean_interval(cost_a - cost_b),
        champion_auc=auc_delong(a["probability"].to_numpy(dtype=np.float64), y)[0],
        challenger_auc=auc_delong(b["probability"].to_numpy(dtype=np.float64), y)[0],
    )


def _threshold(cells: Sequence[Cell]) -> float | None:
    decisions = sum(c.decisions for c in cells)
    return sum(c.threshold_sum for c in cells) / decisions if decisions else None


def _groups(cells: Sequence[Cell], realized: pd.DataFrame, by: str) -> dict[tuple[str, str, str], Any]:
    """Cells and realized rows grouped by (version, role, ``by``) (``by`` empty: by version and role only)."""
    keys = ["version", "role", by] if by else ["version", "role"]
    grouped: dict[tuple[str, str, str], Any] = {}
    for c in cells:
        key = (c.version, c.role, getattr(c, by) if by else "")
        grouped.setdefault(key, ([], realized.iloc[0:0]))[0].append(c)
    for found, part in realized.groupby(keys, sort=False):
        k = (str(found[0]), str(found[1]), str(found[2]) if by else "")
        grouped[k] = (grouped.get(k, ([], None))[0], part)
    return grouped


def performance_report(
    cells: Sequence[Cell],
    realized: pd.DataFrame,
    facts: dict[str, VersionFacts],
    *,
    outcomes_received: int,
    outcomes_held: int,
    now: datetime,
    rules: AlertRules | None = None,
) -> PerformanceReport:
    """The realized performance of every version (champion and shadow challenger), vintage and grade, with alerts."""
    names = {c.version: c.model_name for c in cells}
    versions = []
    for (version, role, _), (group, rows) in sorted(_groups(cells, realized, "").items()):
        known = facts.get(version, VersionFacts())
        versions.append(
            VersionPerformance(
                version=version,
                model_name=names.get(version, ""),
                alias=role,
                threshold=_threshold(group),
                test_auc=known.test_auc,
                estimated_auc=known.estimated_auc,
                psi=known.psi,
                calibration=calibration(rows),
                **figures(group, rows),
            )
        )
    vintages = [
        VintagePerformance(version=v, alias=r, vintage=k, **figures(group, rows))  # type: ignore[arg-type]
        for (v, r, k), (group, rows) in sorted(_groups(cells, realized, "vintage").items())
    ]
    grades = [
        GradePerformance(version=v, alias=r, grade=k, **figures(group, rows))  # type: ignore[arg-type]
        for (v, r, k), (group, rows) in sorted(_groups(cells, realized, "grade").items())
    ]
    pairs = {(c.version, s.version) for c in cells if c.role == "champion" for s in cells if s.role == "challenger"}
    comparisons = [found for a, b in sorted(pairs) if (found := compare(realized, a, b)) is not None]
    return PerformanceReport(
        computed_at=now,
        outcomes_received=outcomes_received,
        outcomes_held=outcomes_held,
        versions=versions,
        vintages=vintages,
        grades=grades,
        comparisons=comparisons,
        alerts=performance_alerts(versions, comparisons, rules or AlertRules()),
    )
