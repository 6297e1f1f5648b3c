"""Loading registered versions: the names older pickles use still resolve."""

from __future__ import annotations

import pickle

import pytest

pytestmark = pytest.mark.unit


def test_versions_pickled_before_the_classifier_moved_still_resolve_it() -> None:
    from credit_shared import model_loading  # noqa: F401 - loading is what keeps the old name resolvable
    from credit_shared.boosting import EarlyStoppingLGBMClassifier

    old_reference = b"ccredit_shared.models\nEarlyStoppingLGBMClassifier\n."  # what a pre-move pickle holds
    assert pickle.loads(old_reference) is EarlyStoppingLGBMClassifier
