"""SIGKILL each worker service in turn while applications flow, restart it as the launcher does: nothing is lost.

The module runs its own platform (``start_platform``): killing processes of the shared one would break other tests.
A producer publishes applications continuously with the independent client; each of ingestion, training, scoring,
monitoring and the gateway is killed with SIGKILL (no chance to clean up, like a crash or the OOM killer) and
started again with ``launcher.restart`` (the code behind ``credit restart NAME``). After the traffic stops, every
published request id has at least one decision on ``loan-decisions`` and exactly one audit row; each restarted service
is healthy and does its work again (the gateway reads, ingestion builds a dataset, training promotes, monitoring
reads decisions).
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from credit_local import launcher
from credit_local.bootstrap import follow
from credit_local.processes import read_record
from tests.e2e.conftest import audit_rows, counter, start_platform
from tests.e2e.outside import Traffic, kaggle_rows

if TYPE_CHECKING:
    from tests.e2e.conftest import Running

# one platform start, a first-start bootstrap and five restarts of ~30 s each (python imports under load): the module's
# fixture runs 5-11 minutes on a busy two-core machine, beyond the suite's 600 s per test
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

RATE_PER_S = 30.0
KILLED = ("ingestion", "training", "scoring", "monitoring", "gateway")


@dataclass
class Outcome:
    """What the module saw: the traffic, how long each restart took, what each restarted service did again."""

    traffic: Traffic
    restart_s: dict[str, float] = field(default_factory=dict)
    healthy_after: dict[str, bool] = field(default_factory=dict)
    gateway_read: int = 0
    promotion: dict[str, Any] = field(default_factory=dict)
    build: dict[str, Any] = field(default_factory=dict)
    monitoring_decisions: float = 0.0
    audit: dict[str, int] = field(default_factory=dict)  # request id -> rows
    ready_at_end: dict[str, int] = field(default_factory=dict)  # service -> status of GET /ready after the traffic
    module_s: float = 0.0


def sigkill(running: Running, name: str) -> None:
    """Kill the service's process with SIGKILL, as a crash would, and wait until it is gone."""
    record = read_record(running.home / "run", name)
    assert record is not None
    process = record.process()
    assert process is not None, f"{name} was not running before the kill"
    os.kill(record.pid, signal.SIGKILL)
    process.wait(timeout=30)


def wait_for(check: Any, what: str, timeout_s: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := check()):
        assert time.monotonic() < deadline, f"{what} not within {timeout_s:.0f} s"
        time.sleep(1)
    return value


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory, sample_data: Path) -> Outcome:
    started = time.monotonic()
    with start_platform(tmp_path_factory.mktemp("faults-workers") / "home", applicants=1_000) as running:
        api, admin = running.platform.urls["api"], running.headers("admin")
        traffic = Traffic(running.platform.urls["kafka"], kaggle_rows(sample_data, 200))
        result = Outcome(traffic)
        traffic.start()
        try:
            wait_for(lambda: len(traffic.decided) >= 50, "decisions before the first kill")
            for name in KILLED:
                sigkill(running, name)
                began = time.monotonic()
                launcher.restart(running.settings, name, timeout_s=180)
                result.restart_s[name] = round(time.monotonic() - began, 1)
                result.healthy_after[name] = all(s.healthy for s in launcher.status(running.settings) if s.name == name)
                if name == "ingestion":
                    body = {"name": "after-a-kill", "description": "built by a restarted ingestion service"}
                    build = httpx.post(f"{api}/v1/datasets", json=body, headers=admin, timeout=60)
                    result.build = build.raise_for_status().json()
                elif name == "training":
                    body = {"version": running.served.version}
                    job = httpx.post(f"{api}/v1/registry/aliases/champion", json=body, headers=admin, timeout=60)
                    with httpx.Client(base_url=api, headers=admin, timeout=60) as client:
                        promoted = follow(client, job.raise_for_status().json(), "promotion", lambda *_: None, 120)
                    result.promotion = {"status": "succeeded", **promoted}
                elif name == "monitoring":
                    metrics = f"http://127.0.0.1:{running.local.monitoring_port}/metrics"
                    result.monitoring_decisions = wait_for(
                        lambda url=metrics: counter(url, "monitoring_decisions_total"), "monitoring reading decisions"
                    )
                elif name == "gateway":
                    seen = next(iter(list(traffic.decided)))
                    read = httpx.get(f"{api}/v1/decisions/{seen}", headers=running.headers("viewer"), timeout=30)
                    result.gateway_read = read.status_code
        finally:
            traffic.finish()
        if result.build:
            with httpx.Client(base_url=api, headers=admin, timeout=60) as client:
                result.build = {"status": "succeeded", **follow(client, result.build, "build", lambda *_: None, 300)}
        result.audit = audit_rows(running, f"fault-{traffic.run}-")
        for name in KILLED:
            ready = httpx.get(f"http://127.0.0.1:{running.local.port_of(name)}/ready", timeout=30)
            result.ready_at_end[name] = ready.status_code
    result.module_s = round(time.monotonic() - started, 1)
    print(
        f"\nworker faults: {len(traffic.sent)} published at {RATE_PER_S:.0f}/s, restart (kill to healthy) "
        f"{result.restart_s} s, duplicate decisions on the topic: "
        f"{sum(n - 1 for n in traffic.decided.values() if n > 1)}, module {result.module_s} s"
    )
    return result


def test_every_published_application_has_a_decision_and_exactly_one_audit_row(outcome: Outcome) -> None:
    traffic = outcome.traffic
    assert traffic.errors == []
    assert len(traffic.delivered) >= RATE_PER_S * 30, "too little traffic flowed during the kills"
    undecided = traffic.delivered - set(traffic.decided)
    assert not undecided, f"{len(undecided)} published request(s) without a decision, e.g. {sorted(undecided)[:5]}"
    unaudited = traffic.delivered - set(outcome.audit)
    assert not unaudited, f"{len(unaudited)} published request(s) without an audit row, e.g. {sorted(unaudited)[:5]}"
    assert set(outcome.audit) <= set(traffic.sent)
    assert set(outcome.audit.values()) == {1}, "a request id has more than one audit row"


def test_every_killed_service_is_healthy_again_and_ready_at_the_end(outcome: Outcome) -> None:
    assert set(outcome.restart_s) == set(KILLED)
    assert all(outcome.healthy_after.values()), outcome.healthy_after
    assert outcome.ready_at_end == dict.fromkeys(KILLED, 200)


def test_a_restarted_gateway_serves_reads(outcome: Outcome) -> None:
    assert outcome.gateway_read == 200


def test_a_restarted_ingestion_service_builds_a_dataset(outcome: Outcome) -> None:
    assert outcome.build["status"] == "succeeded"
    assert outcome.build["dataset_id"].startswith("ds-")


def test_a_restarted_training_service_promotes(outcome: Outcome) -> None:
    assert outcome.promotion["status"] == "succeeded"


def test_a_restarted_monitoring_service_reads_decisions_again(outcome: Outcome) -> None:
    assert outcome.monitoring_decisions > 0
