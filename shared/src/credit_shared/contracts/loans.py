"""The public contract with lending applications (see ARCHITECTURE.md).

``loan-applications`` carries :class:`LoanApplicationMessage`, ``loan-decisions`` carries :class:`LoanDecision`,
``loan-applications.dlq`` carries :class:`DeadLetter`. Keys are the applicant id as a decimal string. Changes are
additive only; a breaking change is a new topic.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from credit_shared.contracts.applications import application_schema
from credit_shared.contracts.common import (
    MAX_ID,
    MAX_REQUEST_ID_LENGTH,
    VERSION_PATTERN,
    ApplicantId,
    RequestId,
    StorableText,
)
from credit_shared.contracts.dead_letters import DeadLetter, DeadLetterReason, DeadLetterStep

__all__ = ["DeadLetter", "DeadLetterReason", "DeadLetterStep"]  # the dead-letter contract, re-exported here
from credit_shared.homecredit.application import APPLICATION, ID
from credit_shared.topics import SCORING_REPLIES

MAX_MESSAGE_BYTES: Final = 1024 * 1024
MAX_CORRELATION_ID_LENGTH: Final = 128
REPLY_TOPICS: Final = (SCORING_REPLIES.name,)  # the reply addresses the scoring service answers on
MODEL_VERSION_PATTERN: Final = VERSION_PATTERN.strip("^$")  # a registered version number, as a request may name it
# ``reason`` of an error reply (request/reply) besides the dead-letter reasons
UNKNOWN_MODEL_VERSION: Final = "unknown_model_version"  # the named version is not registered, or archived
MODEL_UNAVAILABLE: Final = "model_unavailable"  # the named version could not be loaded now (registry down ...)
SCORING_FAILED: Final = "scoring_failed"  # the model raised on this request

EXAMPLE_APPLICATION: Final[dict[str, Any]] = {
    "SK_ID_CURR": 100001,
    "NAME_CONTRACT_TYPE": "Cash loans",
    "CODE_GENDER": "F",
    "AMT_INCOME_TOTAL": 135000.0,
    "AMT_CREDIT": 568800.0,
    "AMT_ANNUITY": 20560.5,
    "DAYS_BIRTH": -19241,
    "DAYS_EMPLOYED": -2329,
    "EXT_SOURCE_2": 0.7896543511,
    "EXT_SOURCE_3": 0.1595195405,
}


_APPLICANT_ID: Final = TypeAdapter(ApplicantId)


def _applicant_id(value: Any) -> Any:
    """``SK_ID_CURR``: an integer (the column's own rule) that is an :data:`ApplicantId`."""
    integral = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not integral or not float(value).is_integer():
        return APPLICATION.by_name[ID].check(value)  # missing, or not an integer: the column's own words
    try:
        return _APPLICANT_ID.validate_python(int(value))
    except ValidationError:
        raise ValueError(f"{ID} must be a positive integer, 1 to {MAX_ID}, got {value!r}") from None


def validate_application(raw: Any) -> dict[str, Any]:
    """Validate an application against the Home Credit schema.

    Unknown fields are dropped; missing and null columns become ``None``. ``SK_ID_CURR`` is required, an
    :data:`~credit_shared.contracts.common.ApplicantId`.

    Args:
        raw: the decoded ``application`` object.

    Returns:
        A dict with every schema column, in schema order.

    Raises:
        ValueError: naming every offending column.
    """
    if not isinstance(raw, dict):
        raise ValueError(f"application must be a JSON object, got {type(raw).__name__}")
    if raw.get(ID) is None:
        raise ValueError(f"{ID} is required")
    clean: dict[str, Any] = {}
    errors: list[str] = []
    for spec in APPLICATION.columns:
        try:
            clean[spec.name] = (_applicant_id if spec.name == ID else spec.check)(raw.get(spec.name))
        except ValueError as exc:
            errors.append(str(exc))
    if errors:
        raise ValueError("; ".join(errors))
    return clean


class LoanApplicationMessage(BaseModel):
    """A loan application, as lending applications publish it on ``loan-applications``."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [{"request_id": "lo-2026-000001", "application": EXAMPLE_APPLICATION}],
        },
    )

    request_id: RequestId = Field(
        description="Unique id of the request, chosen by the sender (1 to 64 characters, no control character); "
        "one decision per id (the first stands: the same id published again is not decided again)",
        examples=["lo-2026-000001"],
    )
    application: dict[str, Any] = Field(
        description=(
            "The columns of the Home Credit application_test table with their Kaggle names; SK_ID_CURR is "
            "required (a positive integer, at most 2^53 - 1), every other column may be missing or null (treated "
            "as missing); unknown fields are ignored"
        ),
        examples=[EXAMPLE_APPLICATION],
        json_schema_extra=application_schema(),
    )
    reply_to: str | None = Field(
        None,
        description="Topic the decision is also sent to (request/reply); internal clients only: the only reply "
        f"address is {SCORING_REPLIES.name}",
    )
    correlation_id: StorableText | None = Field(
        None, max_length=MAX_CORRELATION_ID_LENGTH, description="Echoed on the reply; internal clients only"
    )
    model_version: str | None = Field(
        None,
        description="Registered version number to decide with instead of the champion (an analyst's what-if); "
        "internal clients only: ignored without a reply address; such a decision goes to the reply address only "
        "(not on loan-decisions) and is audited with its version and no alias; a version that is not registered "
        "(or archived, or not a version number) gets an error reply",
        examples=["4"],
    )
    explain: Literal["full"] | None = Field(
        None,
        description="`full`: reply with every feature's contribution and the base value (an Explanation) instead "
        "of a decision; nothing is published on loan-decisions nor audited; internal clients only: ignored "
        "without a reply address (any other value is ignored too)",
    )

    @field_validator("model_version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> str | None:
        # never a reason to dead-letter an application: the field was an ignored extra before it existed
        return None if value is None else str(value)[:MAX_REQUEST_ID_LENGTH]

    @field_validator("reply_to")
    @classmethod
    def _known_reply_address(cls, value: str | None) -> str | None:
        # an unknown topic would hold the stream: the producer waits for its metadata until it times out
        if value is not None and value not in REPLY_TOPICS:
            raise ValueError(f"must be {' or '.join(REPLY_TOPICS)} (the reply address of internal clients)")
        return value

    @field_validator("explain", mode="before")
    @classmethod
    def _only_full(cls, value: Any) -> str | None:
        return "full" if value == "full" else None

    @property
    def replies_only(self) -> bool:
        """True for an internal request answered on its reply address alone (a named version or an explanation)."""
        return bool(self.reply_to) and (self.model_version is not None or self.explain is not None)

    @field_validator("application", mode="before")
    @classmethod
    def _validate_application(cls, value: Any) -> dict[str, Any]:
        return validate_application(value)

    @property
    def sk_id_curr(self) -> int:
        """The applicant id."""
        return int(self.application[ID])


class Decision(StrEnum):
    """The outcome of an application."""

    APPROVED = "approved"
    REFUSED = "refused"


class Contribution(BaseModel):
    """How much one feature's value moved the log-odds of default (an exact SHAP value)."""

    feature: str = Field(description="Feature name as the model sees it", examples=["EXT_SOURCE_3"])
    label: str = Field(description="Human-readable label", examples=["External credit score 3"])
    value: float | str | None = Field(description="The applicant's value of the feature", examples=[0.12])
    contribution: float = Field(description="Contribution to the log-odds of default (SHAP)", examples=[0.41])


class Reason(Contribution):
    """A factor group that pushed the probability of default up (an adverse-action reason).

    ``code``, ``group`` and ``text`` come from the platform's versioned reason catalogue; ``feature``, ``label``,
    ``value`` and ``contribution`` name the group's most telling feature. ``contribution`` is the group's summed
    contribution to the log-odds. The three catalogue fields were added later: a decision made before them has none.
    """

    code: str | None = Field(
        None, description="Stable code of the factor group in the reason catalogue", examples=["R01"]
    )
    group: str | None = Field(None, description="The factor group", examples=["External credit scores"])
    text: str | None = Field(
        None, description="The reason as an applicant reads it", examples=["External credit scores are low"]
    )


class ModelRef(BaseModel):
    """Which registered model version decided."""

    name: str = Field(description="Registered model name", examples=["credit-default"])
    version: str = Field(description="Registered model version", examples=["3"])
    alias: str | None = Field(description="Alias it was loaded by", examples=["champion"])
    run_id: str = Field(description="MLflow run that produced it", examples=["5b0c1f0e6b2e4b39a7d3c1f2e0a9b8c7"])


class LoanDecision(BaseModel):
    """The decision on one application, published on ``loan-decisions``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "request_id": "lo-2026-000001",
                    "sk_id_curr": 100001,
                    "probability": 0.137,
                    "threshold": 0.091,
                    "decision": "refused",
                    "score": 587,
                    "grade": "E",
                    "reasons": [
                        {
                            "code": "R01",
                            "group": "External credit scores",
                            "text": "External credit scores are low",
                            "feature": "EXT_SOURCE_3",
                            "label": "External credit score 3",
                            "value": 0.12,
                            "contribution": 0.41,
                        }
                    ],
                    "model": {
                        "name": "credit-default",
                        "version": "3",
                        "alias": "champion",
                        "run_id": "5b0c...",
                    },
                    "scored_at": "2026-11-24T10:00:00Z",
                    "latency_ms": 4.2,
                }
            ]
        }
    )

    request_id: str = Field(description="The request id of the application", examples=["lo-2026-000001"])
    sk_id_curr: int = Field(description="The applicant id", examples=[100001])
    probability: float = Field(ge=0, le=1, description="Calibrated probability of default", examples=[0.137])
    threshold: float = Field(ge=0, le=1, description="Threshold of the model version", examples=[0.091])
    decision: Decision = Field(description="refused when probability >= threshold", examples=["refused"])
    score: int | None = Field(
        None,
        description="Credit score derived from the probability (scorecard points, higher is safer)",
        examples=[587],
    )
    grade: str | None = Field(None, description="Risk grade: the band of probability of default", examples=["E"])
    reasons: list[Reason] = Field(
        default_factory=list,
        max_length=4,
        description="The (at most four) factor groups that pushed the probability up the most; filled for every "
        "refusal, never naming a protected attribute",
    )
    model: ModelRef = Field(description="The model version that decided")
    scored_at: datetime = Field(description="When the decision was made (UTC)")
    latency_ms: float = Field(ge=0, description="From receipt by the scoring service to decision", examples=[4.2])
    correlation_id: str | None = Field(None, description="Echo of the request's correlation id (request/reply)")


class Explanation(BaseModel):
    """Every feature's contribution to one application's score, and the base value (a reply to ``explain: full``).

    ``base_value + sum(contributions)`` is the log-odds of ``probability`` (a sigmoid-calibrated model's contributions
    are those of its calibrated log-odds); for an isotonic-calibrated model, the raw score (see docs/models.md).
    """

    request_id: str = Field(description="The request id of the explanation request")
    sk_id_curr: int = Field(description="The applicant id", examples=[100001])
    probability: float = Field(ge=0, le=1, description="Probability of default", examples=[0.137])
    threshold: float = Field(ge=0, le=1, description="Threshold of the model version", examples=[0.091])
    base_value: float = Field(description="Score of an average applicant (log-odds)", examples=[-2.4])
    contributions: list[Contribution] = Field(
        description="Every input feature's contribution (log-odds), largest in absolute value first"
    )
    model: ModelRef = Field(description="The model version explained (the one that decides, unless one was named)")
    correlation_id: str | None = Field(None, description="Echo of the request's correlation id")


def message_key(sk_id_curr: int) -> bytes:
    """The Kafka key of every loan message: the applicant id as a decimal string."""
    return str(int(sk_id_curr)).encode()


def encode(model: BaseModel) -> bytes:
    """Serialise a contract as UTF-8 JSON."""
    return model.model_dump_json().encode()


def decode_json(raw: bytes) -> Any:
    """Decode UTF-8 JSON bytes (raises ``UnicodeDecodeError`` or ``json.JSONDecodeError``)."""
    return json.loads(raw.decode("utf-8"))
