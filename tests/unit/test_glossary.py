"""Labels: every raw column and every engineered feature has a short human-readable one, without the CSV."""

from __future__ import annotations

from pathlib import Path

import pytest

from credit_shared.datasets import FeatureInfo
from credit_shared.features import APPLICATION_COLUMNS, FEATURE_COLUMNS, HISTORY_COLUMNS
from credit_shared.features.labels import feature_info, feature_infos, label
from credit_shared.homecredit.application import APPLICATION
from credit_shared.homecredit.glossary import description, glossary, raw_label, read_glossary_csv

pytestmark = pytest.mark.unit

GLOSSARY_CSV = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "data"
    / "home-credit"
    / ("HomeCredit_columns_description.csv")
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("EXT_SOURCE_3", "External credit score 3"),
        ("INSTAL_DPD_MAX", "Max of days past due on previous instalments"),
        ("ACTIVE_AMT_CREDIT_SUM_DEBT_SUM", "Sum of current debt over active bureau credits"),
        ("PREV_NAME_CONTRACT_STATUS_Refused_MEAN", "Share of previous applications with contract status 'Refused'"),
        ("REFUSED_AMT_CREDIT_MAX", "Max of credit amount over refused previous applications"),
        ("CC_COUNT", "Count of credit-card monthly balances"),
        ("PAYMENT_RATE", "Annuity / credit amount (payment rate)"),
        ("NAME_INCOME_TYPE_Working", "Income type: Working"),
        ("LIVINGAREA_MEDI", "Living area of the client's building (median)"),
    ],
)
def test_label_reads_like_a_person_would_write_it(name: str, expected: str) -> None:
    assert label(name) == expected


def test_every_feature_has_a_distinct_label() -> None:
    labels = [label(name) for name in FEATURE_COLUMNS]
    assert all(labels)
    assert all(len(text) <= 120 for text in labels)
    assert len(set(labels)) == len(labels)
    assert all(text != name.replace("_", " ").capitalize() for name, text in zip(FEATURE_COLUMNS, labels, strict=True))


def test_feature_info_says_where_each_feature_is_computed() -> None:
    infos = feature_infos(FEATURE_COLUMNS)

    assert all(isinstance(info, FeatureInfo) for info in infos)
    assert {i.name for i in infos if i.online == "request"} == set(APPLICATION_COLUMNS)
    assert {i.name for i in infos if i.online == "history"} == set(HISTORY_COLUMNS)
    assert feature_info("NAME_CONTRACT_TYPE").type == "category"
    assert feature_info("BURO_STATUS_C_MEAN_MEAN").source == "bureau_balance"
    assert feature_info("INSTAL_COUNT").type == "int"


def test_feature_info_refuses_a_name_outside_the_feature_set() -> None:
    with pytest.raises(KeyError, match="NOT_A_FEATURE"):
        feature_info("NOT_A_FEATURE")
    assert label("NOT_A_FEATURE") == "Not a feature"


def test_every_raw_column_has_an_official_description() -> None:
    for column in [*APPLICATION.names, "TARGET"]:
        assert description("application", column), column
        assert raw_label("application", column)
    assert description("bureau_balance", "STATUS")
    assert description("installments_payments", "AMT_PAYMENT")


def test_packaged_glossary_is_the_official_csv() -> None:
    if not GLOSSARY_CSV.is_file():
        pytest.skip(f"official glossary not found at {GLOSSARY_CSV.resolve()}")
    assert read_glossary_csv(GLOSSARY_CSV) == glossary()
