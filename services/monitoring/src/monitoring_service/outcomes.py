"""Reading one ``loan-outcomes`` message strictly (like applications), and the decision facts performance keeps.

What cannot be used (too large, not UTF-8, not JSON, not an object, no request id, an unknown outcome, any other
invalid field) raises :class:`~credit_shared.dead_lettering.Unusable` with its reason, for ``loan-outcomes.dlq``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from pydantic import ValidationError

from credit_shared.contracts.loans import Decision, LoanDecision
from credit_shared.contracts.outcomes import MAX_OUTCOME_BYTES, LoanOutcome, Outcome
from credit_shared.dead_lettering import Unusable, errors_in_words, read_object, text_field
from credit_shared.scorecard import scorecard
from monitoring_service.performance import expected_costs


def parse_outcome(raw: bytes) -> LoanOutcome:
    """Decode and validate one ``loan-outcomes`` message.

    Raises:
        Unusable: with the dead-letter reason and the problem in words.
    """
    data = read_object(raw, MAX_OUTCOME_BYTES)
    request_id = text_field(data.get("request_id"))
    if data.get("request_id") is None:
        raise Unusable("missing_request_id", "request_id is required")
    outcome = data.get("outcome")
    if outcome is not None and outcome not in {o.value for o in Outcome}:
        known = " or ".join(repr(o.value) for o in Outcome)
        raise Unusable("unknown_outcome", f"outcome must be {known}, got {str(outcome)[:64]!r}", request_id)
    try:
        outcome = LoanOutcome.model_validate(data)
        return outcome.model_copy(update={"observed_at": outcome.observed_at.astimezone(UTC)})
    except ValidationError as exc:
        raise Unusable("invalid", errors_in_words(exc), request_id) from exc
    except OverflowError as exc:  # 9999-12-31T23:00:00-05:00 is no time in UTC
        raise Unusable("invalid", "observed_at: out of range once in UTC", request_id) from exc


@dataclass(frozen=True)
class Fact:
    """One decision as one version made it (champion) or would have made it (challenger, in shadow)."""

    request_id: str
    model_version: str
    model_name: str
    role: str
    grade: str
    probability: float
    threshold: float
    approved: bool
    decided_at: datetime

    @property
    def vintage(self) -> str:
        """The month of the decision (UTC), YYYY-MM."""
        return self.decided_at.astimezone(UTC).strftime("%Y-%m")

    @property
    def expected_cost(self) -> float:
        """The cost this decision is expected to have from its calibrated PD alone (CREDIT.md's 10 / 1 costs)."""
        return float(expected_costs(np.asarray([self.approved]), np.asarray([self.probability]))[0])


def facts_of(decision: LoanDecision, shadow: Mapping[str, Any] | None) -> list[Fact]:
    """The champion's fact of a decision, and the challenger's when it was shadow-scored (its grade from its PD)."""
    facts = [
        Fact(
            decision.request_id,
            decision.model.version,
            decision.model.name,
            "champion",
            decision.grade or scorecard().grades(np.asarray([decision.probability]))[0],
            decision.probability,
            decision.threshold,
            decision.decision is Decision.APPROVED,
            decision.scored_at,
        )
    ]
    if shadow and shadow.get("version") and shadow.get("version") != decision.model.version:
        p = float(shadow["probability"])
        facts.append(
            Fact(
                decision.request_id,
                str(shadow["version"]),
                decision.model.name,
                "challenger",
                scorecard().grades(np.asarray([p]))[0],
                p,
                float(shadow["threshold"]),
                shadow.get("decision") == Decision.APPROVED.value,
                decision.scored_at,
            )
        )
    return facts
