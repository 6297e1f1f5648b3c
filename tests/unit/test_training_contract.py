"""The training command is validated against each family's real parameters before any work."""

from typing import Any

import numpy as np
import pytest
from lightgbm import LGBMClassifier
from pydantic import ValidationError
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from credit_shared.commands import CommandRefused, read_command
from credit_shared.contracts.model_families import FAMILIES, ModelFamily, ParamKind
from credit_shared.contracts.training import TrainModel
from credit_shared.dead_lettering import errors_in_words
from training_service.families import build_classifier, estimator_params
from training_service.search import candidates
from training_service.service import COMMANDS

pytestmark = pytest.mark.unit


def make_command(**overrides: Any) -> TrainModel:
    values: dict[str, Any] = {"request_id": "r-1", "dataset_id": "ds-1", "run_name": "run", "family": "lightgbm"}
    return TrainModel(**{**values, **overrides})


def refusal(**overrides: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        make_command(**overrides)
    return errors_in_words(caught.value)


def test_a_plain_command_takes_the_documented_defaults() -> None:
    command = make_command()
    assert (command.folds, command.test_share, command.cost.fn, command.cost.fp) == (5, 0.2, 10.0, 1.0)
    assert command.imbalance.value == "none"


def test_unknown_family_is_refused_naming_the_field() -> None:
    assert refusal(family="xgboost").startswith("family: Input should be")


def test_unknown_parameter_is_refused_with_the_known_ones() -> None:
    message = refusal(params={"num_leafs": 8})
    assert "unknown parameter 'num_leafs' for lightgbm" in message
    assert "num_leaves" in message


def test_parameter_of_the_wrong_type_is_refused() -> None:
    assert "parameter 'num_leaves' expects a number (int), got 'many'" in refusal(params={"num_leaves": "many"})
    assert "parameter 'num_leaves' expects an integer, got 3.5" in refusal(params={"num_leaves": 3.5})
    assert "parameter 'fit_intercept' expects true or false" in refusal(
        family="logistic_regression", params={"fit_intercept": 1}
    )


def test_parameter_outside_its_bounds_is_refused() -> None:
    assert "parameter 'learning_rate' must lie in [0.0001, 1], got 5" in refusal(params={"learning_rate": 5})


def test_categorical_value_outside_its_choices_is_refused() -> None:
    message = refusal(family="logistic_regression", params={"solver": "adam"})
    assert "parameter 'solver' expects one of" in message


def test_empty_search_space_is_refused() -> None:
    assert "empty search space" in refusal(search={"parameters": {}})


def test_empty_or_impossible_ranges_are_refused() -> None:
    assert "empty range, low 0.5 > high 0.1" in refusal(
        search={"parameters": {"learning_rate": {"low": 0.5, "high": 0.1}}}
    )
    assert "no integer between 3.2 and 3.8" in refusal(search={"parameters": {"num_leaves": {"low": 3.2, "high": 3.8}}})
    assert "empty list of values" in refusal(search={"parameters": {"num_leaves": {"values": []}}})
    assert "give values, or both low and high" in refusal(search={"parameters": {"num_leaves": {"low": 4}}})


def test_log_range_needs_a_log_parameter_and_positive_bounds() -> None:
    assert "this parameter has no log scale" in refusal(
        search={"parameters": {"subsample": {"low": 0.5, "high": 1.0, "scale": "log"}}}
    )
    assert "low must lie in" in refusal(
        search={"parameters": {"learning_rate": {"low": 0, "high": 0.1, "scale": "log"}}}
    )


def test_a_categorical_parameter_cannot_take_a_range() -> None:
    message = refusal(search={"parameters": {"boosting_type": {"low": 0, "high": 1}}})
    assert "a categorical parameter takes a list of values, not a range" in message


def test_smote_neighbours_are_a_parameter_only_with_smote() -> None:
    assert "unknown parameter 'smote_k_neighbors'" in refusal(params={"smote_k_neighbors": 3})
    command = make_command(imbalance="smote", search={"parameters": {"smote_k_neighbors": {"values": [3, 5]}}})
    assert [c["smote_k_neighbors"] for c in candidates(command)] in ([3, 5], [5, 3])


def test_a_parameter_cannot_be_both_fixed_and_searched() -> None:
    message = refusal(params={"num_leaves": 8}, search={"parameters": {"num_leaves": {"values": [4, 8]}}})
    assert "parameter 'num_leaves' is both fixed and searched" in message


def test_every_problem_is_reported_at_once() -> None:
    message = refusal(params={"bogus": 1, "learning_rate": 7})
    assert "unknown parameter 'bogus'" in message
    assert "'learning_rate' must lie in" in message


def test_bad_envelope_is_refused_with_its_request_id() -> None:
    body = {"type": "model.train", "correlation_id": "job-9", "payload": {"request_id": "job-9", "family": "svm"}}
    with pytest.raises(CommandRefused) as caught:
        read_command(body, COMMANDS)
    assert (caught.value.request_id, caught.value.reason) == ("job-9", "invalid_command")
    assert "dataset_id: Field required" in str(caught.value)
    with pytest.raises(CommandRefused, match=r"unknown command type 'model\.explode'"):
        read_command({"type": "model.explode", "payload": {"request_id": "x"}}, COMMANDS)


@pytest.mark.parametrize("family", list(ModelFamily))
def test_registry_defaults_are_valid_and_build_the_real_estimator(family: ModelFamily) -> None:
    spec = FAMILIES[family]
    for p in spec.parameters:
        if p.kind in (ParamKind.INT, ParamKind.FLOAT):
            assert p.low is not None
            assert p.high is not None
            assert p.low <= float(p.default) <= p.high
        if p.kind is ParamKind.CATEGORICAL:
            assert p.default in (p.choices or [])
    estimator = build_classifier(family, {}, make_command(family=family).imbalance, seed=1)
    params = estimator.get_params()
    for name in estimator_params(family, {}):
        assert name in params, f"{name} is not a parameter of {type(estimator).__name__}"


def test_registry_names_are_the_estimators_own_arguments() -> None:
    real = {
        ModelFamily.LOGISTIC_REGRESSION: LogisticRegression().get_params(),
        ModelFamily.HIST_GRADIENT_BOOSTING: HistGradientBoostingClassifier().get_params(),
        ModelFamily.RANDOM_FOREST: RandomForestClassifier().get_params(),
        # our boosting's own: early stopping (validation_fraction), lockstep cross-validation (min_estimators)
        ModelFamily.LIGHTGBM: {
            **LGBMClassifier().get_params(),
            "early_stopping_rounds": 0,
            "validation_fraction": 0,
            "min_estimators": 0,
        },
    }
    for family, params in real.items():
        assert {p.name for p in FAMILIES[family].parameters} <= set(params)


def test_grid_takes_log_spaced_integer_values_and_respects_the_budget() -> None:
    command = make_command(
        search={
            "method": "grid",
            "budget": 50,
            "parameters": {"num_leaves": {"low": 4, "high": 64, "num": 5, "scale": "log"}},
        }
    )
    assert [c["num_leaves"] for c in candidates(command)] == [4, 8, 16, 32, 64]
    small = make_command(
        search={
            "method": "grid",
            "budget": 3,
            "parameters": {"num_leaves": {"values": [4, 8, 16, 32]}, "learning_rate": {"values": [0.01, 0.1]}},
        }
    )
    assert len(candidates(small)) == 3


def test_random_search_draws_distinct_candidates_inside_the_range() -> None:
    command = make_command(
        params={"n_estimators": 50},
        search={
            "method": "random",
            "budget": 6,
            "parameters": {
                "learning_rate": {"low": 0.01, "high": 0.3, "scale": "log"},
                "min_child_samples": {"low": 5, "high": 80},
            },
        },
    )
    drawn = candidates(command)
    assert len(drawn) == 6
    assert all(0.01 <= c["learning_rate"] <= 0.3 and isinstance(c["min_child_samples"], int) for c in drawn)  # type: ignore[operator]
    assert all(c["n_estimators"] == 50 for c in drawn)
    assert candidates(command) == drawn  # seeded
    assert np.unique([c["learning_rate"] for c in drawn]).size == 6
