"""Scoring a batch of validated applications: features, probability, decision, reason codes.

Pure logic, no Kafka: the handler gives it the applications and the served model, whose history lookup (a
collaborator it was built with) gives the clients' history features, and publishes what it returns. Each step runs
under its name (:func:`scoring_service.faults.step`), so a failure says where it happened.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from credit_shared.contracts.envelope import utc_now
from credit_shared.contracts.loans import (
    Contribution,
    Decision,
    Explanation,
    LoanApplicationMessage,
    LoanDecision,
    Reason,
)
from credit_shared.decisions_view import input_digests
from credit_shared.features.serving import CATEGORIES, FeatureBuilder, serving_features
from credit_shared.features.serving import request_columns as columns_of
from credit_shared.homecredit.application import APPLICATION
from credit_shared.model_inputs import ModelInput
from credit_shared.reasons import reason_index
from credit_shared.scorecard import scorecard
from scoring_service.faults import step
from scoring_service.served import ServedModel


@dataclass(frozen=True)
class Scored:
    """One scored application: the public decision and the digest of its exact model input (for the audit)."""

    decision: LoanDecision
    input_digest: bytes


C = TypeVar("C", bound=Contribution)


def request_columns(applications: Sequence[LoanApplicationMessage]) -> dict[str, np.ndarray]:
    """The validated applications as columns: numbers as float64 (None becomes NaN), categories as objects."""
    return columns_of([a.application for a in applications])


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
    the clients' history from the served model's history lookup (one lookup; NaN for a client without history).

    The lookup is by the exact applicant ids (an id beyond 2**53 would not survive the float columns).
    """
    rows = [a.application for a in applications]
    history = model.history([a.sk_id_curr for a in applications])
    return serving_features(rows, history, build_request_features)


def contribution_matrix(model: ServedModel, inputs: ModelInput) -> tuple[np.ndarray, np.ndarray]:
    """Each row's exact contributions (log-odds) aligned on the model's input features (0 for a feature that does
    not reach the classifier), and the base values."""
    frame, base = model.model.contributions(inputs)
    names = model.model.feature_names
    if list(frame.columns) == names:
        return frame.to_numpy(dtype=float), base
    return frame.reindex(columns=names, fill_value=0.0).to_numpy(dtype=float), base


def row_contributions(
    model: ServedModel, inputs: ModelInput, rows: np.ndarray
) -> Iterator[tuple[int, np.ndarray, float]]:
    """``(row, contribution of each model feature, base value)`` of each given row: the one computation behind
    reason codes and full explanations, so both describe the served model the same way."""
    if not len(rows):
        return
    contrib, base = contribution_matrix(model, inputs.take(rows))
    for k, row in enumerate(rows):
        yield int(row), contrib[k], float(base[k])


def contribution(kind: type[C], model: ServedModel, inputs: ModelInput, *, row: int, j: int, value: float) -> C:
    """Feature ``j`` of ``row`` as a ``kind`` (a reason or a contribution): name, label, value, contribution."""
    name = model.model.feature_names[j]
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
    names = model.model.feature_names
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
    inputs = model.model.prepare(model_features(applications, model, build_request_features))
    probabilities = np.asarray(model.model.predict_proba(inputs), dtype=float)
    explanations: list[Explanation] = []
    for row, values, base in row_contributions(model, inputs, np.arange(len(applications))):
        application = applications[row]
        order = np.argsort(-np.abs(values), kind="stable")
        explanations.append(
            Explanation(
                request_id=application.request_id,
                sk_id_curr=application.sk_id_curr,
                probability=float(probabilities[row]),
                threshold=model.model.threshold,
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
    with step("scoring"):
        probabilities = np.asarray(model.model.predict_proba(inputs), dtype=float)
        refused = probabilities >= model.model.threshold
        decisions = [Decision.REFUSED if r else Decision.APPROVED for r in refused]
    with step("explanation"):
        reasons = reasons_for(model, inputs, np.flatnonzero(refused), contributions)
    return Decided(probabilities, decisions, reasons)


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
    with step("features"):
        inputs = model.model.prepare(model_features(applications, model, build_request_features))
    decided = decide_frame(inputs, model)
    now: datetime = utc_now()
    done = time.monotonic()
    scored: list[Scored] = []
    with step("audit"):
        digests = input_digests(inputs.numbers, inputs.categories)
    points, grades = scorecard().scores(decided.probabilities), scorecard().grades(decided.probabilities)
    for k, application in enumerate(applications):
        decision = LoanDecision(
            request_id=application.request_id,
            sk_id_curr=application.sk_id_curr,
            probability=float(decided.probabilities[k]),
            threshold=model.model.threshold,
            decision=decided.decisions[k],
            score=int(points[k]),
            grade=grades[k],
            reasons=decided.reasons.get(k, []),
            model=model.ref,
            scored_at=now,
            latency_ms=max(0.0, (done - received_at[k]) * 1000),
            correlation_id=application.correlation_id,
        )
        scored.append(Scored(decision, digests[k]))
    return scored
