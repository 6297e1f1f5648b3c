"""Windows of served traffic: decisions grouped per model version, closed every N decisions or T seconds."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from credit_shared.contracts.loans import Decision, LoanDecision


@dataclass(frozen=True, slots=True)
class Served:
    """What monitoring keeps of one decision until its window is compared."""

    request_id: str
    probability: float
    threshold: float
    approved: bool
    decided_at: datetime
    attempts: int = 0  # times its features were looked for in the audit table without success

    @classmethod
    def of(cls, decision: LoanDecision) -> Served:
        """The served decision of a ``loan-decisions`` message."""
        return cls(
            decision.request_id,
            decision.probability,
            decision.threshold,
            decision.decision is Decision.APPROVED,
            decision.scored_at,
        )


@dataclass(slots=True)
class Window:
    """The decisions of one model version to compare with its reference."""

    model_name: str
    model_version: str
    decisions: list[Served] = field(default_factory=list)
    opened_at: float = 0.0  # monotonic time of the first decision

    @property
    def start(self) -> datetime:
        """Time of the earliest decision."""
        return min(d.decided_at for d in self.decisions)

    @property
    def end(self) -> datetime:
        """Time of the latest decision."""
        return max(d.decided_at for d in self.decisions)


class WindowBuffer:
    """Accumulates decisions per model version and closes windows.

    A window closes when it holds ``size`` decisions, or when its first decision is ``max_age_s`` old and it holds
    at least ``min_rows`` (a smaller window carries on until it has enough rows to be compared meaningfully).
    """

    def __init__(self, size: int = 1000, max_age_s: float | None = 3600.0, min_rows: int = 100) -> None:
        if size < 1 or min_rows < 1:
            raise ValueError("window size and minimum rows must be positive")
        self.size = size
        self.max_age_s = max_age_s
        self.min_rows = min(min_rows, size)
        self._open: dict[tuple[str, str], Window] = {}

    def add(self, model_name: str, model_version: str, served: Served, now: float) -> list[Window]:
        """Add one decision; returns the window it closed, if any."""
        key = (model_name, model_version)
        window = self._open.get(key)
        if window is None:
            window = self._open[key] = Window(model_name, model_version, opened_at=now)
        window.decisions.append(served)
        if len(window.decisions) >= self.size:
            del self._open[key]
            return [window]
        return []

    def due(self, now: float) -> list[Window]:
        """Windows closed by age."""
        if self.max_age_s is None:
            return []
        closed = [
            key
            for key, w in self._open.items()
            if now - w.opened_at >= self.max_age_s and len(w.decisions) >= self.min_rows
        ]
        return [self._open.pop(key) for key in closed]

    def pending(self) -> int:
        """Decisions waiting in open windows."""
        return sum(len(w.decisions) for w in self._open.values())
