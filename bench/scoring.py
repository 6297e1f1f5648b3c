"""Benchmark of the scoring service: one ``python -m scoring_service`` process on a real tansu broker.

    uv run python bench/scoring.py              # 20,000 synthetic applicants, 20,000 decisions, 30 s paced
    uv run python bench/scoring.py --quick      # 3,000 applicants, 2,000 decisions, 5 s paced
    uv run python bench/scoring.py --trees 500  # a heavier champion, 500 trees of 31 leaves: scoring.trees-500.json

The champion is the one the platform registers on its first start (``credit_local.bootstrap.first_model_params``,
LightGBM's registry defaults: 15-leaf trees, their number chosen by cross-validation on the bench's data); its size
is reported
(``model_trees``, ``model_mean_leaves``, ``model_mean_depth``) because exact TreeSHAP reasons for each refusal cost
about trees x leaves x depth^2 per refused row and dominate the decider's work.

Set-up (timed as ``setup_*_s``, not part of the figures): synthetic Home Credit tables
(``credit_local.synthetic.generate``, cached under ``.credit/bench-data/`` as ``bench/ingestion.py``
does), a dataset built by the ingestion code (the full feature code, about 800 columns, online features in a SQLite
application database), that LightGBM trained, registered and promoted to ``champion`` by the
training code on a real MLflow server. Then, in one run:

- ``inprocess_dps``: the in-process ceiling: the same JSON bytes as the Kafka runs, parsed, featurised (one history
  query per batch), scored, explained and encoded by the service's own functions in this process, in batches of the
  service's batch size, without Kafka and without the audit write (median of ``--repeats``);
  ``inprocess_audit_dps`` adds the audit write to a SQLite file;
- ``throughput_dps``: ``--decisions`` applications published before the scoring process starts; decisions per second
  from the first decision to the last (the service's ``scored_at`` stamps, so this process does not compete for the
  cores while it runs); every refusal carries its reason codes;
- ``p50/p95/p99_ms_at_100`` and ``_at_500``: applications published at a steady 100 and 500 per second for
  ``--seconds``, each rate on a fresh broker with a fresh scoring process, after one warm-up second; the time from
  handing each application to the producer to the service handing its decision to its producer (the decision
  record's timestamp, in milliseconds; one machine, one clock), read once the run is over. Why: tansu's in-memory
  storage keeps every batch and lists all of a partition's batches on each fetch that returns data, so on one broker
  a run would inherit the runs before it, and a consumer polling the decisions during the run would load the broker
  it measures. ``service_p50/p99_ms_at_*`` are the service's own ``latency_ms`` (batch start to decision);
  ``first5s_p99_ms_at_*`` and ``last5s_p99_ms_at_*`` the p99 of the first and the last 5 s of publishing (the same
  listing makes the service's own fetches dearer as the topic fills);
- ``cpu_ms_per_decision`` (the scoring process's CPU time from its first decision to the end of the backlog, per
  decision; ``inprocess_cpu_ms_per_decision`` the same for the in-process run), ``rss_mb`` (the resident set of the
  500/s process at the end) and ``peak_rss_mb`` (the highest high-water mark, ``VmHWM``, of the scoring processes).

Efficiency = ``throughput_dps / inprocess_dps``; ``cpu_efficiency`` = in-process CPU per decision / the service's
(CPU time is far less sensitive than wall time to other work on the machine). Everything shares two cores with the
broker and this load generator (and, on the shared machines, with other work: the load average is recorded).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import psutil
from _report import write_and_print

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingestion import ensure_data  # type: ignore[import-not-found]  # the benchmarks share one cache of synthetic tables

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / ".credit" / "bench-data"
MODEL_NAME = "credit-default"
log = logging.getLogger("bench.scoring")


@dataclass(frozen=True)
class Plan:
    """The sizes of a run."""

    applicants: int
    trees: int | None  # None: the first-start recipe (cross-validated trees)
    decisions: int
    seconds: float
    repeats: int
    rates: tuple[float, ...] = (100.0, 500.0)


# ----------------------------------------------------------------------------------------------------- set-up
def quiet(stage: str, percent: float, message: str | None = None) -> None:
    """Progress of the set-up steps, not shown."""


def prepare_model(folder: Path, home: Path, database_url: str, tracking_uri: str, trees: int | None) -> dict[str, Any]:
    """Build a dataset from the raw tables and register a LightGBM as champion (timed): the platform's first-start
    recipe (its trees chosen by cross-validation) or, with ``trees``, a fixed model of that many 31-leaf trees."""
    from credit_local.bootstrap import first_model_params
    from credit_shared import db
    from credit_shared.contracts.ingestion import BuildDataset
    from credit_shared.contracts.training import PromoteModel, TrainModel
    from credit_shared.settings import MlflowSettings
    from ingestion_service.builder import BuildContext, build_dataset
    from ingestion_service.sources import RawSource
    from training_service.service import TrainingContext, run_promotion, run_training
    from training_service.tracking import MlflowTracker

    mlflow = MlflowSettings(tracking_uri=tracking_uri, model_name=MODEL_NAME)
    engine = db.make_engine(database_url)
    t = time.perf_counter()
    built = build_dataset(
        BuildDataset(
            request_id="bench-build",
            name="bench-scoring",
            source="synthetic",
            max_missing_rate=1.0,
            max_correlation=None,
        ),  # fmt: skip - every feature the feature code makes, unless constant
        RawSource("synthetic", folder),
        BuildContext(home / "datasets", engine, mlflow),
        quiet,
    )
    build_s = time.perf_counter() - t
    log.info("dataset %s: %d features (%.0f s)", built.dataset_id, built.features, build_s)
    tracker = MlflowTracker(mlflow)
    context = TrainingContext(home / "datasets", tracker, threads=2)
    fixed = {
        "n_estimators": trees,
        "min_estimators": trees,
        "learning_rate": 0.02,
        "num_leaves": 31,
        "colsample_bytree": 0.5,
        "early_stopping_rounds": 2000,
    }  # never stops early: it has all its trees
    command = TrainModel(
        request_id="bench-train", dataset_id=built.dataset_id, run_name="bench-lightgbm", family="lightgbm",
        imbalance="class_weight", folds=2, seed=7, params=first_model_params() if trees is None else fixed,
    )  # fmt: skip
    t = time.perf_counter()
    trained = run_training(command, context, quiet)
    train_s = time.perf_counter() - t
    run_promotion(PromoteModel(request_id="bench-promote", version=trained.version, alias="champion", force=True),
                  context)  # fmt: skip
    log.info("version %s is champion (%.0f s)", trained.version, train_s)
    return {"dataset_id": built.dataset_id, "features": built.features, "version": trained.version,
            "setup_build_s": round(build_s, 1), "setup_train_s": round(train_s, 1)}  # fmt: skip


def application_messages(folder: Path, count: int, prefix: str) -> list[bytes]:
    """``count`` public-contract messages made of the raw application rows (cycled), each with its own request id."""
    from credit_shared.homecredit.application import APPLICATION

    frames = [pd.read_csv(folder / f"{t}.csv") for t in ("application_test", "application_train")]
    raw = pd.concat(frames, ignore_index=True)
    raw = raw[[c for c in APPLICATION.names if c in raw.columns]]
    records = raw.astype(object).where(raw.notna(), None).to_dict(orient="records")
    out = []
    for k in range(count):
        record = records[k % len(records)]
        application = {c: (v.item() if hasattr(v, "item") else v) for c, v in record.items()}
        out.append(json.dumps({"request_id": f"{prefix}-{k}", "application": application}).encode())
    return out


# ----------------------------------------------------------------------------------------------------- in-process
def inprocess(messages: Sequence[bytes], served: Any, batch: int, audit_url: str | None = None) -> tuple[float, float]:
    """Decisions per second of the service's own functions in this process, from JSON bytes to encoded decision,
    and the CPU milliseconds per decision (this process's, all threads)."""
    from credit_shared import db
    from credit_shared.contracts.loans import encode
    from credit_shared.decisions_view import encode_input
    from credit_shared.features import application_parts
    from scoring_service import audit
    from scoring_service.answers import layout_of
    from scoring_service.dead_letters import parse_application
    from scoring_service.scorer import score_batch

    store = audit.AuditStore(db.make_engine(audit_url)) if audit_url else None
    layout = layout_of(served)
    started, cpu = time.perf_counter(), time.process_time()
    for first in range(0, len(messages), batch):
        chunk = [parse_application(raw) for raw in messages[first : first + batch]]
        begun, received_at = time.monotonic(), datetime.now(UTC)
        scored = score_batch(chunk, [begun] * len(chunk), served, application_parts)
        payloads = [encode(s.decision) for s in scored]
        assert len(payloads) == len(chunk)
        if store is not None:
            store.save_layout(layout)
            rows = [
                audit.audit_row(
                    s.decision,
                    received_at=received_at,
                    application=a.application,
                    model_input=encode_input(layout, a.application, s.input_digest),
                    shadow=None,
                    partition=0,
                    offset=first + k,
                )
                for k, (a, s) in enumerate(zip(chunk, scored, strict=True))
            ]
            store.stored([a.request_id for a in chunk])  # the stream looks each batch's ids up first
            store.record(rows)
    cpu_ms = (time.process_time() - cpu) * 1000 / len(messages)
    return len(messages) / (time.perf_counter() - started), cpu_ms


def audit_bytes_per_decision(database_url: str) -> tuple[float, int]:
    """Bytes on disk of the ``decisions`` table and its indexes (SQLite's dbstat: every page they use), per row."""
    import sqlite3

    path = database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE tbl_name = 'decisions'")]
        marks = ",".join("?" * len(names))
        size = conn.execute(f"SELECT SUM(pgsize) FROM dbstat WHERE name IN ({marks})", names).fetchone()[0]
    return (size / rows if rows else float("nan")), rows


def model_shape(served: Any) -> dict[str, float]:
    """Trees, mean leaves and mean depth of the champion's booster: exact TreeSHAP costs about trees x leaves x
    depth^2 per explained row, which is most of the decider's work."""

    def depth(node: dict[str, Any]) -> int:
        if "leaf_value" in node:
            return 0
        return 1 + max(depth(node["left_child"]), depth(node["right_child"]))

    trees = served.model.classifier.booster_.dump_model()["tree_info"]
    return {
        "model_trees": len(trees),
        "model_mean_leaves": round(statistics.fmean(t["num_leaves"] for t in trees), 1),
        "model_mean_depth": round(statistics.fmean(depth(t["tree_structure"]) for t in trees), 1),
    }


def load_champion(database_url: str, tracking_uri: str) -> Any:
    """The champion exactly as the service loads it."""
    from credit_shared import db
    from credit_shared.settings import MlflowSettings
    from scoring_service.served import load_served

    settings = MlflowSettings(tracking_uri=tracking_uri, model_name=MODEL_NAME)
    return load_served(settings, db.make_engine(database_url), "champion")


# ----------------------------------------------------------------------------------------------------- Kafka
async def publish_all(bootstrap: str, messages: Sequence[bytes]) -> float:
    """Publish every message as fast as the producer goes; returns the seconds it took."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=1 << 20)
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [await producer.send("loan-applications", raw, key=str(k).encode()) for k, raw in
                   enumerate(messages)]  # fmt: skip
        await asyncio.gather(*futures)
        return time.perf_counter() - started
    finally:
        await producer.stop()


async def read_decisions(bootstrap: str, expected: set[str], timeout_s: float) -> list[dict[str, Any]]:
    """Every decision on ``loan-decisions`` whose request id is in ``expected`` (read from the start)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=5000)
    await consumer.start()
    try:
        partitions = [TopicPartition("loan-decisions", p) for p in consumer.partitions_for_topic("loan-decisions")
                      or await _partitions(consumer)]  # fmt: skip
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        found: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout_s
        while len(found) < len(expected) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                for record in records:
                    decision = json.loads(record.value)
                    if decision["request_id"] in expected:
                        found.setdefault(decision["request_id"], decision)
        return list(found.values())
    finally:
        await consumer.stop()


