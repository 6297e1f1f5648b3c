"""Scoring a batch of validated applications: features, probability, decision, reason codes.

Pure logic, no Kafka and no database: the handler gives it the applications, the served model and the clients'
history features, and publishes what it returns.
"""

from __future__ import annotations

import functools
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
from credit_shared.features.application import ApplicationParts
from credit_shared.homecredit.application import APPLICATION, ID
from credit_shared.models import Columns, ModelInput
from credit_shared.reasons import reason_index
from credit_shared.scorecard import scorecard


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

    def prepare(self, features: pd.DataFrame | Columns) -> ModelInput:
        """The rows as the model's classifier takes them, computed once for predicting and explaining."""
        ...

    def predict_proba(self, inputs: ModelInput) -> np.ndarray:
        """Probability of default per row."""
        ...

    def contributions(self, inputs: ModelInput) -> tuple[np.ndarray, np.ndarray]:
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


FeatureBuilder = Callable[[Columns], ApplicationParts]
C = TypeVar("C", bound=Contribution)
NUMERIC = [spec.name for spec in APPLICATION.columns if spec.kind.value != "category"]
CATEGORIES = {spec.name: list(spec.categories) for spec in APPLICATION.columns if spec.kind.value == "category"}


def request_columns(applications: Sequence[LoanApplicationMessage]) -> dict[str, np.ndarray]:
    """The validated applications as columns: numbers as float64 (None becomes NaN), categories as objects.

    The numbers are converted as one block: a column at a time costs more than scoring a small batch.
    """
    rows = [a.application for a in applications]
    try:
        numbers = np.array([[row.get(c) for c in NUMERIC] for row in rows], dtype="float64").reshape(len(rows), -1)
    except (TypeError, ValueError):  # not all numbers: convert column by column, naming the one at fault
        numbers = np.column_stack(
            [pd.to_numeric(pd.Series([row.get(c) for row in rows]), errors="raise").astype("float64") for c in NUMERIC]
        )  # fmt: skip
    columns = {c: numbers[:, k] for k, c in enumerate(NUMERIC)}
    for name in CATEGORIES:
        columns[name] = np.array([row.get(name) for row in rows], dtype=object)
    return columns


def application_frame(applications: Sequence[LoanApplicationMessage]) -> pd.DataFrame:
    """The validated applications as a frame with every schema column and the Kaggle dtypes."""
    columns: dict[str, Any] = request_columns(applications)
    for name, levels in CATEGORIES.items():
        columns[name] = pd.Categorical(columns[name], categories=levels)
    return pd.DataFrame(columns)[APPLICATION.names]


def model_features(
    applications: Sequence[LoanApplicationMessage], model: ServedModel, build_request_features: FeatureBuilder
) -> dict[str, np.ndarray]:
    """The features of a batch of applications by name: the application-level ones from the shared feature code,
    the clients' history from the online feature table (one query; NaN for a client without history)."""
    ids, numbers, categories = build_request_features(request_columns(applications))
    past = model.history([int(i) for i in ids])
    history = past.drop(columns=[ID], errors="ignore")
    matrix = history.to_numpy(dtype="float64")
    out: dict[str, np.ndarray] = {str(c): matrix[:, k] for k, c in enumerate(history.columns)}
    out.update(numbers)
    out.update({name: np.asarray(values, dtype=object) for name, values in categories.items()})
    return out


def row_contributions(
    model: ServedModel, inputs: ModelInput, rows: np.ndarray
) -> Iterator[tuple[int, np.ndarray, float]]:
    """``(row, contribution of each model feature, base value)`` of each given row: the one computation behind
    reason codes and full explanations, so both describe the served model the same way."""
    if not len(rows):
        return
    contrib, base = model.contributions(inputs.take(rows))
    for k, row in enumerate(rows):
        yield int(row), contrib[k], float(base[k])


def contribution(kind: type[C], model: ServedModel, inputs: ModelInput, *, row: int, j: int, value: float) -> C:
    """Feature ``j`` of ``row`` as a ``kind`` (a reason or a contribution): name, label, value, contribution."""
    name = model.feature_names[j]
    return kind(feature=name, label=model.label(name), value=inputs.value(row, j), contribution=float(value))


def reasons_for(
    model: ServedModel, inputs: ModelInput, rows: np.ndarray, contributions: np.ndarray | None = None
) -> dict[int, list[Reason]]:
    """The (at most four) factor groups of the reason catalogue whose summed contributions pushed each given row's
    probability of default up the most, each with its most telling feature (never a protected attribute).

    ``contributions``: every row's contributions when the caller has them already (dataset scoring computes them
    all for its summary), so the refusals' ones are not computed a second time.
    """
    out: dict[int, list[Reason]] = {}
    names = model.feature_names
    index = reason_index(tuple(names))
    computed = ((int(r), contributions[int(r)], 0.0) for r in rows) if contributions is not None else None
    for row, values, _base in computed or row_contributions(model, inputs, rows):
        out[row] = index.reasons(
            values, label=lambda j: model.label(names[j]), value=functools.partial(inputs.value, row), names=names
        )
    return out


def explain_batch(
    applications: Sequence[LoanApplicationMessage], model: ServedModel, build_request_features: FeatureBuilder
) -> list[Explanation]:
    """Every feature's contribution and the base value of each application, largest contribution first."""
    inputs = model.prepare(model_features(applications, model, build_request_features))
    probabilities = np.asarray(model.predict_proba(inputs), dtype=float)
    explanations: list[Explanation] = []
    for row, values, base in row_contributions(model, inputs, np.arange(len(applications))):
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
                    contribution(Contribution, model, inputs, row=row, j=int(j), value=values[j]) for j in order
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


def decide_frame(inputs: ModelInput, model: ServedModel, contributions: np.ndarray | None = None) -> Decided:
    """Score and decide the prepared rows of the model's feature frame, with reason codes for each refusal.

    The one decision rule of the stream and of dataset scoring: refused at or above the version's threshold.
    ``contributions``: every row's contributions, when the caller computed them already.
    """
    probabilities = np.asarray(model.predict_proba(inputs), dtype=float)
    refused = probabilities >= model.threshold
    decisions = [Decision.REFUSED if r else Decision.APPROVED for r in refused]
    return Decided(probabilities, decisions, reasons_for(model, inputs, np.flatnonzero(refused), contributions))


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
    inputs = model.prepare(model_features(applications, model, build_request_features))
    decided = decide_frame(inputs, model)
    now: datetime = utc_now()
    done = time.monotonic()
    scored: list[Scored] = []
    records = inputs.records()
    points, grades = scorecard().scores(decided.probabilities), scorecard().grades(decided.probabilities)
    for k, application in enumerate(applications):
        decision = LoanDecision(
            request_id=application.request_id,
            sk_id_curr=application.sk_id_curr,
            probability=float(decided.probabilities[k]),
            threshold=model.threshold,
            decision=decided.decisions[k],
            score=int(points[k]),
            grade=grades[k],
            reasons=decided.reasons.get(k, []),
            model=model.ref,
            scored_at=now,
            latency_ms=max(0.0, (done - received_at[k]) * 1000),
            correlation_id=application.correlation_id,
        )
        scored.append(Scored(decision, records[k]))
    return scored
