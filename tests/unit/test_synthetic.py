"""The synthetic generator: schema, keys, coverage, sentinels, signal and determinism at small scale."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from credit_local.data_cli import data_app
from credit_local.synthetic import MANIFEST, generate
from credit_local.synthetic.profile import load_profile
from credit_shared.homecredit.readers import read_table, validate_folder
from credit_shared.homecredit.side_tables import SIDE_TABLES
from credit_shared.homecredit.tables import FILE_NAMES, SENTINEL, TABLES

pytestmark = pytest.mark.unit

APPLICANTS = 2_000
FULL = 356_255
FULL_ROWS = {
    "bureau": 1_716_428,
    "bureau_balance": 27_299_925,
    "previous_application": 1_670_214,
    "POS_CASH_balance": 10_001_358,
    "installments_payments": 13_605_401,
    "credit_card_balance": 3_840_312,
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    generate(out, APPLICANTS, seed=11)
    return out


@pytest.fixture(scope="module")
def frames(folder: Path) -> dict[str, pd.DataFrame]:
    return {name: read_table(folder, name) for name in TABLES}


def _digests(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / file).read_bytes()).hexdigest() for name, file in FILE_NAMES.items()}


def test_same_seed_gives_identical_files_and_another_seed_differs(tmp_path: Path) -> None:
    generate(tmp_path / "a", 600, seed=3)
    generate(tmp_path / "b", 600, seed=3)
    generate(tmp_path / "c", 600, seed=4)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert all(
        a != c for a, c in zip(_digests(tmp_path / "a").values(), _digests(tmp_path / "c").values(), strict=True)
    )


def test_every_table_passes_strict_validation_with_the_kaggle_columns(folder: Path) -> None:
    reports = validate_folder(folder)
    assert set(reports) == set(TABLES)
    for name, file in FILE_NAMES.items():
        header = (folder / file).open(encoding="utf-8").readline().strip().split(",")
        assert [h.strip('"') for h in header] == TABLES[name].names
    assert reports["application_train"].rows + reports["application_test"].rows == APPLICANTS
    assert not (folder / "bureau.csv.partial").exists()
    assert (folder / MANIFEST).is_file()


def test_every_side_row_joins(frames: dict[str, pd.DataFrame]) -> None:
    applicants = set(frames["application_train"].SK_ID_CURR) | set(frames["application_test"].SK_ID_CURR)
    assert len(applicants) == APPLICANTS
    for name in SIDE_TABLES:
        if "SK_ID_CURR" in frames[name]:
            assert set(frames[name].SK_ID_CURR) <= applicants, name
    assert set(frames["bureau_balance"].SK_ID_BUREAU) <= set(frames["bureau"].SK_ID_BUREAU)
    previous = frames["previous_application"].set_index("SK_ID_PREV")["SK_ID_CURR"]
    for name in ("POS_CASH_balance", "installments_payments", "credit_card_balance"):
        owners = previous.reindex(frames[name].SK_ID_PREV).to_numpy()
        assert np.array_equal(owners, frames[name].SK_ID_CURR.to_numpy()), name


def test_coverage_default_rate_and_split_are_in_the_kaggle_bands(frames: dict[str, pd.DataFrame]) -> None:
    def covered(name: str) -> float:
        return frames[name].SK_ID_CURR.nunique() / APPLICANTS

    assert covered("bureau") == pytest.approx(0.86, abs=0.03)
    assert covered("previous_application") == pytest.approx(0.95, abs=0.02)
    assert covered("credit_card_balance") == pytest.approx(0.29, abs=0.035)
    assert frames["application_train"].TARGET.mean() == pytest.approx(0.0807, abs=0.025)
    assert len(frames["application_test"]) / APPLICANTS == pytest.approx(48_744 / FULL, abs=0.03)


def test_history_sizes_scale_to_the_full_kaggle_sizes(frames: dict[str, pd.DataFrame]) -> None:
    for name, full in FULL_ROWS.items():
        assert len(frames[name]) / APPLICANTS == pytest.approx(full / FULL, rel=0.15), name


def test_sentinels_and_employment_coupling(frames: dict[str, pd.DataFrame]) -> None:
    train = frames["application_train"]
    retired = train.NAME_INCOME_TYPE.isin(["Pensioner", "Unemployed"]).to_numpy()
    sentinel = (train.DAYS_EMPLOYED == SENTINEL).to_numpy()
    assert np.array_equal(retired, sentinel)
    assert sentinel.mean() == pytest.approx(0.18, abs=0.04)
    assert (train.ORGANIZATION_TYPE[sentinel] == "XNA").all()
    assert (train.DAYS_EMPLOYED[~sentinel] < 0).all()
    previous = frames["previous_application"]
    for column in ("DAYS_FIRST_DRAWING", "DAYS_FIRST_DUE", "DAYS_LAST_DUE", "DAYS_TERMINATION"):
        assert (previous[column] == SENTINEL).any(), column
        assert (previous[column].dropna()[previous[column] != SENTINEL] < 0).all(), column


def test_missing_rates_follow_the_profile_and_building_columns_miss_together(frames: dict[str, pd.DataFrame]) -> None:
    train = frames["application_train"]
    profile = load_profile()["application_train"]
    for column in ("EXT_SOURCE_1", "EXT_SOURCE_3", "OCCUPATION_TYPE", "APARTMENTS_AVG", "COMMONAREA_MEDI"):
        assert train[column].isna().mean() == pytest.approx(profile[column]["missing"], abs=0.05), column
    for suffix in ("MODE", "MEDI"):
        assert (train[f"APARTMENTS_{suffix}"].isna() == train.APARTMENTS_AVG.isna()).all()
    # nested: a row missing the least-missing building column misses every building column
    assert train.loc[train.YEARS_BEGINEXPLUATATION_AVG.isna(), "COMMONAREA_AVG"].isna().all()
    assert (train.FLAG_OWN_CAR == "Y").eq(train.OWN_CAR_AGE.notna()).all()


def test_category_frequencies_follow_the_profile(frames: dict[str, pd.DataFrame]) -> None:
    bureau = frames["bureau"]
    levels = TABLES["bureau"].by_name["CREDIT_ACTIVE"].categories
    expected = dict(zip(levels, load_profile()["bureau"]["CREDIT_ACTIVE"]["p"], strict=True))
    shares = bureau.CREDIT_ACTIVE.value_counts(normalize=True)
    assert shares["Closed"] == pytest.approx(expected["Closed"], abs=0.03)
    assert shares["Active"] == pytest.approx(expected["Active"], abs=0.03)


def test_application_features_carry_default_signal(frames: dict[str, pd.DataFrame]) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    train = frames["application_train"]
    features = pd.DataFrame(
        {
            "ext": train[["EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3"]].mean(axis=1).fillna(0.5),
            "age": train.DAYS_BIRTH / 365,
            "male": (train.CODE_GENDER == "M").astype(float),
            "rate": train.AMT_ANNUITY / train.AMT_CREDIT,
        }
    )
    half = len(train) // 2
    model = LogisticRegression(max_iter=500).fit(features[:half], train.TARGET[:half])
    auc = roc_auc_score(train.TARGET[half:], model.predict_proba(features[half:])[:, 1])
    assert auc > 0.65


def test_instalment_lateness_carries_default_signal(frames: dict[str, pd.DataFrame]) -> None:
    from sklearn.metrics import roc_auc_score

    payments = frames["installments_payments"]
    late = (payments.DAYS_ENTRY_PAYMENT - payments.DAYS_INSTALMENT).clip(lower=0)
    share = (late > 0).groupby(payments.SK_ID_CURR).mean()
    train = frames["application_train"].set_index("SK_ID_CURR")
    known = train.index.intersection(share.index)
    assert roc_auc_score(train.TARGET[known], share[known]) > 0.58


def test_parquet_output_matches_csv(tmp_path: Path) -> None:
    generate(tmp_path / "csv", 300, seed=2)
    generate(tmp_path / "pq", 300, seed=2, fmt="parquet")
    for name in TABLES:
        pd.testing.assert_frame_equal(read_table(tmp_path / "pq", name), read_table(tmp_path / "csv", name))


def test_progress_reports_every_chunk_and_bad_sizes_are_refused(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    report = generate(tmp_path, 100, seed=1, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(100, 100)]
    assert report.side_rows == sum(report.rows[t] for t in SIDE_TABLES)
    with pytest.raises(ValueError, match="applicants must be positive"):
        generate(tmp_path, 0)


def test_cli_generates_then_validates_and_fails_on_a_corrupted_table(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(data_app, ["synth", "--applicants", "200", "--seed", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(data_app, ["validate", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output
    (tmp_path / "credit_card_balance.csv").unlink()
    result = runner.invoke(data_app, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    assert "1 table(s) failed validation" in result.output
