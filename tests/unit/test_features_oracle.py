"""The DuckDB feature engine equals the plain-pandas oracle on the real Home Credit rows (to 1e-9 relative)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from credit_shared.features import FEATURE_COLUMNS, HISTORY_COLUMNS
from credit_shared.features.build import build_features
from credit_shared.features.history import history_features
from credit_shared.homecredit.application import ID

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / ".." / "shared" / "data" / "home-credit"
JOINABLE = SAMPLE / "joinable_capstone"
UNJOINED = SAMPLE / "unjoined"


def load_oracle() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pandas_features", ROOT / "tests" / "oracle" / "pandas_features.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


oracle = load_oracle()


def require(folder: Path) -> Path:
    if not folder.is_dir():
        pytest.skip(f"real Home Credit sample not found at {folder.resolve()} (see the shared data README)")
    return folder


def assert_frames_match(ours: pd.DataFrame, reference: pd.DataFrame) -> None:
    assert set(ours.columns) == set(reference.columns)
    mismatched = []
    for column in ours.columns:
        mine, theirs = ours[column], reference[column]
        if isinstance(mine.dtype, pd.CategoricalDtype):
            assert mine.equals(theirs), column
            continue
        a, b = mine.to_numpy(dtype="float64"), theirs.to_numpy(dtype="float64")
        if not np.isclose(a, b, rtol=1e-9, atol=0.0, equal_nan=True).all():
            mismatched.append(column)
    assert mismatched == []


def test_every_feature_equals_the_pandas_oracle_on_the_joinable_sample() -> None:
    folder = require(JOINABLE)
    applications = pd.read_csv(folder / "application_train.csv")

    ours = build_features(applications, folder)
    reference = oracle.build_features(applications, folder)

    assert list(ours.columns) == [ID, *FEATURE_COLUMNS, "TARGET"]
    assert_frames_match(ours.drop(columns=["TARGET"]), reference)
    assert ours[HISTORY_COLUMNS[0]].notna().any()  # the join found histories


def test_history_equals_the_pandas_oracle_on_unjoined_side_rows() -> None:
    folder = require(UNJOINED)

    ours = history_features(folder)
    reference = oracle.history(folder).reset_index()

    assert ours[ID].tolist() == reference[ID].tolist()
    assert_frames_match(ours, reference)
