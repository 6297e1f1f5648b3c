"""The compiled preprocessing gives scikit-learn's output bit for bit, and steps it cannot compile fall back."""

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from credit_shared.loaded_model import LoadedModel
from credit_shared.model_inputs import one_hot_name
from tests.unit.test_training_pipeline import FAST_LGBM, make_applicants, make_command
from training_service.pipeline import Columns, build_pipeline

pytestmark = pytest.mark.unit


def scored_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows scoring sends: missing values in every column, a level never seen in training."""
    rows = frame.head(60).copy()
    rows.loc[rows.index[:5], "EXT_SOURCE_2"] = np.nan
    suite = rows["NAME_TYPE_SUITE"].astype(object)
    suite.iloc[5:10] = None
    suite.iloc[10:12] = "Group of people"  # unseen in training
    rows["NAME_TYPE_SUITE"] = suite
    return rows


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"family": "logistic_regression", "params": {}},  # median imputation and scaling
        {"imbalance": "smote"},  # imputation for SMOTE, the sampler skipped when predicting
        {"imbalance": "random_under", "scaling": True},
    ],
    ids=["lightgbm", "logistic", "lightgbm-smote", "lightgbm-scaled"],
)
def test_compiled_preprocessing_equals_scikit_learn_bit_for_bit(extra: dict[str, Any]) -> None:
    frame, y = make_applicants()
    command = make_command(**extra)
    pipeline = build_pipeline(command, Columns.of(frame), command.params).fit(frame, y)
    model = LoadedModel(pipeline, 0.2, "m", "1", list(frame.columns), family=command.family.value)
    assert model.compiled_preprocess
    rows = scored_rows(frame)
    expected = pipeline.named_steps["preprocess"].transform(model.frame(rows)).to_numpy(dtype="float64")
    np.testing.assert_array_equal(model.prepare(rows).x, expected)
    # a linear model's dot product may differ in the last bit with the memory layout of its input
    expected_p = pipeline.predict_proba(model.frame(rows))[:, 1]
    np.testing.assert_allclose(model.predict_proba(rows), expected_p, rtol=0, atol=1e-15)


def test_contributions_from_one_preparation_match_a_fresh_one_for_a_subset_of_rows() -> None:
    frame, y = make_applicants()
    pipeline = build_pipeline(make_command(), Columns.of(frame), FAST_LGBM).fit(frame, y)
    model = LoadedModel(pipeline, 0.2, "m", "1", list(frame.columns), family="lightgbm")
    rows = scored_rows(frame)
    inputs = model.prepare(rows)
    picked = np.array([3, 7, 11, 40])
    once, base = model.contributions(inputs.take(picked))
    fresh, fresh_base = model.contributions(rows.iloc[picked])
    pd.testing.assert_frame_equal(once, fresh)
    np.testing.assert_array_equal(base, fresh_base)
    assert list(once.index) == list(rows.index[picked])


def test_a_step_it_cannot_compile_goes_through_scikit_learn() -> None:
    frame, y = make_applicants()
    columns = Columns.of(frame)
    pipeline = build_pipeline(make_command(), columns, FAST_LGBM)
    preprocess = ColumnTransformer(
        [
            ("numeric", FunctionTransformer(np.log1p, feature_names_out="one-to-one"), ["AMT_CREDIT"]),
            ("other", "passthrough", [c for c in columns.numeric if c != "AMT_CREDIT"]),
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False, feature_name_combiner=one_hot_name),
                columns.categorical,
            ),
        ],
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    pipeline.steps[0] = ("preprocess", preprocess)
    pipeline.fit(frame, y)
    model = LoadedModel(pipeline, 0.2, "m", "1", list(frame.columns), family="lightgbm")
    assert not model.compiled_preprocess
    rows = scored_rows(frame)
    np.testing.assert_array_equal(model.predict_proba(rows), pipeline.predict_proba(model.frame(rows))[:, 1])


def test_a_category_fitted_with_nan_as_a_level_is_encoded_as_scikit_learn_does() -> None:
    frame, y = make_applicants()
    frame["NAME_TYPE_SUITE"] = frame["NAME_TYPE_SUITE"].astype(object)
    frame.loc[frame.index[:30], "NAME_TYPE_SUITE"] = np.nan  # fitted on NaN, not None: its own level
    pipeline = build_pipeline(make_command(), Columns.of(frame), FAST_LGBM).fit(frame, y)
    model = LoadedModel(pipeline, 0.2, "m", "1", list(frame.columns), family="lightgbm")
    rows = scored_rows(frame)
    expected = pipeline.named_steps["preprocess"].transform(model.frame(rows)).to_numpy(dtype="float64")
    np.testing.assert_array_equal(model.prepare(rows).x, expected)
