"""The client decision page against a fake gateway: gauge, plain words, waterfall, comparison, what-if."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest
from test_frontend_client import FakeGateway, open_page, problem, texts

from credit_frontend.client import use_client_factory

pytestmark = pytest.mark.unit

CLIENT = 100001


def make_decision(**overrides: Any) -> dict[str, Any]:
    decision = {
        "request_id": "lo-1",
        "sk_id_curr": CLIENT,
        "probability": 0.137,
        "threshold": 0.091,
        "decision": "refused",
        "reasons": [
            {
                "feature": "EXT_SOURCE_3",
                "label": "External credit score 3",
                "value": 0.12,
                "contribution": 0.41,
                "code": "R01",
                "group": "External credit scores",
                "text": "External credit scores are low",
            },
            {
                "feature": "DAYS_EMPLOYED",
                "label": "Days employed",
                "value": -200,
                "contribution": 0.2,
                "code": "R10",
                "group": "Employment",
                "text": "Length or type of employment",
            },
        ],
        "model": {"name": "credit-default", "version": "3", "alias": "champion", "run_id": "r"},
        "scored_at": "2026-11-24T10:00:00Z",
        "latency_ms": 4.2,
    }
    return decision | overrides


def make_explanation(contributions: list[dict[str, Any]], version: str = "3") -> dict[str, Any]:
    """What GET /v1/clients/{id}/explanation answers (an Explanation from the scoring service)."""
    return {
        "request_id": "explain-1", "sk_id_curr": CLIENT, "probability": 0.137, "threshold": 0.091,
        "base_value": -2.4, "contributions": contributions,
        "model": {"name": "credit-default", "version": version, "alias": "champion", "run_id": "r"},
        "correlation_id": "c",
    }  # fmt: skip


def make_distribution(column: str) -> dict[str, Any]:
    bins = [{"left": i / 10, "right": (i + 1) / 10, "count": 10 + i} for i in range(10)]
    return {"column": column, "kind": "numeric", "count": 145, "missing": 0, "bins": bins}


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway()
    use_client_factory(fake.client)
    yield fake
    use_client_factory(None)


def full_gateway(gateway: FakeGateway) -> FakeGateway:
    data = {"SK_ID_CURR": CLIENT, "EXT_SOURCE_3": 0.12, "DAYS_EMPLOYED": -200, "AMT_CREDIT": 568800.0}
    gateway.on("GET", f"/v1/clients/{CLIENT}", {"sk_id_curr": CLIENT, "application": data, "decision": make_decision()})
    contributions = [
        {"feature": "EXT_SOURCE_3", "label": "External credit score 3", "value": 0.12, "contribution": 0.41},
        {"feature": "DAYS_EMPLOYED", "label": "Days employed", "value": -200, "contribution": 0.2},
        {"feature": "AMT_CREDIT", "label": "Credit amount", "value": 568800.0, "contribution": -0.1},
    ]
    gateway.on("GET", f"/v1/clients/{CLIENT}/explanation", make_explanation(contributions))
    groups = [
        {"code": "R01", "group": "External credit scores", "text": "External credit scores are low",
         "columns": ["EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3"]},
        {"code": "R10", "group": "Employment", "text": "Length or type of employment", "columns": ["DAYS_EMPLOYED"]},
    ]  # fmt: skip
    gateway.on("GET", "/v1/reasons", {"version": "1", "max_reasons": 4, "groups": groups})
    columns = [
        {"name": "EXT_SOURCE_3", "type": "float", "nullable": True, "label": "External credit score 3"},
        {
            "name": "DAYS_EMPLOYED",
            "type": "int",
            "nullable": True,
            "label": "Employment length (days before application)",
        },
        {"name": "CNT_CHILDREN", "type": "int", "nullable": True, "label": "Number of children"},
    ]
    gateway.on("GET", "/v1/raw/tables/application_test/columns", columns)
    features = [
        {
            "feature": "EXT_SOURCE_3",
            "label": "External credit score 3",
            "value": 0.12,
            "percentile": 8.0,
            "median": 0.5,
            "distribution": make_distribution("EXT_SOURCE_3"),
        },
        {"feature": "DAYS_EMPLOYED", "label": "Days employed", "value": -200, "percentile": 90.0, "median": -1500},
    ]
    gateway.on(
        "GET",
        f"/v1/clients/{CLIENT}/comparison",
        {"group": "all", "size": 48744, "definition": "every applicant", "features": features},
    )
    return gateway


def look_up(sk_id: int = CLIENT) -> AppTest:
    at = open_page("client_decision")
    at.number_input[0].set_value(sk_id)
    return at.button[0].click().run()


def test_asks_for_a_client_id_first(gateway: FakeGateway) -> None:
    at = open_page("client_decision")
    assert not at.exception
    assert "Enter a client id" in texts(at, "info")
    assert "Glossary" in at.expander[0].label


def test_explains_a_refusal_in_plain_words_with_gauge_and_waterfall(gateway: FakeGateway) -> None:
    full_gateway(gateway)
    at = look_up()
    assert not at.exception
    words = texts(at, "markdown")
    assert "**13.7 %**" in words
    assert "**9.1 %**" in words
    assert "**refused**" in words
    assert "External credit score 3 is 0.12; this raises the estimated risk by 0.41 log-odds." in words
    assert "**External credit scores are low** (R01)" in words
    assert any("⛔ Refused" in s.value for s in at.subheader)
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    kinds = [c["data"][0]["type"] for c in charts]
    assert kinds[:2] == ["indicator", "waterfall"]
    steps = charts[1]["data"][0]["x"]
    assert steps[0] == pytest.approx(-2.4)  # from the base value ...
    assert steps[-1] == pytest.approx(-2.4 + 0.41 + 0.2 - 0.1)  # ... to the client's score, every factor on the way
    low, high = charts[1]["layout"]["xaxis"]["range"]
    assert low < -2.4, "the axis holds every bar: the base value ..."
    assert high > 0.0, "... and 0, where the base value's bar starts"
    assert "Every factor, as model version 3 weighs it." in texts(at, "caption")
    gauge = charts[0]["data"][0]
    assert gauge["value"] == pytest.approx(13.7)
    assert gauge["gauge"]["threshold"]["value"] == pytest.approx(9.1)
    assert at.dataframe[0].value["Percentile"].tolist() == [
        "8th",
        "10th",
    ]  # days before the application read as years: the ranking turns over
    assert at.number_input[0].value == CLIENT


def test_compares_with_similar_clients_and_chosen_features_when_asked(gateway: FakeGateway) -> None:
    full_gateway(gateway)
    at = look_up()
    assert "All clients: 48,744 clients (every applicant)." in texts(at, "caption")
    at.radio(key="group").set_value("similar").run()
    at.multiselect(key="features").set_value(["AMT_CREDIT"]).run()
    assert not at.exception
    asked = [r.url.params for r in gateway.calls if r.url.path.endswith("/comparison")]
    assert asked[0].get("features") is None  # the gateway's default features first
    assert asked[-1]["group"] == "similar"
    assert asked[-1].get_list("features") == ["AMT_CREDIT"]


def test_what_if_scores_the_edited_values(gateway: FakeGateway) -> None:
    full_gateway(gateway)
    gateway.on("POST", f"/v1/clients/{CLIENT}/what-if", make_decision(probability=0.05, decision="approved"))
    at = look_up()
    edited = next(n for n in at.number_input if n.label == "External credit score 3")
    edited.set_value(0.7)
    next(b for b in at.button if b.label == "Score the edited application").click()
    at.run()
    assert not at.exception
    assert gateway.sent("POST", f"/v1/clients/{CLIENT}/what-if") == [{"changes": {"EXT_SOURCE_3": 0.7}}]
    assert "5.0 %" in [m.value for m in at.metric]
    assert "13.7 %" in [m.value for m in at.metric]  # the original decision beside the new one
    assert "Approved" in [m.value for m in at.metric]


def test_what_if_edits_day_counts_in_years_and_sends_whole_days(gateway: FakeGateway) -> None:
    full_gateway(gateway)
    gateway.on("POST", f"/v1/clients/{CLIENT}/what-if", make_decision(probability=0.05, decision="approved"))
    at = look_up()
    employed = next(n for n in at.number_input if n.label == "Years employed")
    assert employed.value == 0.5  # -200 days
    employed.set_value(3.0)
    next(b for b in at.button if b.label == "Score the edited application").click()
    at.run()
    assert gateway.sent("POST", f"/v1/clients/{CLIENT}/what-if") == [{"changes": {"DAYS_EMPLOYED": -1096}}]


def test_integer_columns_take_whole_numbers_within_bounds() -> None:
    from credit_frontend.units import input_spec

    children = input_spec("CNT_CHILDREN", "int", "Number of children")
    assert (children.widget, children.step, children.minimum) == ("int", 1, 0)
    assert children.to_column(2.0) == 2
    assert isinstance(children.to_column(2.0), int)
    assert input_spec("DAYS_BIRTH", "int", "Age (days before application)").label == "Age (years)"


def test_an_unknown_client_is_a_message_not_a_crash(gateway: FakeGateway) -> None:
    gateway.on("GET", "/v1/clients/42", problem(404, "client 42 is not known"))
    at = look_up(42)
    assert not at.exception
    assert "client 42 is not known" in texts(at, "error")


def test_falls_back_to_the_audit_trail_when_the_gateway_has_no_client_resource(gateway: FakeGateway) -> None:
    gateway.on("GET", "/v1/decisions", {"items": [make_decision()], "next_before": None})
    at = look_up()
    assert not at.exception
    assert "**refused**" in texts(at, "markdown")
    assert "Not available yet" in texts(at, "info")  # explanation, comparison
    assert "What-if needs the client's application" in texts(at, "info")


def test_a_client_without_decision_says_so(gateway: FakeGateway) -> None:
    gateway.on("GET", "/v1/decisions", {"items": [], "next_before": None})
    at = look_up()
    assert not at.exception
    assert "No decision recorded" in texts(at, "warning")


def test_a_slow_scoring_service_is_explained(gateway: FakeGateway) -> None:
    full_gateway(gateway)
    gateway.on("POST", f"/v1/clients/{CLIENT}/what-if", problem(504, "no decision within 5 s"))
    at = look_up()
    next(n for n in at.number_input if n.label == "External credit score 3").set_value(0.5)
    next(b for b in at.button if b.label == "Score the edited application").click()
    at.run()
    assert not at.exception
    assert "did not answer in time" in texts(at, "error")


def test_gateway_down_is_a_banner(gateway: FakeGateway) -> None:
    gateway.down = True
    at = look_up()
    assert not at.exception
    assert len(at.error) == 1
    assert "does not answer" in at.error[0].value


def test_a_link_with_the_client_id_opens_that_client(gateway: FakeGateway) -> None:
    full_gateway(gateway)
    at = AppTest.from_function(_client_page, default_timeout=60)
    at.query_params["client"] = str(CLIENT)
    at.run()
    assert not at.exception
    assert "**refused**" in texts(at, "markdown")


def _client_page() -> None:
    from credit_frontend.pages import client_decision

    client_decision.render()


@pytest.mark.parametrize(
    ("percentile", "shown"), [(1.2, "1st"), (2.0, "2nd"), (3.4, "3rd"), (11.0, "11th"), (12.0, "12th"), (22.0, "22nd")]
)
def test_percentiles_read_as_ordinals(percentile: float, shown: str) -> None:
    from credit_frontend.pages.client_decision import _percentile

    assert _percentile(percentile) == shown


def test_a_categorical_feature_reads_as_a_share_of_the_same_value() -> None:
    from credit_frontend.pages.client_decision import _percentile

    assert _percentile(None, 64.6) == "same value as 65 %"


def test_the_explanation_names_the_serving_version_when_it_is_not_the_one_that_decided(gateway: FakeGateway) -> None:
    full_gateway(gateway)
    contributions = [{"feature": "EXT_SOURCE_3", "label": "External credit score 3", "value": 0.12,
                      "contribution": 0.5}]  # fmt: skip
    gateway.on("GET", f"/v1/clients/{CLIENT}/explanation", make_explanation(contributions, version="4"))
    at = look_up()
    assert not at.exception
    caption = texts(at, "caption")
    assert "model version 4 (serving now)" in caption
    assert "made by version 3" in caption
