import numpy as np
import pytest

from credit_shared.evaluation import CostWeights, best_threshold, business_cost, cost_curve, evaluate

pytestmark = pytest.mark.unit


def test_cost_weighs_a_missed_defaulter_ten_times_a_refused_good_client() -> None:
    y = np.array([1, 0, 0, 0])
    assert business_cost(y, np.array([False, False, False, False])) == pytest.approx(10 / 4)
    assert business_cost(y, np.array([True, True, False, False])) == pytest.approx(1 / 4)


def test_cost_curve_equals_the_direct_cost_at_every_threshold() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.1
    p = np.clip(rng.random(500) * 0.5 + y * 0.3, 0, 1)
    thresholds = np.linspace(0, 1, 101)
    direct = [business_cost(y, p >= t, CostWeights(7, 2)) for t in thresholds]
    np.testing.assert_allclose(cost_curve(y, p, thresholds, CostWeights(7, 2)), direct)


def test_best_threshold_finds_the_known_optimum() -> None:
    # defaulters at 0.30 and above, good clients at 0.20 and below: any threshold in (0.20, 0.30] costs nothing
    y = np.array([0, 0, 0, 1, 1])
    p = np.array([0.05, 0.1, 0.2, 0.3, 0.9])
    threshold, cost = best_threshold(y, p)
    assert cost == 0
    assert 0.2 < threshold <= 0.3


def test_accepting_everybody_costs_ten_times_the_default_rate() -> None:
    y = (np.arange(100) < 8).astype(int)
    metrics = evaluate(y, np.zeros(100), threshold=0.5)
    assert metrics["business_cost"] == pytest.approx(0.8)
    assert metrics["refusal_rate"] == 0


def test_roc_auc_is_computed_on_probabilities_not_labels() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    assert evaluate(y, p, threshold=0.5)["roc_auc"] == pytest.approx(0.75)
