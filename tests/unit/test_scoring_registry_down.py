"""Scoring while the MLflow registry cannot be reached: the served models stay, champion and challenger alike.

An alias check that cannot reach MLflow is an error (the holder keeps what it serves and remembers why), never
"no version carries this alias", which would silently stop the challenger's shadow scoring during an outage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from mlflow.exceptions import MlflowException
from sqlalchemy import create_engine

from credit_local.processes import free_port
from credit_shared.contracts.loans import ModelRef
from credit_shared.settings import MlflowSettings
from scoring_service.holder import ModelHolder
from scoring_service.served import load_served

pytestmark = pytest.mark.unit


@dataclass(frozen=True)
class Served:
    """What the holder needs of a served model: its registry identity."""

    ref: ModelRef


def served(version: str, alias: str) -> Served:
    return Served(ModelRef(name="credit-default", version=version, alias=alias, run_id=f"run-{version}"))


@pytest.fixture
def unreachable(monkeypatch: pytest.MonkeyPatch) -> MlflowSettings:
    """Settings naming a port nothing listens on; no retries, so the refusal is immediate."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    return MlflowSettings(tracking_uri=f"http://127.0.0.1:{free_port()}")


def test_an_unreachable_registry_is_an_error_not_a_missing_alias(unreachable: MlflowSettings) -> None:
    with pytest.raises(MlflowException, match=unreachable.tracking_uri):
        load_served(unreachable, create_engine("sqlite://"), "challenger", None)


@pytest.mark.anyio
async def test_the_holder_keeps_champion_and_challenger_while_the_registry_is_unreachable(
    unreachable: MlflowSettings,
) -> None:
    champion: Any = served("3", "champion")  # stands in for a ServedModel: the holder only reads its ref
    challenger: Any = served("4", "challenger")
    holder = ModelHolder(lambda alias, _current: champion if alias == "champion" else challenger)
    await holder.reload()
    engine = create_engine("sqlite://")
    holder._loader = lambda alias, current: load_served(unreachable, engine, alias, current)
    await holder.reload()
    assert (holder.served.champion, holder.served.challenger) == (champion, challenger)
    assert holder.ready
    assert holder.last_error is not None
    assert unreachable.tracking_uri in holder.last_error
