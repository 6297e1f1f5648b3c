"""Credit score and risk grade of a probability of default, as scorecards and master scales express risk.

Score: points scaled so that every ``pdo`` points double the odds of repaying (good:bad), ``base_points`` at
``base_odds``: ``score = offset + factor * ln((1 - p) / p)`` with ``factor = pdo / ln 2`` and
``offset = base_points - factor * ln(base_odds)``; higher is safer. The defaults (600 points at 50:1, 20 points to
double the odds) are a common convention. Probabilities are clipped to ``[1e-4, 1 - 1e-4]`` first, so a score is
always finite (between 221 and 753 with the defaults).

Grade: the band of probability of default, ``A`` the safest; band ``k`` holds ``bounds[k-1] <= p < bounds[k]``.

Both are configured once for the platform (prefix ``CREDIT_SCORECARD_``): scoring stamps every decision with them
and monitoring groups outcomes by grade, so the two must read the same scale.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache
from typing import Final

import numpy as np
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

CLIP: Final = 1e-4


class ScorecardSettings(BaseSettings):
    """The points scale and the PD bands of the grades (prefix ``CREDIT_SCORECARD_``)."""

    model_config = SettingsConfigDict(env_prefix="CREDIT_SCORECARD_", extra="ignore")

    pdo: float = Field(20.0, gt=0, le=1000, description="Points that double the odds of repaying")
    base_points: float = Field(600.0, ge=0, le=10_000, description="Score at the base odds")
    base_odds: float = Field(50.0, gt=0, le=1e6, description="Odds of repaying (good:bad) that score base_points")
    grade_bounds: list[float] = Field(
        default_factory=lambda: [0.02, 0.04, 0.07, 0.10, 0.15, 0.25],
        min_length=1,
        max_length=25,
        description="Upper PD bound of each grade but the last, increasing, in (0, 1)",
    )
    grade_labels: list[str] = Field(
        default_factory=lambda: ["A", "B", "C", "D", "E", "F", "G"],
        description="Grade names, safest first: one more than grade_bounds",
    )

    @model_validator(mode="after")
    def _bands(self) -> ScorecardSettings:
        bounds = self.grade_bounds
        if any(not 0 < b < 1 for b in bounds) or any(b >= c for b, c in itertools.pairwise(bounds)):
            raise ValueError(f"grade_bounds must increase strictly within (0, 1), got {bounds}")
        if len(self.grade_labels) != len(bounds) + 1:
            raise ValueError(f"{len(bounds)} bounds need {len(bounds) + 1} grade labels, got {self.grade_labels}")
        if len(set(self.grade_labels)) != len(self.grade_labels) or any(not g.strip() for g in self.grade_labels):
            raise ValueError(f"grade labels must be distinct and not blank, got {self.grade_labels}")
        return self

    @property
    def factor(self) -> float:
        """Points per unit of log-odds."""
        return self.pdo / math.log(2)

    @property
    def offset(self) -> float:
        """Score at even odds."""
        return self.base_points - self.factor * math.log(self.base_odds)

    def scores(self, probability: np.ndarray) -> np.ndarray:
        """The integer score of each probability of default."""
        p = np.clip(np.asarray(probability, dtype=float), CLIP, 1 - CLIP)
        points: np.ndarray = np.rint(self.offset + self.factor * (np.log1p(-p) - np.log(p))).astype("int64")
        return points

    def grades(self, probability: np.ndarray) -> list[str]:
        """The grade of each probability of default."""
        bands = np.searchsorted(np.asarray(self.grade_bounds), np.asarray(probability, dtype=float), side="right")
        return [self.grade_labels[int(k)] for k in bands]

    def bands(self) -> list[tuple[str, float, float]]:
        """Each grade with its PD range ``[low, high)``."""
        edges = [0.0, *self.grade_bounds, 1.0]
        return [(g, edges[k], edges[k + 1]) for k, g in enumerate(self.grade_labels)]


@lru_cache
def scorecard() -> ScorecardSettings:
    """The platform's scale, read once from the environment."""
    return ScorecardSettings()
