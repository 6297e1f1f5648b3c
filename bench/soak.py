"""Soak benchmark: the embedded platform (``credit up``'s processes) under a steady stream of loan applications.

    uv run python bench/soak.py            # 200 applications per second for 30 minutes
    uv run python bench/soak.py --quick    # 200 per second for 3 minutes

Set-up (not measured): the whole embedded platform started by the launcher on free ports under a temporary home
(tansu, MLflow, the four workers, the gateway, the dashboard); a dataset built from synthetic tables by the ingestion
code and the first-start LightGBM recipe trained and promoted to champion by the training code (``bench/scoring.py``'s
set-up), written to the platform's own database and MLflow server. Then:

- ``idle_cpu_pct_of_core``: the CPU time of every one of our processes (workers, gateway, dashboard) over a minute of
  an idle platform with a champion served, in % of one core (the broker and MLflow are reported apart);
- the stream: applications published at a steady rate (open loop) for the run's length; each decision is timed from
  the application handed to the producer to the decision handed to the service's producer (the decision record's
  timestamp: one machine, one clock), read once the run is over (a reader polling ``loan-decisions`` meanwhile would
  load the in-memory broker it measures); per minute: p50 and p99 latency, the service's own part of it (its
  ``latency_ms``: from the start of the decision's batch; the rest is time waiting in the topic), decisions, the RSS
  and the CPU (% of one core) of each process and the size of the application database (with its WAL);
- ``*_growth_mb``: first minute to last minute, for our processes and the broker apart.

It prints the per-minute table and writes ``bench/results/soak.json`` (``soak.quick.json`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
from _report import aligned, load_average, machine, started_at, write_and_print

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingestion import ensure_data  # type: ignore[import-not-found]
from scoring import application_messages, prepare_model  # type: ignore[import-not-found]

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / ".credit" / "bench-data"
OURS = ("ingestion", "training", "scoring", "monitoring", "gateway", "frontend")
APART = ("kafka", "mlflow")
log = logging.getLogger("bench.soak")


def start_platform(home: Path) -> tuple[Any, Any, dict[str, int]]:
    """The embedded platform on free ports under ``home``: (platform, local settings, ports)."""
    from credit_local.launcher import LocalSettings, up
    from credit_local.processes import free_port
    from credit_shared.settings import PlatformSettings

    ports = {f"{name}_port": free_port() for name in (*APART, *OURS)}
    local = LocalSettings(**ports, start_timeout_s=600)  # type: ignore[arg-type]
    os.environ.update({"CREDIT_HOME": str(home), "CREDIT_LOG_LEVEL": "WARNING"})
    os.environ.update({f"CREDIT_LOCAL_{k.upper()}": str(v) for k, v in ports.items()})
    return up(PlatformSettings(home=home), local, report=log.info), local, ports


def processes(home: Path) -> dict[str, psutil.Process]:
    """The platform's processes by name (from the launcher's PID files)."""
    from credit_local.processes import records

    out = {}
    for record in records(home / "run"):
        proc = record.process()
        if proc is not None:
            out[record.name.removeprefix("credit-") if record.name.startswith("credit-") else record.name] = proc
    return out


def tree_cpu_s(proc: psutil.Process) -> float:
    """CPU seconds of a process and its children (MLflow and uvicorn may fork), the children that have ended too
    (monitoring's Evidently workers come and go: without them the tree's CPU would fall when one exits)."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.NoSuchProcess:
            continue
    return total


def tree_rss_mb(proc: psutil.Process) -> float:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 1024**2


def idle_cpu(home: Path, seconds: float) -> dict[str, float]:
    """% of one core used by each process of the platform over ``seconds`` of idleness."""
    procs = processes(home)
    start = {name: tree_cpu_s(p) for name, p in procs.items()}
    began = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - began
    return {name: round(100 * (tree_cpu_s(p) - start[name]) / elapsed, 2) for name, p in procs.items()}


