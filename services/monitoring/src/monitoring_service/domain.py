"""The monitoring service's own types: drift methods, per-column verdicts, severity rules.

Methods follow Evidently's names and default thresholds so the fast per-window check and the Evidently report agree:
``ks`` and ``chisquare`` are tests (drift when the p-value is *below* the threshold), ``wasserstein`` (normed by the
reference standard deviation), ``jensenshannon`` and ``psi`` are distances (drift when the score is *at or above*
the threshold).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

Kind = Literal["numerical", "categorical"]
Method = Literal["ks", "chisquare", "wasserstein", "jensenshannon", "psi"]
Severity = Literal["green", "orange", "red"]

DEFAULT_THRESHOLDS: Final[dict[str, float]] = {
    "ks": 0.05,
    "chisquare": 0.05,
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.1,
}
P_VALUE_METHODS: Final = frozenset({"ks", "chisquare"})
SEVERITY_ORDER: Final[dict[str, int]] = {"green": 0, "orange": 1, "red": 2}
SMALL_REFERENCE_ROWS: Final = 1000  # Evidently: tests up to this many reference rows, distances above
DISCRETE_MAX_VALUES: Final = 5  # Evidently: a numerical column with this few values is compared as categories


def default_method(kind: Kind, reference_rows: int, distinct_values: int) -> Method:
    """Evidently's default choice of method for a column.

    Args:
        kind: numerical or categorical.
        reference_rows: rows of the reference sample.
        distinct_values: distinct non-missing values of the column in the reference.

    Returns:
        ``ks`` / ``chisquare`` for a small reference, ``wasserstein`` / ``jensenshannon`` for a large one; a
        numerical column with at most five values is compared as categories.
    """
    discrete = kind == "categorical" or distinct_values <= DISCRETE_MAX_VALUES
    if reference_rows <= SMALL_REFERENCE_ROWS:
        return "chisquare" if discrete else "ks"
    return "jensenshannon" if discrete else "wasserstein"


def is_drifted(method: str, score: float | None, threshold: float) -> bool:
    """The verdict of a score: below the threshold for tests, at or above it for distances; no score, no drift."""
    if score is None:
        return False
    return score < threshold if method in P_VALUE_METHODS else score >= threshold


@dataclass(frozen=True, slots=True)
class ColumnDrift:
    """The verdict on one column."""

    column: str
    kind: Kind
    method: str
    threshold: float
    score: float | None
    drifted: bool


@dataclass(frozen=True, slots=True)
class DriftResult:
    """Per-column verdicts of a comparison and their share."""

    columns: tuple[ColumnDrift, ...]
    rows: int
    reference_rows: int

    @property
    def drifted(self) -> list[str]:
        """Names of the drifted columns, in column order."""
        return [c.column for c in self.columns if c.drifted]

    @property
    def drift_share(self) -> float:
        """Share of drifted columns (0 when there is no column)."""
        return len(self.drifted) / len(self.columns) if self.columns else 0.0

    def by_column(self) -> dict[str, ColumnDrift]:
        """The verdicts keyed by column name."""
        return {c.column: c for c in self.columns}


@dataclass(frozen=True, slots=True)
class SeverityRules:
    """How drift becomes green / orange / red: the share of the model's importance carried by the inputs that drifted
    materially.

    An absolute count of drifted columns alarms on the training population itself: a few hundred rows compared on
    ~500 columns drift by chance, and a column the model ignores counts as much as its first input. A verdict just
    past its threshold is what such noise looks like (the production part of the champion's own dataset: the external
    scores at 1.0-1.3 times the Wasserstein threshold), while a broken feed moves a column many times past it (the
    external scores pushed to the bottom: 17-23 times). So the severity is the importance-weighted share of the inputs
    whose drift is material: a distance at least ``material_factor`` times its threshold, a test's p-value below its
    threshold divided by ``10 ** material_factor`` (each input weighs its share of the summed absolute importance; with
    no importance known, every input weighs the same): orange from ``orange_share`` (0.2), red from ``red_share``
    (0.5). The ``important_top_k`` most important inputs that drifted at all are named.
    """

    orange_share: float = 0.2
    red_share: float = 0.5
    important_top_k: int = 10
    material_factor: float = 2.0

    def material(self, columns: Sequence[ColumnDrift]) -> list[str]:
        """The drifted columns whose score is far past their threshold (see the class)."""

        def far(c: ColumnDrift) -> bool:
            if c.score is None or not c.drifted:
                return False
            if c.method in P_VALUE_METHODS:
                return c.score < c.threshold / 10**self.material_factor
            return c.score >= c.threshold * self.material_factor

        return [c.column for c in columns if far(c)]

    def important(self, importances: Mapping[str, float]) -> list[str]:
        """The top-k features by importance (ties broken by name, so the choice is stable)."""
        ranked = sorted(importances.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
        return [name for name, _ in ranked[: self.important_top_k]]

    @staticmethod
    def weighted_share(drifted: Sequence[str], importances: Mapping[str, float], columns: Sequence[str]) -> float:
        """The share of the summed absolute importance of ``columns`` that the ``drifted`` ones carry (0 to 1)."""
        total = sum(abs(importances.get(c, 0.0)) for c in columns)
        if total <= 0:
            return len(set(drifted) & set(columns)) / len(columns) if columns else 0.0
        return sum(abs(importances.get(c, 0.0)) for c in set(drifted) & set(columns)) / total

    def severity(
        self,
        drifted: Sequence[str],
        importances: Mapping[str, float],
        columns: Sequence[str],
        material: Sequence[str] | None = None,
    ) -> tuple[Severity, list[str]]:
        """The severity of the ``material`` drift among ``columns`` (every drifted column when not given) and the
        important features among the ``drifted``."""
        important = set(self.important(importances))
        hit = [c for c in drifted if c in important]
        share = self.weighted_share(drifted if material is None else material, importances, columns)
        if share >= self.red_share:
            return "red", hit
        if share >= self.orange_share:
            return "orange", hit
        return "green", hit


def at_least(severity: str, level: str) -> bool:
    """True when ``severity`` is at or above ``level`` (green < orange < red)."""
    return SEVERITY_ORDER[severity] >= SEVERITY_ORDER[level]


@dataclass(frozen=True, slots=True)
class RankedDrift:
    """A drifted column with the model's importance of the feature (for ranking)."""

    drift: ColumnDrift
    importance: float | None = None


