import numpy as np
import pandas as pd
import pytest

from credit_shared.contracts.ingestion import Imputation
from ingestion_service.cleaning import Cleaner, CleaningParams, pairwise_pearson

pytestmark = pytest.mark.unit


def make_training(n: int = 2_000, seed: int = 1) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    y = pd.Series((rng.random(n) < 0.1).astype(int))
    signal = rng.normal(size=n) + y * 0.5
    frame = pd.DataFrame(
        {
            "signal": signal,
            "twin": signal * 2.0 + 1.0,  # perfectly correlated with signal
            "mostly_missing": np.where(rng.random(n) < 0.9, np.nan, 1.0),
            "constant": np.ones(n),
            "leak": y + rng.normal(scale=0.01, size=n),
            "noise": rng.normal(size=n),
            "kind": pd.Categorical(rng.choice(["a", "b"], size=n)),
        }
    )
    frame.loc[::7, "noise"] = np.nan
    return frame, y


def test_pairwise_pearson_matches_pandas_pairwise_complete_correlation() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 6))
    x[:, 1] += x[:, 0]
    x[rng.random(x.shape) < 0.2] = np.nan
    expected = pd.DataFrame(x).corr().to_numpy()
    np.testing.assert_allclose(pairwise_pearson(x), expected, atol=1e-10)


def test_cleaner_drops_each_kind_of_bad_feature_with_its_reason() -> None:
    features, y = make_training()
    cleaner = Cleaner(CleaningParams(max_missing_rate=0.5, max_correlation=0.95, leakage_auc=0.95)).fit(features, y)
    assert cleaner.kept_ == ["signal", "noise", "kind"]
    assert "missing in" in cleaner.dropped_["mostly_missing"]
    assert "variance" in cleaner.dropped_["constant"]
    assert "alone predicts the target" in cleaner.dropped_["leak"]
    assert "with signal" in cleaner.dropped_["twin"]


def test_guards_switched_off_keep_the_columns() -> None:
    features, y = make_training()
    params = CleaningParams(max_missing_rate=1.0, min_variance=None, leakage_auc=None, max_correlation=None)
    assert Cleaner(params).fit(features, y).kept_ == list(features.columns)


def test_imputation_is_fitted_on_training_rows_and_applied_unchanged() -> None:
    features, y = make_training()
    cleaner = Cleaner(CleaningParams(imputation=Imputation.MEDIAN, max_missing_rate=0.5)).fit(features, y)
    production = pd.DataFrame({c: [np.nan] for c in features.columns}).astype(features.dtypes.to_dict())
    filled = cleaner.transform(production)
    assert filled["noise"].iloc[0] == pytest.approx(features["noise"].median())
    assert filled["kind"].iloc[0] == features["kind"].mode().iloc[0]


def test_no_imputation_leaves_missing_values_for_the_model() -> None:
    features, y = make_training()
    cleaner = Cleaner(CleaningParams(max_missing_rate=0.5)).fit(features, y)
    assert cleaner.transform(features)["noise"].isna().any()
