"""The raw data page against a fake gateway: sample, a column's distribution, correlations, glossary."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from test_frontend_client import FakeGateway, open_page, problem, texts

from credit_frontend.client import use_client_factory

pytestmark = pytest.mark.unit

TABLE = "application_train"


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway()
    use_client_factory(fake.client)
    yield fake
    use_client_factory(None)


def with_table(gateway: FakeGateway) -> FakeGateway:
    gateway.on(
        "GET",
        "/v1/raw/tables",
        [{"name": TABLE, "rows": 307511, "description": "Applications", "key": ["SK_ID_CURR"]}, {"name": "bureau"}],
    )
    rows = [{"SK_ID_CURR": 100002, "CODE_GENDER": "M", "AMT_CREDIT": 406597.5}]
    gateway.on("GET", f"/v1/raw/tables/{TABLE}/rows", {"columns": list(rows[0]), "rows": rows, "total": 307511})
    columns = [
        {"name": "SK_ID_CURR", "type": "int", "label": "Client id", "description": "ID of loan"},
        {"name": "CODE_GENDER", "type": "category", "description": "Gender of the client"},
        {"name": "AMT_CREDIT", "type": "float", "description": "Credit amount of the loan"},
    ]
    gateway.on("GET", f"/v1/raw/tables/{TABLE}/columns", columns)
    gateway.on(
        "GET",
        f"/v1/raw/tables/{TABLE}/columns/CODE_GENDER/distribution",
        {
            "column": "CODE_GENDER",
            "kind": "categorical",
            "count": 307511,
            "missing": 0,
            "categories": [{"value": "F", "count": 202448}, {"value": "M", "count": 105059}],
            "other": 4,
        },
    )
    gateway.on(
        "GET",
        f"/v1/raw/tables/{TABLE}/correlations",
        {
            "columns": 2,
            "pairs": 1,
            "rows": 10000,
            "bins": [{"left": 0.0, "right": 0.5, "count": 1}],
            "top": [{"a": "AMT_CREDIT", "b": "AMT_GOODS_PRICE", "r": 0.98712}],
        },
    )
    return gateway


def test_shows_a_sample_a_distribution_correlations_and_the_glossary(gateway: FakeGateway) -> None:
    with_table(gateway)
    at = open_page("raw_data")
    assert not at.exception
    assert at.dataframe[0].value["CODE_GENDER"].tolist() == ["M"]
    assert "1 of the 307,511 rows of the sample." in texts(at, "caption")
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert charts[0]["data"][0]["x"] == ["F", "M"]
    assert charts[0]["layout"]["yaxis"]["title"]["text"] == "Number of rows"
    assert "*Gender of the client*" in texts(at, "markdown")
    top = next(d.value for d in at.dataframe if "Column A" in d.value.columns)
    assert top["r"].tolist() == [0.987]
    glossary = next(d.value for d in at.dataframe if "Meaning" in d.value.columns)
    assert glossary["Meaning"].tolist() == ["ID of loan", "Gender of the client", "Credit amount of the loan"]


def test_a_failing_distribution_is_a_message(gateway: FakeGateway) -> None:
    with_table(gateway)
    gateway.on("GET", f"/v1/raw/tables/{TABLE}/columns/CODE_GENDER/distribution", problem(429, "too many requests"))
    at = open_page("raw_data")
    assert not at.exception
    assert "wait a few seconds" in texts(at, "error")


def test_no_tables_and_no_resource(gateway: FakeGateway) -> None:
    at = open_page("raw_data")
    assert not at.exception
    assert "/v1/raw/tables" in texts(at, "info")
    gateway.on("GET", "/v1/raw/tables", [])
    assert "No raw table found" in texts(open_page("raw_data"), "info")
