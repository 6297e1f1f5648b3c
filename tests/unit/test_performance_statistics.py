"""The statistics of realized performance: AUC and its DeLong interval, Wilson, CBPE against simulated labels, PSI."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from monitoring_service.stability import band, pd_stability
from monitoring_service.statistics import auc_delong, cbpe_auc, psi_noise, wilson

pytestmark = pytest.mark.unit


def test_realized_auc_is_scikit_learns_with_ties() -> None:
    rng = np.random.default_rng(0)
    scores = np.round(rng.uniform(size=2000), 2)  # many ties
    labels = rng.uniform(size=2000) < scores * 0.3
    auc, interval = auc_delong(scores, labels)
    assert auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert interval is not None
    assert interval[0] < auc < interval[1]


def test_delong_interval_covers_the_true_auc_about_95_times_in_100() -> None:
    rng = np.random.default_rng(1)
    truth = roc_auc_score(*_population(rng, 200_000))
    covered = 0
    for _ in range(200):
        labels, scores = _population(rng, 600)
        _, (low, high) = auc_delong(scores, labels)  # type: ignore[misc]
        covered += low <= truth <= high
    assert 0.90 <= covered / 200 <= 0.99


def _population(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.uniform(size=n) < 0.2
    return labels, rng.normal(size=n) + labels


def test_auc_is_undefined_with_one_class() -> None:
    assert auc_delong(np.array([0.1, 0.2]), np.array([False, False])) == (None, None)


def test_wilson_interval_of_known_values() -> None:
    low, high = wilson(8, 100)  # type: ignore[misc]
    assert (round(low, 4), round(high, 4)) == (0.0411, 0.1500)
    assert wilson(0, 10)[0] == 0.0  # type: ignore[index]
    assert wilson(0, 0) is None


def test_cbpe_estimates_the_auc_of_labels_drawn_from_calibrated_pds() -> None:
    rng = np.random.default_rng(2)
    p = 1 / (1 + np.exp(-(rng.normal(size=5000) * 1.2 - 2.5)))  # calibrated by construction, ~10 % defaults
    estimate = cbpe_auc(p)
    realized = [roc_auc_score(rng.uniform(size=p.size) < p, p) for _ in range(200)]
    assert estimate == pytest.approx(np.mean(realized), abs=0.005)
    assert cbpe_auc(np.full(10, 0.1)) is None


def test_psi_bands_and_the_sample_size_aware_flag() -> None:
    assert [band(0.05), band(0.2), band(0.3)] == ["stable", "watch", "act"]
    rng = np.random.default_rng(3)
    reference = rng.beta(2, 20, size=20_000)
    small = pd_stability(reference, rng.beta(2, 20, size=30))
    moved = pd_stability(reference, rng.beta(4, 20, size=5000))
    assert small is not None
    assert not small.significant
    assert moved is not None
    assert moved.band == "act"
    assert moved.significant
    assert psi_noise(20_000, 30, 10) > psi_noise(20_000, 5000, 10)


def test_csi_flags_the_shifted_columns_of_a_window() -> None:
    from monitoring_service.profile import ReferenceProfile
    from monitoring_service.stability import csi
    from monitoring_service.synthetic import shift, synthetic_frame, synthetic_kinds

    kinds = synthetic_kinds(numerical=12, categorical=3)
    profile = ReferenceProfile.build(synthetic_frame(5000, kinds, seed=1), kinds)
    moved = ["NUM_000", "NUM_003"]
    found = {c.column: c for c in csi(profile, shift(synthetic_frame(3000, kinds, seed=2), moved, kinds))}
    assert set(found) == set(kinds)
    assert {c for c, s in found.items() if s.band == "act" and s.significant} == set(moved)