def wait_ready(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError(f"{url} not ready after {timeout_s:.0f} s")


def database_mb(home: Path) -> float:
    return sum(p.stat().st_size for p in home.glob("credit.db*")) / 1024**2


def monitored(port: int) -> dict[str, float]:
    """What the monitoring service has taken in so far (its /metrics): decisions received, windows compared."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return {}
    counts = {"decisions": 0.0, "windows": 0.0}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name == "monitoring_decisions_total":
            counts["decisions"] += float(value)
        elif name.startswith("monitoring_windows_total"):
            counts["windows"] += float(value)
    return counts


def sample(procs: dict[str, psutil.Process], home: Path, at_s: float, minute: int, port: int) -> dict[str, Any]:
    """Each process's RSS and CPU seconds so far, the database size and what monitoring has taken in, at ``at_s``
    seconds into the stream."""
    return {
        "minute": minute,
        "at_s": at_s,
        "rss_mb": {n: round(tree_rss_mb(p), 1) for n, p in procs.items()},
        "cpu_s": {n: tree_cpu_s(p) for n, p in procs.items()},
        "database_mb": round(database_mb(home), 1),
        "monitoring": monitored(port),
    }


async def stream(
    bootstrap: str, messages: list[bytes], rate: float, home: Path, monitoring_port: int
) -> tuple[dict[str, float], list[dict]]:
    """Publish ``messages`` at ``rate`` per second; sample every process and the database each minute."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await producer.start()
    sent: dict[str, float] = {}
    samples: list[dict[str, Any]] = []
    procs = processes(home)
    try:
        t0 = time.perf_counter()
        next_sample = 0.0
        pending = []
        for k, raw in enumerate(messages):
            delay = t0 + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.perf_counter() - t0 >= next_sample:
                samples.append(sample(procs, home, time.perf_counter() - t0, int(next_sample // 60), monitoring_port))
                next_sample += 60.0
            now_ms = time.time() * 1000
            sent[json.loads(raw)["request_id"]] = now_ms
            pending.append(await producer.send("loan-applications", raw, key=str(k).encode(), timestamp_ms=int(now_ms)))
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
        samples.append(sample(procs, home, time.perf_counter() - t0, int(next_sample // 60), monitoring_port))
    finally:
        await producer.stop()
    return sent, samples


async def decided(
    bootstrap: str, sent: dict[str, float], timeout_s: float
) -> tuple[dict[str, float], dict[str, float]]:
    """Request id -> latency (ms) of every decision of ``sent`` on loan-decisions (read once, from the start), and
    request id -> the service's own ``latency_ms`` (from its batch's start to the decision: the part not spent
    waiting in the topic)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=10_000)
    await consumer.start()
    latency: dict[str, float] = {}
    service: dict[str, float] = {}
    try:
        await consumer.topics()
        partitions = [TopicPartition("loan-decisions", p) for p in consumer.partitions_for_topic("loan-decisions")]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout_s
        while len(latency) < len(sent) and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=1000, max_records=10_000)).values():
                for record in records:
                    decision = json.loads(record.value)
                    rid = decision["request_id"]
                    if rid in sent and rid not in latency:
                        latency[rid] = record.timestamp - sent[rid]
                        service[rid] = float(decision.get("latency_ms") or np.nan)
    finally:
        await consumer.stop()
    return latency, service


def per_minute(
    sent: dict[str, float], latency: dict[str, float], service: dict[str, float], samples: list[dict[str, Any]]
) -> list[dict]:
    """The table: per minute of publishing, decisions, p50/p99 latency (end to end, and the service's own part),
    RSS and CPU (% of one core over the minute) per process, database size."""
    first = min(sent.values())
    minutes: dict[int, list[str]] = {}
    for rid, at in sent.items():
        minutes.setdefault(int((at - first) // 60_000), [])
        if rid in latency:
            minutes[int((at - first) // 60_000)].append(rid)
    by_minute = {s["minute"]: s for s in samples}
    rows = []
    for minute in sorted(minutes):
        ids = minutes[minute]
        values = np.array([latency[r] for r in ids]) if ids else np.array([np.nan])
        own = np.array([service[r] for r in ids]) if ids else np.array([np.nan])
        start, end = by_minute.get(minute) or {}, by_minute.get(minute + 1) or {}
        seconds = (end.get("at_s") or 0) - (start.get("at_s") or 0)
        cpu = {n: round(100 * (end["cpu_s"][n] - start["cpu_s"][n]) / seconds, 1) for n in end.get("cpu_s", {})
               if seconds > 0 and n in start.get("cpu_s", {})}  # fmt: skip
        rows.append({
            "minute": minute + 1, "decided": len(ids),
            "p50_ms": round(float(np.nanpercentile(values, 50)), 1),
            "p99_ms": round(float(np.nanpercentile(values, 99)), 1),
            "service_p50_ms": round(float(np.nanpercentile(own, 50)), 1),
            "service_p99_ms": round(float(np.nanpercentile(own, 99)), 1),
            "rss_mb": (end or start).get("rss_mb", {}), "cpu_pct_of_core": cpu,
            "database_mb": (end or start).get("database_mb"),
            "monitoring_decisions": (end or start).get("monitoring", {}).get("decisions"),
            "monitoring_windows": (end or start).get("monitoring", {}).get("windows"),
        })  # fmt: skip
    return rows


def caught_up(port: int, decisions: int, timeout_s: float) -> dict[str, float]:
    """Once every decision is read back: how long monitoring then took to receive them all (capped at
    ``timeout_s``), how many it received and how many windows it compared."""
    began = time.monotonic()
    seen = monitored(port)
    while seen.get("decisions", 0) < decisions and time.monotonic() - began < timeout_s:
        time.sleep(2)
        seen = monitored(port)
    return {
        "monitoring_decisions": int(seen.get("decisions", 0)),
        "monitoring_windows": int(seen.get("windows", 0)),
        "monitoring_catch_up_s": round(time.monotonic() - began, 1),
    }


def growth(rows: list[dict[str, Any]], names: tuple[str, ...]) -> float:
    """MB gained from the first minute's RSS to the last's, summed over ``names``."""
    first, last = rows[0]["rss_mb"], rows[-1]["rss_mb"]
    return round(sum(last.get(n, 0.0) - first.get(n, 0.0) for n in names), 1)


def run(minutes: float, rate: float, applicants: int, trees: int | None, quick: bool) -> dict[str, Any]:
    from credit_local.launcher import down, layout_of  # noqa: F401 - down stops what up started
    from credit_shared.settings import PlatformSettings

    load_before = load_average()
    started = started_at()
    folder, generator, _ = ensure_data(DATA_DIR, applicants, 7, fallback=False)
    home = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    figures: dict[str, Any] = {}
    try:
        t = time.perf_counter()
        _, _, ports = start_platform(home)
        figures["setup_platform_s"] = round(time.perf_counter() - t, 1)
        bootstrap = f"127.0.0.1:{ports['kafka_port']}"
        tracking = f"http://127.0.0.1:{ports['mlflow_port']}"
        prepared = prepare_model(folder, home, f"sqlite:///{home / 'credit.db'}", tracking, trees)
        promote = {"type": "model.promoted", "source": "bench", "payload": {"version": prepared["version"]}}
        asyncio.run(_publish_event(bootstrap, promote))  # scoring reloads at once, not at its periodic check
        wait_ready(f"http://127.0.0.1:{ports['scoring_port']}/ready", 300)
        time.sleep(20)  # the start-up's work settles (first registry checks, consumer joins)
        cpu = idle_cpu(home, 60.0)
        figures["idle_cpu_pct_of_core"] = round(sum(v for n, v in cpu.items() if n in OURS), 2)
        figures["idle_cpu_broker_pct_of_core"] = cpu.get("kafka", 0.0)
        figures["idle_cpu_mlflow_pct_of_core"] = cpu.get("mlflow", 0.0)
        log.info("idle CPU %% of a core: %s", cpu)
        count = int(rate * minutes * 60)
        messages = application_messages(folder, count, f"soak-{uuid.uuid4().hex[:6]}")
        sent, samples = asyncio.run(stream(bootstrap, messages, rate, home, ports["monitoring_port"]))
        latency, service = asyncio.run(decided(bootstrap, sent, 300))
        figures |= caught_up(ports["monitoring_port"], len(latency), 300)
        rows = per_minute(sent, latency, service, samples)
        figures |= {
            "decisions": len(latency), "undecided": len(sent) - len(latency),
            "p50_ms_first_minute": rows[0]["p50_ms"], "p99_ms_first_minute": rows[0]["p99_ms"],
            "p50_ms_last_minute": rows[-1]["p50_ms"], "p99_ms_last_minute": rows[-1]["p99_ms"],
            "rss_growth_ours_mb": growth(rows, OURS), "rss_growth_broker_mb": growth(rows, ("kafka",)),
            "database_growth_mb": round((rows[-1]["database_mb"] or 0) - (rows[0]["database_mb"] or 0), 1),
            "database_mb_per_1000_decisions": round(database_mb(home) * 1000 / max(1, len(latency)), 2),
        }  # fmt: skip
        figures["idle_cpu_by_process_pct"] = cpu
    finally:
        from credit_local import launcher

        launcher.down(PlatformSettings(home=home))
        shutil.rmtree(home, ignore_errors=True)
    return {
        "name": "soak", "quick": quick, "started_at": started,
        "machine": machine(load_average_before=load_before, load_average_after=load_average()),
        "params": {"minutes": minutes, "rate_per_s": rate, "applicants": applicants, "model": "first-start recipe",
                   "features": prepared["features"], "data": generator},
        "figures": figures, "per_minute": rows,
        "notes": "The embedded platform as `credit up` starts it (tansu in memory, MLflow on SQLite, SQLite "
                 "application database), on this shared 2-core machine; latency = application handed to the "
                 "producer to decision handed to the service's producer; RSS per process tree, sampled each minute; "
                 "the broker (tansu keeps every message in memory, without retention) is reported apart.",
    }  # fmt: skip


async def _publish_event(bootstrap: str, event: dict[str, Any]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait("training.events.v1", json.dumps(event).encode())
    finally:
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 minutes instead of 30")
    parser.add_argument("--minutes", type=float, help="length of the stream")
    parser.add_argument("--rate", type=float, default=200.0, help="applications per second")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("aiokafka", "mlflow", "alembic", "httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    minutes = args.minutes or (3.0 if args.quick else 30.0)
    result = run(minutes, args.rate, 20_000 if not args.quick else 5_000, None, args.quick)  # the first-start champion
    names = [n for n in (*OURS, *APART) if any(n in r["rss_mb"] for r in result["per_minute"])]
    heads = "  ".join(f"{n[:10]:>10}" for n in names)
    lines = [
        f"minute  decided  p50_ms  p99_ms  service_p50  service_p99  db_mb  monitored  windows  "
        f"RSS MB: {heads}  CPU %: {heads}"
    ]
    for row in result["per_minute"]:
        rss = "  ".join(f"{row['rss_mb'].get(n, float('nan')):>10.0f}" for n in names)
        cpu = "  ".join(f"{row['cpu_pct_of_core'].get(n, float('nan')):>10.0f}" for n in names)
        lines.append(f"{row['minute']:>6}  {row['decided']:>7}  {row['p50_ms']:>6}  {row['p99_ms']:>6}  "
                     f"{row['service_p50_ms']:>11}  {row['service_p99_ms']:>11}  "
                     f"{row['database_mb'] or 0:>5.0f}  {row['monitoring_decisions'] or 0:>9.0f}  "
                     f"{row['monitoring_windows'] or 0:>7.0f}          {rss}         {cpu}")  # fmt: skip
    write_and_print(result, args.quick, [*lines, *aligned(result["figures"])])


if __name__ == "__main__":
    main()
