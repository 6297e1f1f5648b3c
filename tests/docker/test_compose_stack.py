"""The whole compose deployment as an operator runs it: ``docker compose up`` builds the images from this repository,
every container becomes healthy and every one-shot job finishes; the topics have their partition counts; a loan
application published on the host listener gets its decision (through the gateway: build a dataset, train, promote);
``--scale scoring=3`` puts three consumers in one group; the volumes keep the state across ``down`` and ``up``.

It needs the Docker CLI with the compose plugin besides the engine. It runs as its own compose project on free host
ports, and removes its containers and volumes at the end.
"""

import asyncio
import json
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from credit_local.infra import free_port
from credit_shared.contracts.loans import EXAMPLE_APPLICATION, LoanDecision, message_key
from credit_shared.kafka import topic_partitions
from credit_shared.settings import KafkaSettings
from credit_shared.topics import ALL_TOPICS, LOAN_APPLICATIONS, LOAN_DECISIONS, partitions_of

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "deploy" / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
ONE_SHOT = {"kafka-init", "minio-init", "db-migrate"}
PARTITIONS = 3
UP_TIMEOUT_S = 1800.0  # the first build downloads every wheel


@dataclass
class Stack:
    """A running compose project and how to reach it from the host."""

    project: str
    env_file: Path
    env: dict[str, str]

    def compose(self, *args: str, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
        command = ["docker", "compose", "-p", self.project, "-f", str(COMPOSE_FILE), "--env-file", str(self.env_file)]
        return subprocess.run([*command, *args], capture_output=True, text=True, timeout=timeout_s, check=False)

    def containers(self) -> list[dict[str, Any]]:
        done = self.compose("ps", "--all", "--format", "json")
        assert done.returncode == 0, done.stderr
        text = done.stdout.strip()
        if not text:
            return []
        if text.startswith("["):  # older compose prints one array, newer one object per line
            rows: list[dict[str, Any]] = json.loads(text)
            return rows
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.env['GATEWAY_HOST_PORT']}"

    @property
    def kafka(self) -> str:
        return f"127.0.0.1:{self.env['KAFKA_HOST_PORT']}"

    @property
    def mlflow(self) -> str:
        return f"http://127.0.0.1:{self.env['MLFLOW_HOST_PORT']}"


