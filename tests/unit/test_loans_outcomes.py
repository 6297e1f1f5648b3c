"""`credit loans outcomes`: one outcome per decided request id whose truth is known, in the public contract."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from credit_local.outcomes_cli import known_truth, outcomes_of
from credit_local.synthetic import generate, labels
from credit_shared.contracts.outcomes import LoanOutcome, Outcome

pytestmark = pytest.mark.unit

OBSERVED = datetime(2027, 5, 31, tzinfo=UTC)


def test_one_outcome_per_decided_request_whose_truth_is_known() -> None:
    decisions = [("r-1", 1), ("r-2", 2), ("r-1", 1), ("r-3", 3)]  # r-1 decided twice (at least once); 3 unknown
    found = outcomes_of(decisions, {1: 1, 2: 0}, OBSERVED)
    assert [(o.request_id, o.outcome) for o in found] == [("r-1", Outcome.DEFAULTED), ("r-2", Outcome.REPAID)]
    assert all(LoanOutcome.model_validate_json(o.model_dump_json()) == o for o in found)


def test_the_synthetic_truth_is_the_generators_own_for_train_and_test(tmp_path: Path) -> None:
    generate(tmp_path / "raw" / "synthetic", 1_500, seed=4)
    truth = known_truth(tmp_path, None)
    assert truth == labels(1_500, seed=4)
    assert len(truth) == 1_500
    import pandas as pd

    train = pd.read_csv(tmp_path / "raw" / "synthetic" / "application_train.csv", usecols=["SK_ID_CURR", "TARGET"])
    assert all(truth[i] == t for i, t in zip(train["SK_ID_CURR"], train["TARGET"], strict=True))
    test = pd.read_csv(tmp_path / "raw" / "synthetic" / "application_test.csv", usecols=["SK_ID_CURR"])
    assert set(test["SK_ID_CURR"]) <= set(truth), "the production part's truth is known too"


def test_a_labels_file_gives_the_truth(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("SK_ID_CURR,TARGET,OTHER\n7,1,x\n8,0,y\n")
    assert known_truth(tmp_path, path) == {7: 1, 8: 0}
    assert known_truth(tmp_path / "nothing", None) == {}
    assert json.dumps(sorted(known_truth(tmp_path, path)))
