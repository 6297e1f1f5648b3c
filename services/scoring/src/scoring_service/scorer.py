"""Scoring a batch of validated applications: features, probability, decision, reason codes.

Pure logic, no Kafka and no database: the handler gives it the applications, the served model and the clients'
history features, and publishes what it returns.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

import numpy as np
import pandas as pd

from credit_shared.contracts.envelope import utc_now
from credit_shared.contracts.loans import (
    Contribution,
    Decision,
    Explanation,
    LoanApplicationMessage,
    LoanDecision,
    ModelRef,
    Reason,
)
from credit_shared.homecredit.application import APPLICATION, ID

MAX_REASONS = 4


class ServedModel(Protocol):
    """What scoring needs from a registered model version."""

    @property
    def ref(self) -> ModelRef:
        """The registered version's identity."""
        ...

    @property
    def threshold(self) -> float:
        """Refuse at or above this probability."""
        ...

    @property
    def feature_names(self) -> list[str]:
        """The model's input columns, in order."""
        ...

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """Probability of default per row."""
        ...

    def contributions(self, features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Exact contributions to the log-odds per row and input feature, and the base value per row."""
        ...

    def label(self, feature: str) -> str:
        """Human-readable label of a feature."""
        ...

    def history(self, ids: Sequence[int]) -> pd.DataFrame:
        """History features of the clients (``SK_ID_CURR`` first), NaN for a client without history."""
        ...


@dataclass(frozen=True)
class Scored:
    """One scored application: the public decision and what the audit row needs."""

    decision: LoanDecision
    features: dict[str, Any]


FeatureBuilder = Callable[[pd.DataFrame], pd.DataFrame]
C = TypeVar("C", bound=Contribution)


def application_frame(applications: Sequence[LoanApplicationMessage]) -> pd.DataFrame:
    """The validated applications as a frame with every schema column and the Kaggle dtypes."""
    frame = pd.DataFrame([a.application for a in applications], columns=APPLICATION.names)
    numeric = [spec.name for spec in APPLICATION.columns if spec.kind.value != "category"]
    try:  # one conversion for the ~100 numeric columns (None becomes NaN), as per column below
        numbers = pd.DataFrame(frame[numeric].to_numpy(dtype="float64"), columns=numeric, index=frame.index)
    except (TypeError, ValueError):
        numbers = pd.DataFrame({c: pd.to_numeric(frame[c], errors="raise").astype("float64") for c in numeric})
    categories = {
        spec.name: pd.Categorical(frame[spec.name], categories=list(spec.categories))
        for spec in APPLICATION.columns
        if spec.kind.value == "category"
    }
    return pd.concat([numbers, pd.DataFrame(categories, index=frame.index)], axis=1)[APPLICATION.names]


def model_features(
    applications: Sequence[LoanApplicationMessage], model: ServedModel, build_request_features: FeatureBuilder
) -> pd.DataFrame:
    """The exact feature frame the model was trained on, for a batch of applications."""
    raw = application_frame(applications)
    request = build_request_features(raw).reset_index(drop=True)
    past = model.history([int(i) for i in raw[ID]]).reset_index(drop=True)
    combined = pd.concat([request, past.drop(columns=[ID], errors="ignore")], axis=1)
    missing = [c for c in model.feature_names if c not in combined.columns]
    if missing:
        combined = pd.concat([combined, pd.DataFrame(np.nan, index=combined.index, columns=missing)], axis=1)
    return combined[model.feature_names]


def row_contributions(
    model: ServedModel, features: pd.DataFrame, rows: np.ndarray
) -> Iterator[tuple[int, np.ndarray, float]]:
    """``(row, contribution of each model feature, base value)`` of each given row: the one computation behind
    reason codes and full explanations, so both describe the served model the same way."""
    if not len(rows):
        return
    contrib, base = model.contributions(features.iloc[rows])
    for k, row in enumerate(rows):
        yield int(row), contrib[k], float(base[k])


def contribution(kind: type[C], model: ServedModel, features: pd.DataFrame, *, row: int, j: int, value: float) -> C:
    """Feature ``j`` of ``row`` as a ``kind`` (a reason or a contribution): name, label, value, contribution."""
    name = model.feature_names[j]
    return kind(feature=name, label=model.label(name), value=_plain(features.iat[row, j]), contribution=float(value))


def reasons_for(
    model: ServedModel, features: pd.DataFrame, rows: np.ndarray, contributions: np.ndarray | None = None
) -> dict[int, list[Reason]]:
    """The (at most) four features that pushed each given row's probability of default up the most.

    ``contributions``: every row's contributions when the caller has them already (dataset scoring computes them
    all for its summary), so the refusals' ones are not computed a second time.
    """
    out: dict[int, list[Reason]] = {}
    computed = ((int(r), contributions[int(r)], 0.0) for r in rows) if contributions is not None else None
    for row, values, _base in computed or row_contributions(model, features, rows):
        top = np.argsort(-values)[:MAX_REASONS]
        out[row] = [
            contribution(Reason, model, features, row=row, j=int(j), value=values[j]) for j in top if values[j] > 0
        ]
    return out


def explain_batch(
    applications: Sequence[LoanApplicationMessage], model: ServedModel, build_request_features: FeatureBuilder
) -> list[Explanation]:
    """Every feature's contribution and the base value of each application, largest contribution first."""
    features = model_features(applications, model, build_request_features)
    probabilities = np.asarray(model.predict_proba(features), dtype=float)
    explanations: list[Explanation] = []
    for row, values, base in row_contributions(model, features, np.arange(len(applications))):
        application = applications[row]
        order = np.argsort(-np.abs(values), kind="stable")
        explanations.append(
            Explanation(
                request_id=application.request_id,
                sk_id_curr=application.sk_id_curr,
                probability=float(probabilities[row]),
                threshold=model.threshold,
                base_value=base,
                contributions=[
                    contribution(Contribution, model, features, row=row, j=int(j), value=values[j]) for j in order
                ],
                model=model.ref,
                correlation_id=application.correlation_id,
            )
        )
    return explanations


