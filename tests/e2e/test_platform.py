"""The platform as `make up` starts it: every service healthy, a message reaches scoring, `down` leaves nothing."""

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from credit_local import launcher
from credit_local.processes import free_port, port_in_use
from credit_shared.contracts.loans import EXAMPLE_APPLICATION
from credit_shared.settings import PlatformSettings

pytestmark = pytest.mark.e2e


def free_ports() -> launcher.LocalSettings:
    names = [n for n in launcher.LocalSettings.model_fields if n.endswith("_port")]
    return launcher.LocalSettings(**{n: free_port() for n in names})


def metric(url: str, name: str) -> float:
    for line in httpx.get(url).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


async def publish(bootstrap: str, *messages: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for value in messages:
            await producer.send_and_wait("loan-applications", value, key=b"100001")
    finally:
        await producer.stop()


def test_up_starts_every_service_healthy_and_down_leaves_nothing(tmp_path: Path) -> None:
    settings, local = PlatformSettings(home=tmp_path / "home"), free_ports()
    platform = launcher.up(settings, local)
    try:
        statuses = launcher.status(settings)
        assert {s.name for s in statuses} == {"kafka", "mlflow", *launcher.WORKERS, "gateway", "frontend"}
        assert all(s.alive and s.healthy for s in statuses), statuses
        assert httpx.get(f"{platform.urls['api']}/ready").json()["ready"] is True

        metrics = f"http://127.0.0.1:{local.scoring_port}/metrics"
        message = json.dumps({"request_id": "e2e-1", "application": EXAMPLE_APPLICATION}).encode()
        asyncio.run(publish(platform.urls["kafka"], message))
        deadline = time.monotonic() + 60
        while metric(metrics, "scoring_messages_received_total") < 1 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert metric(metrics, "scoring_messages_received_total") >= 1

        with pytest.raises(launcher.AlreadyRunningError):
            launcher.up(settings, local)
    finally:
        stopped = launcher.down(settings)
    assert set(stopped) == {"kafka", "mlflow", *launcher.WORKERS, "gateway", "frontend"}
    assert launcher.status(settings) == []
    assert not any(port_in_use(p) for p in local.ports().values())


def test_a_second_up_keeps_the_data_of_the_first(tmp_path: Path) -> None:
    settings, local = PlatformSettings(home=tmp_path / "home"), free_ports()
    first = launcher.up(settings, local)
    launcher.down(settings)
    (tmp_path / "home" / "datasets").mkdir(exist_ok=True)
    second = launcher.up(settings, free_ports())
    try:
        assert second.keys == first.keys
        assert (tmp_path / "home" / "credit.db").is_file()
        assert (tmp_path / "home" / "mlflow" / "mlflow.db").is_file()
    finally:
        launcher.down(settings)
