"""Benchmark of the gateway over real HTTP and a real Kafka-protocol broker.

    uv run python bench/gateway.py            # 3 x 10 s throughput windows, 30 s of decisions at 100 rps
    uv run python bench/gateway.py --quick    # 3 x 2 s windows, 5 s of decisions

It starts a tansu broker, the gateway (``python -m gateway_service``, one uvicorn worker) and a stand-in scoring
responder (a FastStream consumer of ``loan-applications`` that answers on the reply topic at once), then measures:

- ``health_rps``: ``GET /health``, closed loop, 32 concurrent connections (median of 3 windows);
- ``read_rps``: ``GET /v1/datasets/{id}/parts/train/rows?limit=50`` with a viewer key, a cached read that goes
  through authentication, the key cache, the data cache and JSON serialisation (median of 3 windows);
- ``decision_p50_ms_at_100`` / ``decision_p99_ms_at_100``: ``POST /v1/scoring/decisions``, open loop at 100
  requests per second: HTTP + validation + Kafka publish + the reply consumer + the future, without a model
  (the responder answers at once, so the figure is the gateway's and the broker's share of a decision);
- ``decision_gateway_cpu_ms``: the gateway process's CPU time (user + system) per decision of that phase, the cost
  of its own code, which a loaded machine delays but does not inflate.

The load generator is Python (httpx) on the same 2 cores as the gateway: throughput figures are a floor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import psutil
from _report import load_average, machine, started_at, write_and_print

ROOT = Path(__file__).resolve().parents[1]
DATASET = "ds-bench-gateway"
KEYS = {"viewer": "bench-viewer-key", "analyst": "bench-analyst-key", "admin": "bench-admin-key"}
APPLICATION = {"SK_ID_CURR": 100001, "AMT_INCOME_TOTAL": 135000.0, "AMT_CREDIT": 568800.0, "EXT_SOURCE_3": 0.16}


# ----------------------------------------------------------------------------------------------- stand-in scoring
def responder(bootstrap: str) -> None:
    """Answer every application that has a reply address with an approval, at once (runs in its own process)."""
    from faststream.kafka import KafkaBroker

    broker = KafkaBroker(bootstrap)

    @broker.subscriber(
        "loan-applications",
        group_id=f"bench-scoring-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="latest",
        fetch_max_wait_ms=10,  # a real scoring service tunes its own; the stand-in must not add to the figure
        session_timeout_ms=30_000,  # a starved machine must not make the only member miss its heartbeats
        heartbeat_interval_ms=1000,
    )
    async def score(body: dict[str, Any]) -> None:
        if not body.get("reply_to"):
            return
        await broker.publish(
            {
                "request_id": body["request_id"],
                "sk_id_curr": body["application"]["SK_ID_CURR"],
                "probability": 0.05,
                "threshold": 0.1,
                "decision": "approved",
                "reasons": [],
                "model": {"name": "credit-default", "version": "1", "alias": "champion", "run_id": "bench"},
                "scored_at": datetime.now(UTC).isoformat(),
                "latency_ms": 0.1,
                "correlation_id": body["correlation_id"],
            },
            topic=body["reply_to"],
        )

    async def main() -> None:
        await broker.start()
        try:
            await asyncio.Event().wait()
        finally:
            await broker.stop()

    asyncio.run(main())


# ----------------------------------------------------------------------------------------------------- set-up
def write_dataset(datasets_dir: Path, rows: int = 5000, features: int = 40) -> None:
    from credit_shared.datasets import MANIFEST, PRODUCTION, TRAIN, DatasetManifest, FeatureInfo, dataset_dir

    folder = dataset_dir(datasets_dir, DATASET)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = [f"F_{i:03d}" for i in range(features)]
    frame = pd.DataFrame(rng.normal(size=(rows, features)), columns=names)
    frame.insert(0, "SK_ID_CURR", np.arange(100000, 100000 + rows))
    frame["TARGET"] = rng.integers(0, 2, rows)
    frame.to_parquet(folder / TRAIN)
    frame.drop(columns="TARGET").head(500).to_parquet(folder / PRODUCTION)
    manifest = DatasetManifest(
        dataset_id=DATASET,
        name="bench",
        source_checksum="0" * 64,
        source_kind="synthetic",
        features=[FeatureInfo(name=n, type="float", label=n, source="bench", online="request") for n in names],
        sizes={"train": rows, "production": 500, "features": features},
    )
    (folder / MANIFEST).write_text(manifest.model_dump_json())


# ----------------------------------------------------------------------------------------------------- load
async def closed_loop(url: str, headers: dict[str, str], seconds: float, concurrency: int = 32) -> float:
    """Requests per second answered 200 by ``concurrency`` clients looping for ``seconds``."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=10.0) as client:
        done = 0
        failed = 0
        stop_at = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done, failed
            while time.perf_counter() < stop_at:
                try:
                    response = await client.get(url, headers=headers)
                except httpx.HTTPError:
                    failed += 1
                    continue
                if response.status_code == 200:
                    done += 1
                else:
                    failed += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    if failed > done // 100:  # a few connection resets under heavy load are tolerated, not more
        raise RuntimeError(f"{failed} requests to {url} failed ({done} succeeded)")
    return done / elapsed


async def open_loop_decisions(base: str, rate: float, seconds: float) -> tuple[list[float], int]:
    """Latencies (ms) of decisions sent at ``rate`` per second for ``seconds`` (open loop), and the failures."""
    headers = {"X-API-Key": KEYS["analyst"]}
    latencies: list[float] = []
    failures = 0
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10.0) as client:

        async def one(i: int) -> None:
            nonlocal failures
            body = {"request_id": f"bench-{uuid.uuid4().hex[:12]}-{i}", "application": APPLICATION}
            started = time.perf_counter()
            try:
                response = await client.post("/v1/scoring/decisions", json=body, headers=headers)
            except httpx.HTTPError:
                failures += 1
                return
            if response.status_code == 200:
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                failures += 1

        tasks = []
        t0 = time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return latencies, failures