def rank_drifted(result: DriftResult, importances: Mapping[str, float], limit: int = 20) -> list[RankedDrift]:
    """Drifted columns, most important first (then by how far they moved), at most ``limit``."""

    def strength(c: ColumnDrift) -> float:
        if c.score is None:
            return 0.0
        return 1.0 - c.score if c.method in P_VALUE_METHODS else c.score

    ranked = sorted(
        (c for c in result.columns if c.drifted),
        key=lambda c: (-abs(importances.get(c.column, 0.0)), -strength(c), c.column),
    )
    return [RankedDrift(c, importances.get(c.column)) for c in ranked[:limit]]


@dataclass(slots=True)
class MethodChoice:
    """Which method each column type uses: ``None`` keeps Evidently's default choice."""

    numerical: Method | None = None
    categorical: Method | None = None
    thresholds: dict[str, float] = field(default_factory=dict)  # method -> threshold overriding the default

    def pick(self, kind: Kind, reference_rows: int, distinct_values: int) -> tuple[Method, float]:
        """The method and threshold for one column."""
        configured = self.numerical if kind == "numerical" else self.categorical
        method = configured or default_method(kind, reference_rows, distinct_values)
        if kind == "categorical" and method in {"ks", "wasserstein"}:
            raise ValueError(f"method {method!r} cannot compare categorical columns")
        return method, self.thresholds.get(method, DEFAULT_THRESHOLDS[method])
