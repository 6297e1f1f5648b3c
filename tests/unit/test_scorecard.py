"""Score and grade of a probability of default: points to double the odds, grades as PD bands, both configurable."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from credit_shared.scorecard import ScorecardSettings

pytestmark = pytest.mark.unit


def odds_to_pd(good_to_bad: float) -> float:
    return 1 / (1 + good_to_bad)


def test_the_base_odds_score_the_base_points_and_doubling_the_odds_adds_the_pdo() -> None:
    scale = ScorecardSettings()
    scores = scale.scores(np.array([odds_to_pd(50), odds_to_pd(100), odds_to_pd(25)]))
    assert scores.tolist() == [600, 620, 580]
    custom = ScorecardSettings(pdo=40, base_points=500, base_odds=10)
    assert custom.scores(np.array([odds_to_pd(10), odds_to_pd(20)])).tolist() == [500, 540]
    assert custom.factor == pytest.approx(40 / math.log(2))


def test_a_riskier_applicant_never_scores_higher_and_every_score_is_finite() -> None:
    p = np.array([0.0, 1e-9, 0.01, 0.08, 0.5, 0.99, 1.0])
    scores = ScorecardSettings().scores(p)
    assert np.all(np.diff(scores) <= 0)
    assert scores.dtype.kind == "i"
    assert (scores.min(), scores.max()) == (221, 753)


def test_grades_are_bands_of_probability_of_default() -> None:
    scale = ScorecardSettings()
    assert scale.grades(np.array([0.0, 0.0199, 0.02, 0.08, 0.137, 0.2, 0.9])) == ["A", "A", "B", "D", "E", "F", "G"]
    assert scale.bands()[0] == ("A", 0.0, 0.02)
    assert scale.bands()[-1] == ("G", 0.25, 1.0)
    two = ScorecardSettings(grade_bounds=[0.1], grade_labels=["low", "high"])
    assert two.grades(np.array([0.05, 0.1])) == ["low", "high"]


def test_the_scale_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDIT_SCORECARD_PDO", "50")
    monkeypatch.setenv("CREDIT_SCORECARD_GRADE_BOUNDS", "[0.05, 0.2]")
    monkeypatch.setenv("CREDIT_SCORECARD_GRADE_LABELS", '["1", "2", "3"]')
    scale = ScorecardSettings()
    assert scale.pdo == 50
    assert scale.grades(np.array([0.01, 0.1, 0.5])) == ["1", "2", "3"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"grade_bounds": [0.1, 0.05], "grade_labels": ["A", "B", "C"]}, "increase strictly"),
        ({"grade_bounds": [0.1, 1.5], "grade_labels": ["A", "B", "C"]}, "within \\(0, 1\\)"),
        ({"grade_bounds": [0.1], "grade_labels": ["A"]}, "1 bounds need 2 grade labels"),
        ({"grade_bounds": [0.1], "grade_labels": ["A", "A"]}, "distinct"),
        ({"pdo": 0}, "greater than 0"),
    ],
)
def test_an_impossible_scale_is_refused_with_the_reason(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ScorecardSettings(**values)
