"""The reason catalogue: every model input in one factor group, a refusal's reasons as the groups that raised its risk
most, never a protected attribute; served by the gateway."""

from __future__ import annotations

import numpy as np
import pytest
from test_gateway_api import Running, assert_problem, headers

from credit_shared.features import FEATURE_COLUMNS
from credit_shared.reasons import BY_CODE, CATALOGUE_VERSION, GROUPS, MAX_REASONS, OTHER, ReasonIndex, group_of

pytestmark = pytest.mark.unit


def reasons_of(features: list[str], values: list[float]) -> list[dict[str, object]]:
    index = ReasonIndex(features)
    found = index.reasons(np.array(values), label=lambda j: f"label {features[j]}", value=float, names=features)
    return [r.model_dump() for r in found]


def test_every_feature_of_the_feature_set_belongs_to_a_known_group_and_none_to_other() -> None:
    codes = [group_of(f) for f in FEATURE_COLUMNS]
    assert set(codes) <= set(BY_CODE)
    assert OTHER not in codes, [f for f, c in zip(FEATURE_COLUMNS, codes, strict=True) if c == OTHER][:5]
    assert group_of("NAME_INCOME_TYPE_Working") == group_of("NAME_INCOME_TYPE") == "R09"  # a one-hot indicator
    assert group_of("SOMETHING_NEW") == OTHER  # never an error: every input has exactly one group


def test_codes_are_unique_and_the_protected_groups_are_the_protected_attributes() -> None:
    assert len({g.code for g in GROUPS}) == len(GROUPS)
    assert {g.code for g in GROUPS if g.protected} == {group_of("CODE_GENDER"), group_of("NAME_FAMILY_STATUS")}
    assert BY_CODE[group_of("DAYS_BIRTH")].flagged
    assert group_of("INSTAL_DPD_MAX") == "R03"
    assert BY_CODE["R03"].text == "Late or missed payments on previous loans with us"


def test_a_refusal_states_the_groups_whose_summed_contributions_raised_the_risk_most() -> None:
    features = ["EXT_SOURCE_1", "EXT_SOURCE_3", "AMT_CREDIT", "AMT_ANNUITY", "INSTAL_DPD_MAX", "DAYS_EMPLOYED"]
    found = reasons_of(features, [0.2, 0.3, 0.1, 0.35, -0.4, 0.05])
    assert [r["code"] for r in found] == ["R01", "R08", "R10"]  # 0.5, 0.45, 0.05; late payments lowered the risk
    first = found[0]
    assert (first["group"], first["text"]) == ("External credit scores", "External credit scores are low")
    assert (first["feature"], first["label"], first["value"]) == ("EXT_SOURCE_3", "label EXT_SOURCE_3", 1.0)
    assert first["contribution"] == pytest.approx(0.5)  # the group's sum, not its most telling feature's
    assert found[1]["feature"] == "AMT_ANNUITY"


def test_at_most_four_reasons_and_none_when_nothing_raised_the_risk() -> None:
    features = ["EXT_SOURCE_1", "AMT_CREDIT", "AMT_INCOME_TOTAL", "DAYS_EMPLOYED", "CNT_CHILDREN", "FLAG_OWN_CAR"]
    assert len(reasons_of(features, [0.6, 0.5, 0.4, 0.3, 0.2, 0.1])) == MAX_REASONS
    assert reasons_of(features, [-0.1] * 6) == []


def test_a_protected_attribute_is_never_a_reason_even_when_it_weighs_most() -> None:
    features = ["CODE_GENDER", "NAME_FAMILY_STATUS", "EXT_SOURCE_2"]
    found = reasons_of(features, [2.0, 1.5, 0.1])
    assert [r["feature"] for r in found] == ["EXT_SOURCE_2"]
    assert all(r["code"] not in {"P01", "P02"} for r in found)


def test_the_gateway_serves_the_catalogue_to_viewers(gw: Running) -> None:
    assert_problem(gw.client.get("/v1/reasons"), 401)
    body = gw.client.get("/v1/reasons", headers=headers("viewer")).json()
    assert body["version"] == CATALOGUE_VERSION
    assert body["max_reasons"] == MAX_REASONS
    assert {g["code"] for g in body["groups"]} == set(BY_CODE)
    one = gw.client.get("/v1/reasons/R03", headers=headers("viewer")).json()
    assert one == BY_CODE["R03"].model_dump()
    assert_problem(gw.client.get("/v1/reasons/R77", headers=headers("viewer")), 404)
    assert_problem(gw.client.get("/v1/reasons/not-a-code", headers=headers("viewer")), 422)
    spec = gw.client.get("/openapi.json").json()
    assert spec["paths"]["/v1/reasons"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
