"""Stability as credit teams read it: the PSI of the PD and the CSI of each feature against the training reference.

Both are the population stability index on the reference's bins (deciles of a numerical column, categories of a
categorical one), read with the usual bands: below 0.1 stable, up to 0.25 watch, above act. Small samples inflate
a PSI, so each comes with whether it exceeds what chance alone gives at that sample size
(:func:`~monitoring_service.statistics.psi_noise`): a high PSI on a small window is flagged but not significant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import pandas as pd

from monitoring_service.profile import ReferenceProfile, bin_shares, psi_from_shares
from monitoring_service.statistics import psi_noise

WATCH: Final = 0.1
ACT: Final = 0.25
Band = Literal["stable", "watch", "act"]


def band(value: float) -> Band:
    """The band of a PSI (0.1 / 0.25)."""
    return "stable" if value < WATCH else "watch" if value <= ACT else "act"


@dataclass(frozen=True)
class Stability:
    """The stability index of one column (or of the PD) in one window."""

    column: str
    index: float
    band: Band
    significant: bool  # above what chance gives for these sample sizes (99 %)
    rows: int

    def as_dict(self) -> dict[str, object]:
        """The JSON form stored in a report's summary."""
        return {"column": self.column, "index": self.index, "band": self.band, "significant": self.significant,
                "rows": self.rows}  # fmt: skip


def stability(column: str, reference: np.ndarray, current: np.ndarray, reference_rows: int, rows: int) -> Stability:
    """The stability of one column from its bin shares in the reference and its bin counts in the window."""
    shares = current / max(current.sum(), 1)
    value = psi_from_shares(reference, shares)
    noise = psi_noise(reference_rows, rows, int(reference.size))
    return Stability(column, value, band(value), value > noise, rows)


def csi(profile: ReferenceProfile, window: pd.DataFrame) -> list[Stability]:
    """The CSI of every column of the profile that has reference bins, in the window (missing values left out)."""
    out = []
    for column, kind in zip(profile.columns, profile.kinds, strict=True):
        if column not in window.columns:
            continue
        series = window[column]
        if kind == "numerical" and column in profile.edges and column not in profile.categories:
            values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
            finite = values[np.isfinite(values)]
            if finite.size == 0:
                continue
            counts = bin_shares(finite, np.asarray(profile.edges[column])) * finite.size
            reference = np.asarray(profile.edge_shares[column])
        elif column in profile.categories:
            labels = profile.categories[column]
            present = series.dropna()
            if present.empty:
                continue
            if kind == "numerical":
                present = pd.to_numeric(present, errors="coerce").dropna()
            found = present.value_counts()
            seen = found.reindex(labels, fill_value=0).to_numpy(dtype=np.float64)
            counts = np.append(seen, float(found.sum() - seen.sum()))  # values the reference never had
            reference = np.append(np.asarray(profile.category_shares[column]), 0.0)
        else:
            continue
        out.append(stability(column, reference, counts, profile.rows, int(counts.sum())))
    return out


def pd_stability(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> Stability | None:
    """The PSI of the PDs of a window against the reference PDs, on the reference's deciles."""
    reference, current = reference[np.isfinite(reference)], current[np.isfinite(current)]
    if reference.size == 0 or current.size == 0:
        return None
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    counts = bin_shares(current, edges) * current.size
    return stability("probability", bin_shares(reference, edges), counts, int(reference.size), int(current.size))