@dataclass(frozen=True)
class Decided:
    """The probability, decision and reason codes of each row of a feature frame."""

    probabilities: np.ndarray
    decisions: list[Decision]
    reasons: dict[int, list[Reason]]  # row -> reason codes, for the refused rows


def decide_frame(features: pd.DataFrame, model: ServedModel, contributions: np.ndarray | None = None) -> Decided:
    """Score and decide the rows of the model's feature frame, with reason codes for each refusal.

    The one decision rule of the stream and of dataset scoring: refused at or above the version's threshold.
    ``contributions``: every row's contributions, when the caller computed them already.
    """
    probabilities = np.asarray(model.predict_proba(features), dtype=float)
    refused = probabilities >= model.threshold
    decisions = [Decision.REFUSED if r else Decision.APPROVED for r in refused]
    return Decided(probabilities, decisions, reasons_for(model, features, np.flatnonzero(refused), contributions))


def score_batch(
    applications: Sequence[LoanApplicationMessage],
    received_at: Sequence[float],
    model: ServedModel,
    build_request_features: FeatureBuilder,
) -> list[Scored]:
    """Score, decide and explain a batch.

    Args:
        applications: validated applications.
        received_at: ``time.monotonic()`` when each was received, for the latency.
        model: the served model version.
        build_request_features: the shared application-level feature code.
    """
    features = model_features(applications, model, build_request_features)
    decided = decide_frame(features, model)
    now: datetime = utc_now()
    done = time.monotonic()
    scored: list[Scored] = []
    records = plain_records(features)
    for k, application in enumerate(applications):
        decision = LoanDecision(
            request_id=application.request_id,
            sk_id_curr=application.sk_id_curr,
            probability=float(decided.probabilities[k]),
            threshold=model.threshold,
            decision=decided.decisions[k],
            reasons=decided.reasons.get(k, []),
            model=model.ref,
            scored_at=now,
            latency_ms=max(0.0, (done - received_at[k]) * 1000),
            correlation_id=application.correlation_id,
        )
        scored.append(Scored(decision, records[k]))
    return scored


def plain_records(features: pd.DataFrame) -> list[dict[str, Any]]:
    """Each row as ``{feature: plain value}`` (what :func:`_plain` gives per value), built as one object array.

    About 800 columns per row make this a per-batch hot spot: the numeric columns are converted as one block
    (NaN to None, numpy numbers to floats), only the few categorical columns value by value.
    """
    names = [str(c) for c in features.columns]
    table = np.empty(features.shape, dtype=object)
    dtypes = list(features.dtypes)
    numeric = [
        j for j, t in enumerate(dtypes) if pd.api.types.is_numeric_dtype(t) and not isinstance(t, pd.CategoricalDtype)
    ]
    if numeric:
        values = features.iloc[:, numeric].to_numpy(dtype=float, na_value=np.nan)
        block = values.astype(object)
        block[np.isnan(values)] = None
        table[:, numeric] = block
    for j in sorted(set(range(len(names))) - set(numeric)):
        table[:, j] = [_plain(v) for v in features.iloc[:, j].tolist()]
    return [dict(zip(names, row, strict=True)) for row in table.tolist()]


def _plain(value: Any) -> float | str | None:
    """A JSON-friendly scalar: NaN becomes None, numpy numbers become floats."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return None if math.isnan(number) else number
