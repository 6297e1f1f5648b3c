"""The gateway's building blocks: API keys, token buckets, the data cache, distributions, the key CLI."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from credit_shared import db
from gateway_service import __main__ as cli
from gateway_service import tables
from gateway_service.data import DataCache, json_safe
from gateway_service.jobs import JobStore, result_url
from gateway_service.ratelimit import TokenBuckets, retry_after
from gateway_service.security import KeyStore, Role, hash_key, load_dev_keys
from gateway_service.settings import get_settings
from gateway_service.stats import correlation_spread, distribution

pytestmark = pytest.mark.unit


@pytest.fixture
def engine_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'credit.db'}"
    tables.migrate(url)
    return url


def test_a_created_key_is_stored_only_as_its_hash_and_verifies_to_its_role(engine_url: str) -> None:
    engine = db.make_engine(engine_url)
    keys = KeyStore(engine, cache_s=0)
    key, principal = keys.create("risk team", Role.ANALYST)
    with engine.connect() as conn:
        stored = [tuple(r) for r in conn.exec_driver_sql("SELECT key_hash, role FROM api_keys")]
    assert stored == [(hash_key(key), "analyst")]
    assert key not in str(stored)
    assert keys.verify(key) == principal
    assert keys.verify(key + "x") is None
    assert keys.revoke(principal.key_id)
    assert keys.verify(key) is None
    assert not keys.revoke("nobody")


def test_roles_are_ordered_and_unknown_roles_are_refused() -> None:
    assert Role.VIEWER < Role.ANALYST < Role.ADMIN
    assert Role.parse("Admin") is Role.ADMIN
    with pytest.raises(ValueError, match="unknown role"):
        Role.parse("root")


def test_development_keys_are_upserted_and_replace_their_previous_value(engine_url: str, tmp_path: Path) -> None:
    keys = KeyStore(db.make_engine(engine_url), cache_s=60)
    path = tmp_path / "keys.json"
    path.write_text('{"viewer": "v1", "admin": "a1"}')
    assert load_dev_keys(keys, path) == ["viewer", "admin"]
    assert keys.verify("v1") is not None
    path.write_text('{"viewer": "v2", "admin": "a1"}')
    load_dev_keys(keys, path)
    assert keys.verify("v1") is None
    principal = keys.verify("v2")
    assert principal is not None
    assert (principal.key_id, principal.role) == ("dev-viewer", Role.VIEWER)
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="role -> key"):
        load_dev_keys(keys, path)


def test_a_token_bucket_allows_its_burst_then_refills_at_its_rate() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate_per_s=2.0, burst=3, clock=lambda: now[0])
    assert [buckets.take("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = buckets.take("k")
    assert wait == pytest.approx(0.5)
    assert buckets.take("other") == 0.0  # one bucket per key
    now[0] += 0.5
    assert buckets.take("k") == 0.0
    assert retry_after(0.01) == "1"
    assert retry_after(2.2) == "3"


def test_the_data_cache_loads_a_key_once_even_under_concurrent_requests() -> None:
    cache = DataCache(max_items=2)
    calls: list[int] = []
    gate = threading.Event()

    def load() -> str:
        gate.wait(2)
        calls.append(1)
        return "loaded"

    threads = [threading.Thread(target=lambda: cache.get("a", load)) for _ in range(5)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join()
    assert len(calls) == 1
    cache.get("b", lambda: "b")
    cache.get("c", lambda: "c")  # evicts the least recently used
    assert cache.get("a", lambda: "again") == "again"
    cache.drop(lambda key: key == "a")
    assert cache.get("a", lambda: "third") == "third"


def test_json_safe_turns_nan_and_numpy_scalars_into_plain_values() -> None:
    assert json_safe(float("nan")) is None
    assert json_safe(np.float32(1.5)) == 1.5
    assert isinstance(json_safe(np.int64(3)), int)


def test_a_numeric_distribution_counts_every_value_once() -> None:
    series = pd.Series([1.0, 2.0, 2.0, 3.0, None, float("inf")])
    result = distribution("x", series, bins=2)
    assert (result.kind, result.count, result.missing) == ("numeric", 4, 1)
    assert sum(b.count for b in result.bins or []) == 4
    assert result.quantiles is not None
    assert result.quantiles["p50"] == 2.0


def test_a_categorical_distribution_lists_the_most_frequent_first() -> None:
    result = distribution("c", pd.Series(["a", "b", "b", None]))
    assert [(c.value, c.count) for c in result.categories or []] == [("b", 2), ("a", 1)]
    assert (result.missing, result.other) == (1, 0)


def test_the_correlation_spread_finds_the_strongest_pairs() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    frame = pd.DataFrame({"x": x, "y": 2 * x + 0.01 * rng.normal(size=200), "z": rng.normal(size=200), "k": 1})
    spread = correlation_spread(frame, top=1)
    assert (spread.columns, spread.pairs) == (3, 3)  # the constant column is left out
    assert {spread.top[0].a, spread.top[0].b} == {"x", "y"}
    assert sum(b.count for b in spread.bins) == 3


def test_a_job_result_links_to_the_resource_it_produced() -> None:
    assert result_url({"dataset_id": "ds-1"}) == "/v1/datasets/ds-1"
    assert result_url({"report_id": "r1", "dataset_id": "ds-1"}) == "/v1/monitoring/reports/r1"
    assert result_url({"run_id": "abc", "version": "3"}) == "/v1/registry/versions/3"
    assert result_url({"run_id": "abc"}) == "/v1/runs/abc"
    assert result_url({}) is None


def test_a_finished_job_ignores_later_events(engine_url: str) -> None:
    jobs = JobStore(db.make_engine(engine_url))
    job = jobs.create("dataset.build", {"name": "x"}, "k")
    assert jobs.apply({"type": "dataset.failed", "correlation_id": job.job_id, "payload": {"reason": "r"}})
    assert not jobs.apply({"type": "dataset.built", "correlation_id": job.job_id, "payload": {}})
    assert not jobs.apply({"type": "dataset.built", "payload": {}})
    assert not jobs.apply({"payload": "not an envelope"})
    found = jobs.get(job.job_id)
    assert found is not None
    assert found.status == "failed"


def test_the_key_cli_creates_a_key_shown_once_and_revokes_it(
    engine_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", engine_url)
    get_settings.cache_clear()
    try:
        assert cli.main(["create-key", "--role", "admin", "--name", "ops"]) == 0
        out = capsys.readouterr().out
        key_id = out.split("key id:")[1].split()[0]
        key = out.split("key:")[1].split()[0]
        keys = KeyStore(db.make_engine(engine_url), cache_s=0)
        principal = keys.verify(key)
        assert principal is not None
        assert principal.role is Role.ADMIN
        assert cli.main(["revoke-key", key_id]) == 0
        assert keys.verify(key) is None
        assert cli.main(["revoke-key", "nobody"]) == 1
    finally:
        get_settings.cache_clear()


def test_the_data_cache_drops_the_oldest_values_beyond_its_memory_budget() -> None:
    cache = DataCache(max_items=10, max_bytes=3000)
    for key in ("a", "b", "c"):
        cache.get(key, lambda: np.zeros(125))  # 1000 bytes each
    cache.get("d", lambda: np.zeros(125))
    assert cache.get("a", lambda: "reloaded") == "reloaded"  # "a" was dropped
    huge = cache.get("huge", lambda: np.zeros(10_000))
    assert cache.get("huge", lambda: "reloaded") is huge  # the latest value is kept even over budget


@pytest.mark.anyio
async def test_a_request_whose_publication_hangs_times_out() -> None:
    import asyncio

    from gateway_service.replies import ReplyTimeout, ReplyWaiter

    waiter = ReplyWaiter()

    async def hanging() -> None:
        await asyncio.Event().wait()

    with pytest.raises(ReplyTimeout):
        await waiter.request("c1", hanging, 0.05)
    assert waiter.pending == 0


@pytest.mark.anyio
async def test_a_reply_resolves_only_its_own_request() -> None:
    import asyncio

    from gateway_service.replies import ReplyWaiter

    waiter = ReplyWaiter()

    async def publish() -> None:
        assert not waiter.resolve({"correlation_id": "other"})
        asyncio.get_running_loop().call_soon(waiter.resolve, {"correlation_id": "c2", "decision": "approved"})

    assert (await waiter.request("c2", publish, 1.0))["decision"] == "approved"
    assert not waiter.resolve({"correlation_id": "c2"})  # nobody waits any more


def test_the_gateway_imports_no_model_library() -> None:
    """LightGBM and scikit-learn cost the gateway 90 MB and seconds of start-up for nothing it does."""
    import subprocess
    import sys

    probe = "import sys, gateway_service.app; print(sorted({'lightgbm', 'sklearn'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"
