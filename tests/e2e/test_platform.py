"""The platform as `make up` starts it (the same code, `launcher.up`), on free ports in a temporary CREDIT_HOME.

Every service becomes healthy, a message published on `loan-applications` by a plain aiokafka producer reaches the
scoring service, a second `up` is refused while running, `down` leaves no process and no bound port, and a new `up`
keeps the data of the first.
"""

import asyncio
import json
import time
from pathlib import Path

import psutil
import pytest
from aiokafka import AIOKafkaProducer

from credit_local import launcher, platform_home
from credit_local.processes import port_in_use, records, tail
from credit_shared import topics
from credit_shared.contracts.loans import EXAMPLE_APPLICATION
from credit_shared.settings import PlatformSettings
from tests.e2e.conftest import counter, free_ports

pytestmark = pytest.mark.e2e

EVERY_PROCESS = {*platform_home.INFRASTRUCTURE, *platform_home.SERVICES}


async def publish(bootstrap: str, value: bytes, key: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topics.LOAN_APPLICATIONS.name, value, key=key)
    finally:
        await producer.stop()


def wait_for_counter(metrics_url: str, name: str, at_least: float, log: Path, timeout_s: float = 120) -> float:
    deadline = time.monotonic() + timeout_s
    while (value := counter(metrics_url, name)) < at_least:
        assert time.monotonic() < deadline, f"{name} stayed at {value} (< {at_least}) for {timeout_s} s:\n{tail(log)}"
        time.sleep(0.5)
    return value


def test_up_runs_every_service_healthy_then_down_leaves_nothing_and_a_new_up_keeps_the_data(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    home = tmp_path / "home"
    settings, local = PlatformSettings(home=home), free_ports()
    platform = launcher.up(settings, local)
    try:
        statuses = launcher.status(settings)
        assert {s.name for s in statuses} == EVERY_PROCESS
        assert all(s.alive and s.healthy for s in statuses), statuses
        assert set(platform.healthy_after_s) == EVERY_PROCESS
        pids = {r.pid for r in records(home / "run")}

        metrics = f"http://127.0.0.1:{local.scoring_port}/metrics"
        before = counter(metrics, "scoring_messages_received_total")
        message = json.dumps({"request_id": "e2e-1", "application": EXAMPLE_APPLICATION}).encode()
        asyncio.run(publish(platform.urls["kafka"], message, key=str(EXAMPLE_APPLICATION["SK_ID_CURR"]).encode()))
        wait_for_counter(metrics, "scoring_messages_received_total", before + 1, home / "logs" / "scoring.log")

        with pytest.raises(platform_home.AlreadyRunningError):
            launcher.up(settings, free_ports())
        experiment = MlflowClient(tracking_uri=platform.urls["mlflow"]).create_experiment("kept-across-restarts")
        (home / "datasets").mkdir(exist_ok=True)
        (home / "datasets" / "marker").write_text("kept")
    finally:
        stopped = launcher.down(settings)
    assert set(stopped) == EVERY_PROCESS
    assert launcher.status(settings) == []
    assert not [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
    assert not [port for port in local.ports().values() if port_in_use(port)]

    second = launcher.up(settings, free_ports())
    try:
        assert second.keys == platform.keys
        kept = MlflowClient(tracking_uri=second.urls["mlflow"]).get_experiment_by_name("kept-across-restarts")
        assert kept is not None
        assert kept.experiment_id == experiment
        assert (home / "datasets" / "marker").read_text() == "kept"
    finally:
        launcher.down(settings)
