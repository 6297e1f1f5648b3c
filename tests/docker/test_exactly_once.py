"""Exactly one decision per request id for a ``read_committed`` consumer, on Apache Kafka (the deployment's image):
scoring SIGKILLed at three random moments of a 5,000-application stream, 200 request ids republished, with
``SCORING_DELIVERY=exactly_once`` (decisions, dead letters and offsets in one Kafka transaction per batch).

The embedded broker (tansu) has no transactions; ``tests/integration/test_scoring_kill.py`` runs the same scenario
there and shows what holds (at least once, identical copies, one audit row per request id).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from credit_local import infra
from credit_shared import db
from credit_shared.contracts.loans import LoanApplicationMessage
from credit_shared.kafka import ensure_topics
from credit_shared.settings import KafkaSettings, MlflowSettings
from tests.integration.kill_scenario import COUNT, sigkill_stream
from tests.scoring_models import register, train_lightgbm

pytestmark = pytest.mark.docker


@dataclass(frozen=True)
class Place:
    bootstrap: str
    mlflow: MlflowSettings
    database_url: str
    folder: Path


@pytest.fixture(scope="module")
def kafka(images: dict[str, str], compose_model: dict[str, Any]) -> Iterator[str]:
    """The deployment's Kafka image in KRaft mode, every topic created: ``host:port``."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    port = infra.free_port()
    environment = {k: str(v) for k, v in compose_model["services"]["kafka"]["environment"].items()}
    environment |= {
        "KAFKA_ADVERTISED_LISTENERS": f"INTERNAL://localhost:9092,HOST://localhost:{port}",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
    }
    container = (
        DockerContainer(images["kafka"])
        .with_envs(**environment)
        .with_bind_ports(29092, port)
        .waiting_for(LogMessageWaitStrategy("Kafka Server started").with_startup_timeout(180))
    )
    with container:
        bootstrap = f"localhost:{port}"
        asyncio.run(ensure_topics(KafkaSettings(bootstrap_servers=bootstrap), timeout_s=120))
        yield bootstrap


@pytest.mark.anyio
async def test_three_sigkills_leave_exactly_one_decision_per_request_id_for_a_read_committed_consumer(
    kafka: str, mlflow_server: str, sample_data: Path, tmp_path: Path
) -> None:
    settings = MlflowSettings(tracking_uri=mlflow_server, model_name=f"credit-default-{uuid.uuid4().hex[:6]}")
    trained = train_lightgbm(sample_data, seed=0)
    version = register(trained, tracking_uri=mlflow_server, name=settings.model_name, dataset_id="ds-eos")
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server).set_registered_model_alias(
        settings.model_name, "champion", version
    )
    database_url = f"sqlite:///{tmp_path / 'credit.db'}"
    db.migrate(database_url)
    place = Place(kafka, settings, database_url, tmp_path)
    applications: list[LoanApplicationMessage] = trained.applications
    prefix = f"eos-{uuid.uuid4().hex[:6]}"
    run = await sigkill_stream(place, applications, prefix, seed=23, SCORING_DELIVERY="exactly_once",
                               SCORING_TRANSACTIONAL_ID=f"scoring-{prefix}")  # fmt: skip
    copies = run.copies()
    assert set(copies) == set(run.ids)
    assert set(copies.values()) == {1}, "exactly one decision per request id for a read_committed consumer"
    assert sum(copies.values()) == COUNT
    assert dict(run.audit) == dict.fromkeys(run.ids, 1), "and one audit row each"
    assert run.seen_at_kills == sorted(set(run.seen_at_kills)), "each kill while its process was deciding"