async def _partitions(consumer: Any) -> set[int]:
    await consumer.topics()  # refreshes the metadata
    return consumer.partitions_for_topic("loan-decisions") or set()


async def paced(bootstrap: str, messages: Sequence[bytes], ids: Sequence[str], rate: float) -> dict[str, Any]:
    """Publish ``messages`` at ``rate`` per second (open loop), then read their decisions and time each one from the
    application's publication to its decision's (the decision record's timestamp, set by the service's producer).

    Nothing consumes ``loan-decisions`` while the applications are published: tansu's in-memory storage lists every
    stored batch of a partition on each fetch that returns data, so a consumer polling the decisions every few
    milliseconds loaded the broker more and more as the run went on (a stand-in service that decides nothing showed
    the same growth, from 7 to 195 ms p50 within 30 s), and measured the instrument rather than the service.
    """
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=5000)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await consumer.start()
    await producer.start()
    sent: dict[str, float] = {}  # request id -> epoch milliseconds when handed to the producer
    latencies: dict[str, float] = {}
    service: list[float] = []
    try:
        partitions = [TopicPartition("loan-decisions", p) for p in await _partitions(consumer)]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:
            await consumer.position(tp)  # the decisions of this run start here
        wanted = set(ids)
        pending = []
        gc.collect()
        gc.disable()  # this process holds the in-process run's model: a collection would hold back sends already timed
        t0 = time.perf_counter()
        for k, (raw, rid) in enumerate(zip(messages, ids, strict=True)):
            delay = t0 + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            now_ms = time.time() * 1000
            sent[rid] = now_ms
            pending.append(await producer.send("loan-applications", raw, key=str(k).encode(), timestamp_ms=int(now_ms)))
        publish_s = time.perf_counter() - t0
        await asyncio.gather(*pending)
        deadline = time.monotonic() + 60
        while len(latencies) < len(wanted) and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                for record in records:
                    decision = json.loads(record.value)
                    rid = decision["request_id"]
                    if rid in wanted and rid not in latencies:
                        latencies[rid] = record.timestamp - sent[rid]
                        service.append(float(decision["latency_ms"]))
        if len(latencies) < len(wanted):
            log.warning("%d of %d decisions did not arrive", len(wanted) - len(latencies), len(wanted))
    finally:
        gc.enable()
        await producer.stop()
        await consumer.stop()
    values = np.array(list(latencies.values()))
    windows: dict[int, list[float]] = {}  # the latencies of each 5 s of publishing: does the stream keep up?
    first_sent = min(sent.values())
    for rid, latency in latencies.items():
        windows.setdefault(int((sent[rid] - first_sent) // 5000), []).append(latency)
    first, last = windows[min(windows)], windows[max(windows)]
    return {
        "sent": len(ids),
        "received": len(values),
        "achieved_rate": len(ids) / publish_s,
        **{f"p{q}_ms": float(np.percentile(values, q)) for q in (50, 95, 99)},
        "max_ms": float(values.max()),
        **{f"service_p{q}_ms": float(np.percentile(service, q)) for q in (50, 99)},
        "first5s_p99_ms": float(np.percentile(first, 99)),
        "last5s_p99_ms": float(np.percentile(last, 99)),
        "windows_p99_ms": [round(float(np.percentile(windows[w], 99)), 1) for w in sorted(windows)],
    }


# ----------------------------------------------------------------------------------------------------- process
def peak_rss_mb(pid: int) -> float:
    """The process's resident-set high-water mark (``VmHWM``), in MB."""
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", text)
    return int(match.group(1)) / 1024 if match else float("nan")


def decisions_counted(metrics_url: str) -> float:
    """The service's decisions counter (every outcome); -1 while the service does not answer yet."""
    try:
        text = httpx.get(metrics_url, timeout=5).text
    except httpx.HTTPError:
        return -1.0
    return sum(float(m) for m in re.findall(r"^scoring_decisions_total\{[^}]*\} (\S+)$", text, re.MULTILINE))


# ----------------------------------------------------------------------------------------------------- main
def run(plan: Plan, quick: bool) -> dict[str, Any]:
    from credit_local import infra
    from credit_local.processes import free_port, spawn, stop, wait_until
    from credit_shared import db
    from scoring_service.settings import Settings as ScoringSettings

    batch = ScoringSettings().batch_max_messages
    load_before = os.getloadavg()
    started_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    figures: dict[str, float] = {}
    t = time.perf_counter()
    folder, generator, _ = ensure_data(DATA_DIR, plan.applicants, 7, fallback=False)
    figures["setup_data_s"] = round(time.perf_counter() - t, 1)

    work = Path(tempfile.mkdtemp(prefix="bench-scoring-"))
    run_dir, log_dir, home = work / "run", work / "logs", work / "home"
    kafka_port, mlflow_port = free_port(), free_port()
    records = [infra.start_tansu(kafka_port, run_dir=run_dir, log_dir=log_dir, name="bench-kafka")]
    try:
        (work / "mlflow" / "artifacts").mkdir(parents=True)
        records.append(
            infra.start_mlflow(
                mlflow_port,
                backend_uri=f"sqlite:///{work / 'mlflow' / 'mlflow.db'}",
                artifacts_destination=str(work / "mlflow" / "artifacts"),
                run_dir=run_dir,
                log_dir=log_dir,
                name="bench-mlflow",
            )
        )
        bootstrap, tracking_uri = f"127.0.0.1:{kafka_port}", f"http://127.0.0.1:{mlflow_port}"
        database_url = f"sqlite:///{work / 'credit.db'}"
        db.migrate(database_url)
        prepared = prepare_model(folder, home, database_url, tracking_uri, plan.trees)
        figures.update({k: v for k, v in prepared.items() if k.startswith("setup_")})

        # (a) the in-process ceiling, on the same bytes as the Kafka runs
        messages = application_messages(folder, plan.decisions, f"tp-{uuid.uuid4().hex[:6]}")
        sample = messages[: min(len(messages), 5000)]
        served = load_champion(database_url, tracking_uri)
        shape = model_shape(served)
        inprocess(sample[:batch], served, batch)  # warm-up (first calls)
        measured = [inprocess(sample, served, batch) for _ in range(plan.repeats)]
        runs = [dps for dps, _ in measured]
        figures["inprocess_cpu_ms_per_decision"] = round(statistics.median(cpu for _, cpu in measured), 3)
        figures["inprocess_dps"] = round(statistics.median(runs), 1)
        audit_url = f"sqlite:///{work / 'audit-bench.db'}"
        db.migrate(audit_url)
        figures["inprocess_audit_dps"] = round(inprocess(sample, served, batch, audit_url)[0], 1)
        log.info("in-process: %s dps (runs %s), with audit %s", figures["inprocess_dps"],
                 [round(r) for r in runs], figures["inprocess_audit_dps"])  # fmt: skip

        # (b) throughput: a backlog published before the scoring process starts
        figures["publish_backlog_s"] = round(asyncio.run(publish_all(bootstrap, messages)), 2)

        def serve(broker: str, name: str) -> tuple[Any, str]:
            """A scoring process on ``broker`` (its own consumer group); its record and its metrics address."""
            port = free_port()
            env = {
                **os.environ,
                "CREDIT_HOME": str(home),
                "CREDIT_LOG_LEVEL": "WARNING",
                "KAFKA_BOOTSTRAP_SERVERS": broker,
                "DATABASE_URL": database_url,
                "MLFLOW_TRACKING_URI": tracking_uri,
                "SCORING_PORT": str(port),
                "SCORING_GROUP_ID": f"bench-scoring-{uuid.uuid4().hex[:6]}",
            }
            record = spawn(name, [sys.executable, "-m", "scoring_service"], env=env, run_dir=run_dir, log_dir=log_dir)
            records.append(record)
            return record, f"http://127.0.0.1:{port}/metrics"

        scoring, metrics_url = serve(bootstrap, "bench-scoring")
        process = psutil.Process(scoring.pid)
        wait_until(scoring, lambda: decisions_counted(metrics_url) > 0, timeout_s=300)  # model load, first batch
        cpu_first, counted_first = process.cpu_times(), decisions_counted(metrics_url)  # model load excluded
        wait_until(scoring, lambda: decisions_counted(metrics_url) >= len(messages), timeout_s=60 + len(messages) / 50)
        cpu = process.cpu_times()
        per_decision, audited = audit_bytes_per_decision(database_url)
        figures["audit_bytes_per_decision"] = round(per_decision, 1)
        figures["audit_rows"] = audited
        ids = {json.loads(m)["request_id"] for m in messages}
        decided = asyncio.run(read_decisions(bootstrap, ids, 120))
        stamps = sorted(datetime.fromisoformat(d["scored_at"]).timestamp() for d in decided)
        first_batch = sum(1 for s in stamps if s == stamps[0])
        figures["throughput_dps"] = round((len(stamps) - first_batch) / (stamps[-1] - stamps[0]), 1)
        figures["throughput_decisions"] = len(stamps)
        refused = [d for d in decided if d["decision"] == "refused"]
        figures["refused_share"] = round(len(refused) / len(decided), 4)
        figures["refusals_with_reasons_share"] = round(
            sum(1 for d in refused if d["reasons"]) / max(1, len(refused)), 4
        )
        busy_s = cpu.user + cpu.system - cpu_first.user - cpu_first.system
        figures["cpu_ms_per_decision"] = round(busy_s * 1000 / max(1.0, len(messages) - counted_first), 3)
        log.info("throughput %s dps", figures["throughput_dps"])

        # (c) latency at steady rates, each on a fresh broker and scoring process: tansu's in-memory storage lists
        # every batch a partition ever stored on each fetch that returns data (it keeps everything: no retention), so
        # on one broker each run would inherit the cost of the runs before it
        peak = peak_rss_mb(scoring.pid)
        stop([scoring, records[0]], run_dir)  # the backlog's process and broker
        for rate in plan.rates:
            port = free_port()
            broker = infra.start_tansu(port, run_dir=run_dir, log_dir=log_dir, name=f"bench-kafka-{int(rate)}")
            records.append(broker)
            paced_bootstrap = f"127.0.0.1:{port}"
            scoring, metrics_url = serve(paced_bootstrap, f"bench-scoring-{int(rate)}")
            wait_until(scoring, lambda url=metrics_url: decisions_counted(url) >= 0, timeout_s=300)
            count = int(rate * plan.seconds)
            prefix = f"lat{int(rate)}-{uuid.uuid4().hex[:6]}"
            paced_messages = application_messages(folder, count, prefix)
            asyncio.run(
                paced(paced_bootstrap, paced_messages[: int(rate)], [f"{prefix}-{k}" for k in range(int(rate))], rate)
            )  # one warm-up second at the rate (the consumer group joins meanwhile)
            prefix = f"{prefix}-m"
            paced_messages = application_messages(folder, count, prefix)
            result = asyncio.run(paced(paced_bootstrap, paced_messages, [f"{prefix}-{k}" for k in range(count)], rate))
            tag = int(rate)
            for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms", "service_p50_ms", "service_p99_ms", "first5s_p99_ms",
                        "last5s_p99_ms"):  # fmt: skip
                figures[f"{key[:-3]}_ms_at_{tag}"] = round(result[key], 2)
            figures[f"undecided_60s_after_at_{tag}"] = result["sent"] - result["received"]
            figures[f"achieved_rate_at_{tag}"] = round(result["achieved_rate"], 1)
            windows = result.pop("windows_p99_ms")
            log.info("at %d/s: %s; p99 of each 5 s: %s", tag, {k: round(v, 1) for k, v in result.items()}, windows)
            process = psutil.Process(scoring.pid)
            peak = max(peak, peak_rss_mb(scoring.pid))
            if rate != plan.rates[-1]:
                stop([scoring, broker], run_dir)
        figures["rss_mb"] = round(process.memory_info().rss / 1024**2, 1)
        figures["peak_rss_mb"] = round(peak, 1)
    finally:
        stop(list(reversed(records)), run_dir)
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()
    return {
        "name": "scoring" + (f".trees-{plan.trees}" if plan.trees else ""),
        "quick": quick,
        "started_at": started_at,
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
            "python": platform.python_version(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in load_after],
        },
        "params": {
            "applicants": plan.applicants,
            "model": "first-start recipe (credit_local.bootstrap.first_model_params)"
            if plan.trees is None
            else f"fixed: {plan.trees} trees of 31 leaves",
            **shape,
            "features": prepared["features"],
            "decisions": plan.decisions,
            "paced_seconds": plan.seconds,
            "batch_max_messages": batch,
            "inprocess_repeats": plan.repeats,
            "inprocess_rows": len(sample),
            "data": generator,
        },
        "figures": figures,
        "ratios": {
            "efficiency": round(figures["throughput_dps"] / figures["inprocess_dps"], 3),
            "cpu_efficiency": round(figures["inprocess_cpu_ms_per_decision"] / figures["cpu_ms_per_decision"], 3),
        },
        "notes": (
            "One scoring process (python -m scoring_service) on a tansu broker, SQLite application database "
            "(online features + audit), champion LightGBM from a real MLflow server. inprocess_dps = the service's "
            "parse/featurise/score/explain/encode functions in the bench process, same bytes, same batch size, no "
            "Kafka, no audit write; throughput_dps = a pre-published backlog, first to last decision (service "
            "stamps); latencies = application handed to the producer to decision handed to the service's producer (the "
            "decision record's timestamp, ms resolution), open loop, read after each run (a rate above what the "
            "process sustains builds a queue: those latencies are queueing time). cpu_ms_per_decision = the scoring "
            "process's CPU time per decision over the backlog (1000 / it is the rate one idle core would sustain). "
            "Load average "
            f"1/5/15 min before {load_before[0]:.1f}/{load_before[1]:.1f}/{load_before[2]:.1f}, after "
            f"{load_after[0]:.1f}/{load_after[1]:.1f}/{load_after[2]:.1f} on {os.cpu_count()} cores (shared machine)."
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small run that checks the benchmark works")
    parser.add_argument("--decisions", type=int, help="applications in the throughput backlog")
    parser.add_argument("--seconds", type=float, help="seconds of each paced latency run")
    parser.add_argument(
        "--trees",
        type=int,
        help="a fixed champion of this many 31-leaf trees instead of the "
        "first-start recipe's (its number of trees chosen by cross-validation)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("aiokafka", "mlflow", "alembic", "httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    plan = Plan(3_000, None, 2_000, 5.0, 2) if args.quick else Plan(20_000, None, 20_000, 30.0, 3)
    plan = Plan(
        plan.applicants,
        args.trees or plan.trees,
        args.decisions or plan.decisions,
        args.seconds or plan.seconds,
        plan.repeats,
    )
    write_and_print(run(plan, args.quick), args.quick)


if __name__ == "__main__":
    main()