# ----------------------------------------------------------------------------------------------------- main
def run(quick: bool) -> dict[str, Any]:
    from credit_local import infra
    from credit_local.processes import free_port, spawn, stop, wait_healthy, wait_until
    from credit_shared import db

    window_s, decision_s, rate = (2.0, 5.0, 100.0) if quick else (10.0, 30.0, 100.0)
    load_before = load_average()[0]
    work = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    run_dir, log_dir, home = work / "run", work / "logs", work / "home"
    kafka_port, gateway_port = free_port(), free_port()
    records = [infra.start_tansu(kafka_port, run_dir=run_dir, log_dir=log_dir, name="bench-kafka")]
    try:
        bootstrap = f"127.0.0.1:{kafka_port}"
        database_url = f"sqlite:///{work / 'credit.db'}"
        db.migrate(database_url)
        write_dataset(home / "datasets")
        keys_file = work / "keys.json"
        keys_file.write_text(json.dumps(KEYS))
        env = {
            **os.environ,
            "CREDIT_HOME": str(home),
            "CREDIT_ENV": "development",
            "CREDIT_LOG_LEVEL": "WARNING",
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "DATABASE_URL": database_url,
            "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}",
            "GATEWAY_PORT": str(gateway_port),
            "GATEWAY_DEV_KEYS_FILE": str(keys_file),
            "GATEWAY_RATE_LIMIT_PER_S": "1000000",
            "GATEWAY_RATE_LIMIT_BURST": "1000000",
        }
        gateway = spawn(
            "bench-gateway",
            [sys.executable, "-m", "gateway_service"],
            env=env,
            run_dir=run_dir,
            log_dir=log_dir,
            health_url=f"http://127.0.0.1:{gateway_port}/health",
        )
        records.append(gateway)
        records.append(
            spawn(
                "bench-responder",
                [sys.executable, str(Path(__file__).resolve()), "--responder", bootstrap],
                env=env,
                run_dir=run_dir,
                log_dir=log_dir,
            )
        )
        base = f"http://127.0.0.1:{gateway_port}"
        wait_healthy([gateway], timeout_s=60)

        def decides() -> bool:
            body = {"application": APPLICATION}
            try:
                response = httpx.post(f"{base}/v1/scoring/decisions", json=body,
                                      headers={"X-API-Key": KEYS["analyst"]}, timeout=10)  # fmt: skip
            except httpx.HTTPError:
                return False
            return response.status_code == 200

        wait_until(gateway, decides, timeout_s=120)  # the request/reply path (consumer groups joining)

        read_url = f"{base}/v1/datasets/{DATASET}/parts/train/rows?limit=50&offset=100"
        viewer = {"X-API-Key": KEYS["viewer"]}
        asyncio.run(closed_loop(f"{base}/health", {}, 1.0))  # warm-up
        asyncio.run(closed_loop(read_url, viewer, 1.0))
        health = [asyncio.run(closed_loop(f"{base}/health", {}, window_s)) for _ in range(3)]
        reads = [asyncio.run(closed_loop(read_url, viewer, window_s)) for _ in range(3)]
        asyncio.run(open_loop_decisions(base, rate, 1.0))  # warm-up
        measured = psutil.Process(gateway.pid)
        cpu_before = sum(measured.cpu_times()[:2])
        latencies, failures = asyncio.run(
            asyncio.wait_for(open_loop_decisions(base, rate, decision_s), decision_s + 60)  # never hang the bench
        )
        # the gateway's own CPU per decision: what a busy machine cannot inflate (it only delays it)
        decision_cpu_ms = (sum(measured.cpu_times()[:2]) - cpu_before) * 1000 / max(1, len(latencies) + failures)
        rss_mb = measured.memory_info().rss / 1024**2
    finally:
        stop(list(reversed(records)), run_dir)
        shutil.rmtree(work, ignore_errors=True)
    p50, p99 = (float(np.percentile(latencies, q)) for q in (50, 99)) if latencies else (float("nan"),) * 2
    return {
        "name": "gateway",
        "quick": quick,
        "started_at": started_at(),
        "machine": machine(load_average_1m_before=load_before, load_average_1m_after=load_average()[0]),
        "params": {
            "throughput_window_s": window_s,
            "throughput_windows": 3,
            "concurrency": 32,
            "decision_rate_rps": rate,
            "decision_duration_s": decision_s,
            "decisions_sent": int(rate * decision_s),
            "read_page_rows": 50,
            "dataset_features": 40,
        },
        "figures": {
            "health_rps": round(statistics.median(health), 1),
            "read_rps": round(statistics.median(reads), 1),
            "decision_p50_ms_at_100": round(p50, 2),
            "decision_p99_ms_at_100": round(p99, 2),
            "decision_failures": failures,
            "decision_gateway_cpu_ms": round(decision_cpu_ms, 2),
            "gateway_rss_mb": round(rss_mb, 1),
        },
        "ratios": {"read_vs_health": round(statistics.median(reads) / statistics.median(health), 3)},
        "notes": "One uvicorn worker; load generated by httpx on the same cores (throughput is a floor); a load "
        "average well above the core count (other work on the machine) makes every figure meaningless. The "
        "decision path uses a stand-in scoring responder over tansu: the figures are the gateway's and the "
        "broker's share of a decision, without the model.",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (under a minute)")
    parser.add_argument("--responder", metavar="BOOTSTRAP", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.responder:
        responder(args.responder)
        return
    write_and_print(run(args.quick), args.quick)


if __name__ == "__main__":
    main()