def wait_for(what: str, check: Callable[[], bool], timeout_s: float, interval_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not true after {timeout_s:.0f} s")
        time.sleep(interval_s)


def settled(stack: Stack, replicas: dict[str, int] | None = None) -> bool:
    """Every long-running container healthy, every one-shot job exited 0 (raises when a job failed)."""
    rows = stack.containers()
    counts: dict[str, int] = {}
    for row in rows:
        service = row["Service"]
        if service in ONE_SHOT:
            if row["State"] == "exited":
                assert int(row.get("ExitCode", 0)) == 0, f"{service} failed: {stack.compose('logs', service).stdout}"
                continue
            return False
        if row["State"] != "running" or row.get("Health") != "healthy":
            return False
        counts[service] = counts.get(service, 0) + 1
    expected = {"kafka", "postgres", "minio", "mlflow", "ingestion", "training", "scoring", "monitoring", "gateway"}
    return expected | {"frontend"} <= set(counts) and all(counts.get(s, 0) == n for s, n in (replicas or {}).items())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed")
    if subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode != 0:
        pytest.skip("the docker compose plugin is not installed")
    env = {
        line.split("=", 1)[0]: line.split("=", 1)[1]
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#") and "=" in line
    }
    for name in [n for n, v in env.items() if v == "change-me"]:
        env[name] = secrets.token_hex(16)  # real secrets: placeholders are refused in production
    env |= {
        "KAFKA_PARTITIONS": str(PARTITIONS),
        "KAFKA_HOST_PORT": str(free_port()),
        "MLFLOW_HOST_PORT": str(free_port()),
        "GATEWAY_HOST_PORT": str(free_port()),
        "FRONTEND_HOST_PORT": str(free_port()),
        "GATEWAY_HOST_BIND": "127.0.0.1",
        "FRONTEND_HOST_BIND": "127.0.0.1",
    }
    env_file = tmp_path_factory.mktemp("compose") / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    running = Stack(f"credit-test-{uuid.uuid4().hex[:6]}", env_file, env)
    try:
        up = running.compose("up", "--detach", "--build", timeout_s=UP_TIMEOUT_S)
        assert up.returncode == 0, up.stderr
        wait_for("every container healthy", lambda: settled(running), timeout_s=600)
        yield running
    except BaseException:
        print(running.compose("logs", "--no-color", "--tail", "80").stdout)  # pytest shows it with the failure
        raise
    finally:
        running.compose("down", "--volumes", "--remove-orphans", timeout_s=300)


def test_every_container_is_healthy_and_every_job_finished(stack: Stack) -> None:
    rows = stack.containers()
    assert {r["Service"] for r in rows} >= ONE_SHOT
    assert settled(stack)


def test_topics_have_their_partition_counts(stack: Stack) -> None:
    partitions = asyncio.run(topic_partitions(KafkaSettings(bootstrap_servers=stack.kafka)))
    for topic in ALL_TOPICS:
        assert partitions[topic.name] == partitions_of(topic, PARTITIONS), topic.name


def test_dashboard_and_mlflow_answer_on_their_published_ports(stack: Stack) -> None:
    assert (
        httpx.get(f"http://127.0.0.1:{stack.env['FRONTEND_HOST_PORT']}/_stcore/health", timeout=10).status_code == 200
    )
    assert httpx.get(f"{stack.mlflow}/health", timeout=10).text == "OK"
    ready = httpx.get(f"{stack.gateway}/ready", timeout=10)
    assert ready.status_code == 200, ready.text


def run_job(stack: Stack, path: str, body: dict[str, Any], timeout_s: float = 900) -> dict[str, Any]:
    headers = {"X-API-Key": stack.env["CREDIT_ADMIN_KEY"]}
    started = httpx.post(f"{stack.gateway}{path}", json=body, headers=headers, timeout=30)
    assert started.status_code == 202, started.text
    url = f"{stack.gateway}{started.json()['url']}"
    job: dict[str, Any] = {}

    def finished() -> bool:
        nonlocal job
        job = httpx.get(url, headers=headers, timeout=30).json()
        return job["status"] in {"succeeded", "failed"}

    wait_for(f"job {path}", finished, timeout_s=timeout_s, interval_s=3)
    assert job["status"] == "succeeded", job
    return job


def test_a_published_application_gets_its_decision_from_the_promoted_champion(stack: Stack) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    built = run_job(stack, "/v1/datasets", {"name": "compose-smoke", "source": "synthetic"})
    dataset_id = built["result"]["dataset_id"]
    trained = run_job(
        stack,
        "/v1/training",
        {"dataset_id": dataset_id, "run_name": "compose-smoke", "family": "logistic_regression", "folds": 2},
    )
    version = str(trained["result"]["version"])
    run_job(stack, "/v1/registry/aliases/champion", {"version": version, "force": True})

    request_id = f"compose-{uuid.uuid4().hex[:12]}"
    message = json.dumps({"request_id": request_id, "application": EXAMPLE_APPLICATION}).encode()

    async def round_trip() -> LoanDecision:
        consumer = AIOKafkaConsumer(
            LOAN_DECISIONS.name,
            bootstrap_servers=stack.kafka,
            group_id=f"compose-test-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="latest",
        )
        await consumer.start()
        try:
            producer = AIOKafkaProducer(bootstrap_servers=stack.kafka)
            await producer.start()
            try:
                key = message_key(int(EXAMPLE_APPLICATION["SK_ID_CURR"]))
                await producer.send_and_wait(LOAN_APPLICATIONS.name, message, key=key)
            finally:
                await producer.stop()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    for record in records:
                        decision = LoanDecision.model_validate_json(record.value)
                        if decision.request_id == request_id:
                            return decision
            raise AssertionError(f"no decision for {request_id} within 120 s")
        finally:
            await consumer.stop()

    decision = asyncio.run(round_trip())
    assert decision.sk_id_curr == EXAMPLE_APPLICATION["SK_ID_CURR"]
    assert decision.model.alias == "champion"
    assert decision.model.version == version
    assert (decision.decision == "refused") == (decision.probability >= decision.threshold)


def test_scoring_scales_to_three_replicas_in_one_consumer_group(stack: Stack) -> None:
    scaled = stack.compose("up", "--detach", "--no-recreate", "--scale", "scoring=3")
    assert scaled.returncode == 0, scaled.stderr
    wait_for("three healthy scoring replicas", lambda: settled(stack, {"scoring": 3}), timeout_s=300)

    def members() -> int:
        done = stack.compose(
            "exec", "-T", "kafka", "/opt/kafka/bin/kafka-consumer-groups.sh",
            "--bootstrap-server", "localhost:9092", "--describe", "--group", "scoring", "--members",
        )  # fmt: skip
        return sum(1 for line in done.stdout.splitlines() if line.startswith("scoring "))

    wait_for("three members in the scoring group", lambda: members() == 3, timeout_s=180)


def test_state_survives_down_and_up(stack: Stack) -> None:
    from mlflow import MlflowClient

    name = f"kept-{uuid.uuid4().hex[:8]}"
    experiment = MlflowClient(tracking_uri=stack.mlflow).create_experiment(name)
    down = stack.compose("down", timeout_s=300)  # keeps the volumes
    assert down.returncode == 0, down.stderr
    up = stack.compose("up", "--detach", timeout_s=600)
    assert up.returncode == 0, up.stderr
    wait_for("every container healthy again", lambda: settled(stack), timeout_s=600)
    kept = MlflowClient(tracking_uri=stack.mlflow).get_experiment_by_name(name)
    assert kept is not None
    assert kept.experiment_id == experiment
    partitions = asyncio.run(topic_partitions(KafkaSettings(bootstrap_servers=stack.kafka)))
    assert partitions[LOAN_APPLICATIONS.name] == PARTITIONS
