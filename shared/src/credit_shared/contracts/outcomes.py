"""The public contract of outcomes: what lenders publish on ``loan-outcomes`` once a loan's outcome is known.

Keys are the applicant id as a decimal string, like every loan message. One outcome per request id: a later one
replaces an earlier one. Changes are additive only.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from credit_shared.contracts.common import ApplicantId, RequestId


class Outcome(StrEnum):
    """What became of a decided loan."""

    DEFAULTED = "defaulted"
    REPAID = "repaid"


class LoanOutcome(BaseModel):
    """The observed outcome of the loan decided under ``request_id``, published on ``loan-outcomes``."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "request_id": "lo-2026-000001",
                    "sk_id_curr": 100001,
                    "outcome": "defaulted",
                    "observed_at": "2027-05-31T00:00:00Z",
                }
            ]
        },
    )

    request_id: RequestId = Field(
        description="The request id of the decided application",
        examples=["lo-2026-000001"],
    )
    sk_id_curr: ApplicantId = Field(examples=[100001])
    outcome: Outcome = Field(description="defaulted or repaid", examples=["defaulted"])
    observed_at: AwareDatetime = Field(description="When the outcome was observed (with a time zone)")

    @property
    def defaulted(self) -> bool:
        """True when the loan defaulted."""
        return self.outcome is Outcome.DEFAULTED


MAX_OUTCOME_BYTES: Final = 16 * 1024  # an outcome is about 120 bytes; a larger message is a dead letter
