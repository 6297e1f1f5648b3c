"""Whether the decision stream works, and why not: what ``/ready`` answers and the metrics show.

Not ready when no model is served (and why: still loading, no champion alias, the registry unreadable), when the
same batch failed several times in a row (the last error is given), when applications wait and no batch was
committed for a while (lag without progress), or while the consumer is not connected.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from scoring_service.holder import ModelHolder
from scoring_service.metrics import ScoringMetrics


@dataclass
class StreamHealth:
    """The stream's own account of itself, updated by the stream loop."""

    metrics: ScoringMetrics
    failures_before_unready: int = 3
    stall_after_s: float = 60.0
    connected: bool = False
    consecutive_failures: int = 0
    last_error: str | None = None
    lag: int | None = None
    last_progress: float = field(default_factory=time.monotonic)

    def progressed(self) -> None:
        """A batch was committed."""
        self.consecutive_failures = 0
        self.last_error = None
        self.last_progress = time.monotonic()
        self.metrics.consecutive_failures.set(0)
        self.metrics.last_commit.set(time.time())

    def idle(self) -> None:
        """Nothing to read: waiting is progress enough."""
        if not self.lag:
            self.last_progress = time.monotonic()

    def failed(self, error: BaseException) -> None:
        """The batch in hand failed and will be read again."""
        self.consecutive_failures += 1
        self.last_error = f"{type(error).__name__}: {error}"[:500]
        self.metrics.failures.inc()
        self.metrics.consecutive_failures.set(self.consecutive_failures)

    def observe_lag(self, lag: int | None) -> None:
        """The messages not read yet, as the consumer last saw them."""
        self.lag = lag
        if lag is not None:
            self.metrics.lag.set(lag)

    def problems(self) -> list[str]:
        """Why the stream is not working now (empty when it is)."""
        out: list[str] = []
        if not self.connected:
            out.append("not connected to loan-applications" + (f" ({self.last_error})" if self.last_error else ""))
        if self.consecutive_failures >= self.failures_before_unready:
            out.append(f"the same batch failed {self.consecutive_failures} times in a row: {self.last_error}")
        stalled = time.monotonic() - self.last_progress
        if self.lag and stalled > self.stall_after_s:
            out.append(f"{self.lag} application(s) waiting and no batch committed for {stalled:.0f} s")
        return out


def model_state(holder: ModelHolder) -> tuple[bool, str]:
    """``(served, what)``: whether a champion is served, and in words what is (or why not)."""
    champion = holder.served.champion
    if champion is not None:
        challenger = holder.served.challenger
        shadow = f", challenger v{challenger.ref.version} in shadow" if challenger else ""
        return True, f"serving {champion.ref.name} v{champion.ref.version} (champion){shadow}"
    if holder.last_error:
        return False, f"no model loaded: the registry cannot be read ({holder.last_error})"
    if not holder.checked:
        return False, "no model loaded yet: loading the champion from the registry"
    return False, "no model loaded: no registered version carries the champion alias"


def readiness(health: StreamHealth, holder: ModelHolder) -> dict[str, tuple[bool, str]]:
    """The scoring checks of ``/ready`` (model, stream), each with why it fails."""
    served, what = model_state(holder)
    problems = health.problems()
    health.metrics.ready.set(1.0 if served and not problems else 0.0)
    return {"model": (served, what), "stream": (not problems, "; ".join(problems))}
