"""Outcomes and realized performance on a real (SQLite) database: validation, held joins, replacement, figures."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sqlalchemy import Engine, func, select, update

from credit_shared import db
from credit_shared.contracts.loans import Decision, LoanDecision, ModelRef
from credit_shared.contracts.outcomes import MAX_OUTCOME_BYTES, LoanOutcome
from credit_shared.db.models import LoanOutcomeHistory, LoanOutcomeRecord, PerformanceDecision
from credit_shared.dead_lettering import Unusable
from credit_shared.performance_view import read_performance
from monitoring_service.outcomes import facts_of, parse_outcome
from monitoring_service.performance import VersionFacts, performance_report, realized_frame
from monitoring_service.performance_alerts import AlertRules
from monitoring_service.performance_runner import PerformanceRunner
from monitoring_service.performance_store import (
    Received,
    load_cells,
    load_realized,
    outcome_counts,
    record_decisions,
    record_outcomes,
)

pytestmark = pytest.mark.unit
START = datetime(2026, 10, 30, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    db.migrate(url)
    return db.make_engine(url)


def make_decision(i: int, probability: float, *, version: str = "1", day: int = 0) -> LoanDecision:
    return LoanDecision(
        request_id=f"r-{i}",
        sk_id_curr=100_000 + i,
        probability=probability,
        threshold=0.09,
        decision=Decision.REFUSED if probability >= 0.09 else Decision.APPROVED,
        grade="C",
        model=ModelRef(name="credit-default", version=version, alias="champion", run_id="run"),
        scored_at=START + timedelta(days=day),
        latency_ms=1.0,
    )


def make_outcome(i: int, defaulted: bool, *, days: int = 200) -> LoanOutcome:
    return LoanOutcome(
        request_id=f"r-{i}",
        sk_id_curr=100_000 + i,
        outcome="defaulted" if defaulted else "repaid",  # type: ignore[arg-type]
        observed_at=START + timedelta(days=days),
    )


def received(outcomes: list[LoanOutcome], first_offset: int = 0) -> list[Received]:
    return [Received(o, 0, first_offset + k, START) for k, o in enumerate(outcomes)]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe", "not_utf8"),
        (b"{not json", "not_json"),
        (b'["a"]', "not_an_object"),
        (b'{"sk_id_curr": 1, "outcome": "repaid", "observed_at": "2027-01-01T00:00:00Z"}', "missing_request_id"),
        (
            b'{"request_id": "x", "sk_id_curr": 1, "outcome": "late", "observed_at": "2027-01-01T00:00:00Z"}',
            "unknown_outcome",
        ),
        (b'{"request_id": "x", "sk_id_curr": 1, "outcome": "repaid", "observed_at": "2027-01-01"}', "invalid"),
        (b'{"request_id": "x", "pad": "' + b"a" * MAX_OUTCOME_BYTES + b'"}', "too_large"),
        (
            b'{"request_id": "x", "sk_id_curr": 1, "outcome": "repaid", "observed_at": "9999-12-31T23:00:00-05:00"}',
            "invalid",
        ),
    ],
)
def test_an_unusable_outcome_is_refused_with_its_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(Unusable) as caught:
        parse_outcome(raw)
    assert caught.value.reason == reason


def test_a_valid_outcome_is_read() -> None:
    raw = json.dumps({"request_id": "r-1", "sk_id_curr": 1, "outcome": "defaulted",
                      "observed_at": "2027-05-31T00:00:00Z", "extra": 1}).encode()  # fmt: skip
    assert parse_outcome(raw).defaulted


def test_an_outcome_before_its_decision_is_held_then_joined(engine: Engine) -> None:
    assert record_outcomes(engine, received([make_outcome(1, True)])) == 0
    assert outcome_counts(engine) == (1, 1)
    record_decisions(engine, facts_of(make_decision(1, 0.3), None))
    assert outcome_counts(engine) == (1, 0)
    assert [r[-1] for r in load_realized(engine)] == [True]


def test_an_outcome_recorded_while_its_decision_was_is_joined_by_the_sweep(engine: Engine) -> None:
    record_outcomes(engine, received([make_outcome(1, True)]))
    with engine.begin() as conn:  # the decision's transaction did not see the outcome, nor the outcome's the decision
        conn.execute(update(LoanOutcomeRecord).values(joined=False))
    record_decisions(engine, facts_of(make_decision(1, 0.3), None))
    with engine.begin() as conn:
        conn.execute(update(PerformanceDecision).values(defaulted=None))
        conn.execute(update(LoanOutcomeRecord).values(joined=False))
    assert outcome_counts(engine) == (1, 1)
    report = PerformanceRunner(engine, _no_publish, lambda name, v: None).recompute(START)
    assert (report.outcomes_held, report.versions[0].outcomes, report.versions[0].defaults) == (0, 1, 1)


def test_a_later_outcome_replaces_an_earlier_one_and_history_keeps_both(engine: Engine) -> None:
    record_decisions(engine, facts_of(make_decision(1, 0.3), None))
    record_outcomes(engine, received([make_outcome(1, True, days=100)]))
    record_outcomes(engine, received([make_outcome(1, False, days=150)], first_offset=1))
    record_outcomes(engine, received([make_outcome(1, True, days=120)], first_offset=2))  # observed earlier: kept aside
    record_outcomes(engine, received([make_outcome(1, True, days=120)], first_offset=2))  # redelivered: once
    assert [r[-1] for r in load_realized(engine)] == [False]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(LoanOutcomeHistory)).scalar_one() == 3


def test_a_decision_counts_once_however_often_it_arrives(engine: Engine) -> None:
    shadow = {"version": "2", "probability": 0.03, "threshold": 0.1, "decision": "approved"}
    facts = facts_of(make_decision(1, 0.3), shadow)
    assert record_decisions(engine, facts) == 2
    assert record_decisions(engine, facts) == 0
    cells = {(c.version, c.role): c for c in load_cells(engine)}
    assert cells["1", "champion"].decisions == 1
    assert cells["2", "challenger"].approved == 1
    assert cells["2", "challenger"].grade == "B"  # the shadow's grade comes from its own PD


def _simulate(engine: Engine, n: int = 600) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    champion = rng.beta(2, 18, size=n)
    challenger = np.clip(champion + rng.normal(0, 0.02, size=n), 0.001, 0.999)
    defaulted = rng.uniform(size=n) < champion
    for i in range(n):
        shadow = {"version": "2", "probability": float(challenger[i]), "threshold": 0.09,
                  "decision": "refused" if challenger[i] >= 0.09 else "approved"}  # fmt: skip
        record_decisions(engine, facts_of(make_decision(i, float(champion[i]), day=i % 60), shadow))
    record_outcomes(engine, received([make_outcome(i, bool(defaulted[i])) for i in range(0, n, 2)]))
    return champion, challenger, defaulted


def test_the_report_matches_a_direct_computation(engine: Engine) -> None:
    champion, challenger, defaulted = _simulate(engine)
    report = PerformanceRunner(engine, _no_publish, lambda name, v: 0.75).recompute(START)
    assert read_performance(engine) == report
    by = {(v.version, v.alias): v for v in report.versions}
    seen = np.arange(0, champion.size, 2)
    for (version, alias), p in (("1", "champion"), champion), (("2", "challenger"), challenger):
        v = by[version, alias]
        assert (v.decisions, v.outcomes) == (champion.size, seen.size)
        assert v.realized_auc == pytest.approx(roc_auc_score(defaulted[seen], p[seen]), abs=1e-12)
        assert v.observed_default_rate == pytest.approx(defaulted[seen].mean(), abs=1e-12)
        assert v.expected_default_rate == pytest.approx(p[seen].mean(), abs=1e-12)
        refused = p[seen] >= 0.09
        cost = (10 * (~refused & defaulted[seen]) + (refused & ~defaulted[seen])).mean()
        assert v.realized_cost_per_applicant == pytest.approx(cost, abs=1e-12)
        assert sum(b.outcomes for b in v.calibration) == seen.size
        assert len(v.calibration) == 10
    assert {g.vintage for g in report.vintages} == {"2026-10", "2026-11", "2026-12"}
    assert sum(g.decisions for g in report.grades if g.alias == "champion") == champion.size
    assert report.comparisons[0].applicants == seen.size


def test_alerts_say_what_to_do() -> None:
    realized = realized_frame([(f"r-{i}", "1", "champion", "2026-11", "C", 0.02, True, i % 3 == 0) for i in range(300)])
    from monitoring_service.performance import Cell

    cells = [Cell("1", "champion", "2026-11", "C", "credit-default", 300, 300, 6.0, 60.0, 27.0)]
    report = performance_report(cells, realized, {"1": VersionFacts(test_auc=0.75, psi=0.4)}, outcomes_received=300,
                                outcomes_held=0, now=START, rules=AlertRules())  # fmt: skip
    kinds = {a.kind: a for a in report.alerts}
    assert set(kinds) == {
        "expected_observed_out_of_band",
        "psi_above_act",
        "realized_auc_below_test",
    }  # one PD ranks nothing
    assert "retrain" in kinds["psi_above_act"].action
    assert kinds["psi_above_act"].command


async def _no_publish(*_: object) -> None:
    return None
