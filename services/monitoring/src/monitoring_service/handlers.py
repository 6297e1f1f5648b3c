"""Kafka handlers of the monitoring service (thin: parse, call the service logic, publish).

Decisions are grouped into windows in memory; closed windows are compared one at a time by a background task, in
a worker thread, so the consumer keeps polling. On-demand reports also run in a thread, once per request id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import BaseModel, ValidationError

from credit_shared import topics
from credit_shared.commands import CommandLedger, ProgressReporter
from credit_shared.contracts import monitoring as contract
from credit_shared.contracts.common import Failed, Progress
from credit_shared.contracts.envelope import Envelope, envelope
from credit_shared.contracts.loans import LoanDecision
from credit_shared.kafka import documented_batch, documented_bytes, raw_decoder
from monitoring_service.performance_runner import PerformanceRunner, Publish, subscribe_outcomes
from monitoring_service.service import MonitoringService
from monitoring_service.settings import Settings
from monitoring_service.windows import Served, Window, WindowBuffer

log = logging.getLogger(__name__)
SOURCE = "monitoring"


if TYPE_CHECKING:
    DecisionBatch = list[bytes]
    CommandBytes = bytes
else:
    DecisionBatch = documented_batch(LoanDecision)
    CommandBytes = documented_bytes(Envelope[contract.RequestDriftReport])


@dataclass
class MonitoringMetrics:
    """Prometheus metrics of the service."""

    decisions: Counter
    invalid: Counter
    windows: Counter
    alerts: Counter
    window_seconds: Histogram
    pending: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> MonitoringMetrics:
        """Register the metrics in ``registry``."""
        return cls(
            Counter("monitoring_decisions_total", "Decisions received", registry=registry),
            Counter(
                "monitoring_invalid_decisions_total", "Decision messages that could not be read", registry=registry
            ),
            Counter("monitoring_windows_total", "Windows compared", ["severity"], registry=registry),
            Counter("monitoring_alerts_total", "Drift alerts published", ["severity"], registry=registry),
            Histogram("monitoring_window_seconds", "Time to compare a window", registry=registry),
            Gauge("monitoring_pending_decisions", "Decisions waiting in open windows", registry=registry),
        )


@dataclass
class WindowRunner:
    """Owns the open windows and the background tasks that compare closed ones."""

    service: MonitoringService
    buffer: WindowBuffer
    publish: Callable[[BaseModel, str, str | None], Any]
    metrics: MonitoringMetrics
    tick_s: float = 5.0
    queue: asyncio.Queue[Window] = field(default_factory=asyncio.Queue)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def add(self, decision: LoanDecision) -> None:
        """Add a decision to its model version's window; queue the window when it closes."""
        for closed in self.buffer.add(
            decision.model.name, decision.model.version, Served.of(decision), time.monotonic()
        ):
            self.queue.put_nowait(closed)
        self.metrics.pending.set(self.buffer.pending())

    async def start(self) -> None:
        """Start the comparing task and the clock that closes aged windows."""
        self.spawn(self._compare_forever())
        self.spawn(self._tick_forever())

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background until it ends or the runner stops."""
        task = asyncio.create_task(work)
        self._tasks.append(task)
        task.add_done_callback(lambda t: self._tasks.remove(t) if t in self._tasks else None)

    async def stop(self) -> None:
        """Stop the background tasks (open windows are dropped: at most one partial window per model version)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            for window in self.buffer.due(time.monotonic()):
                self.queue.put_nowait(window)

    async def _compare_forever(self) -> None:
        while True:
            window = await self.queue.get()
            try:
                await self.compare(window)
            except Exception:
                log.exception("could not compare a window of %s v%s", window.model_name, window.model_version)

    async def compare(self, window: Window) -> None:
        """Compare one window in a thread and publish its report and alert."""
        with self.metrics.window_seconds.time():
            outcome = await asyncio.to_thread(self.service.check_window, window)
        for served in outcome.retry:
            self.buffer.add(window.model_name, window.model_version, served, time.monotonic())
        if outcome.report is not None:
            self.metrics.windows.labels(outcome.report.severity).inc()
            await self.publish(outcome.report, contract.REPORTED, None)
        if outcome.alert is not None:
            self.metrics.alerts.labels(outcome.alert.severity).inc()
            await self.publish(outcome.alert, contract.ALERT, None)


def read_decisions(body: list[bytes], metrics: MonitoringMetrics) -> list[LoanDecision]:
    """The decisions of a batch (a message that is not one is counted and skipped)."""
    decisions = []
    for raw in body:
        try:
            decisions.append(LoanDecision.model_validate_json(raw))
        except ValidationError as exc:
            metrics.invalid.inc()
            log.warning("skipped a decision message that is not a LoanDecision: %s", exc.errors()[:1])
    metrics.decisions.inc(len(decisions))
    return decisions


def register(
    broker: KafkaBroker,
    settings: Settings,
    service: MonitoringService,
    ledger: CommandLedger,
    metrics: MonitoringMetrics,
    *,
    performance: Callable[[Publish], PerformanceRunner],
) -> tuple[WindowRunner, PerformanceRunner]:
    """Subscribe the monitoring handlers to ``broker``; returns the window and performance runners to start and stop
    with it (``performance`` makes the latter from the events publisher)."""
    events = broker.publisher(
        topics.MONITORING_EVENTS.name,
        title="monitoring.events.v1",
        description="drift.reported, drift.alert, drift.progress, drift.report_ready, drift.failed, performance.alert "
        "(in an envelope).",
        schema=Envelope[contract.DriftReported],
    )

    async def publish(payload: BaseModel, type_: str, correlation_id: str | None) -> None:
        message = envelope(payload, type_=type_, source=SOURCE, correlation_id=correlation_id)
        await events.publish(message.model_dump_json().encode())

    runner = WindowRunner(
        service,
        WindowBuffer(settings.window_size, settings.window_max_age_s, settings.window_min_rows),
        publish,
        metrics,
    )
    subscribe_outcomes(broker, settings, realized := performance(publish))

    @broker.subscriber(
        topics.LOAN_DECISIONS.name,
        group_id=settings.group_id,
        batch=True,
        max_records=settings.batch_max_messages,
        batch_timeout_ms=settings.batch_max_wait_ms,
        auto_offset_reset="earliest",
        decoder=raw_decoder,
        title="loan-decisions",
        description="Decisions of the scoring service, grouped into windows per model version.",
        session_timeout_ms=settings.kafka.session_timeout_ms,
        heartbeat_interval_ms=settings.kafka.heartbeat_interval_ms,
    )
    async def on_decisions(body: DecisionBatch) -> None:
        decisions = read_decisions(body, metrics)
        for decision in decisions:
            runner.add(decision)
        await realized.add_decisions(decisions)

    @broker.subscriber(
        topics.MONITORING_COMMANDS.name,
        group_id=settings.group_id,
        auto_offset_reset="earliest",
        decoder=raw_decoder,
        title="monitoring.commands.v1",
        description="drift.report: a drift report on demand for one column or all columns of a dataset part.",
        session_timeout_ms=settings.kafka.session_timeout_ms,
        heartbeat_interval_ms=settings.kafka.heartbeat_interval_ms,
    )
    async def on_command(body: CommandBytes) -> None:
        try:
            command = Envelope[contract.RequestDriftReport].model_validate_json(body)
        except ValidationError as exc:
            log.warning("skipped an invalid monitoring command: %s", exc.errors()[:1])
            return
        if command.type != contract.REPORT:
            log.warning("skipped a monitoring command of unknown type %r", command.type)
            return
        runner.spawn(_run_command(command))

    async def _run_command(command: Envelope[contract.RequestDriftReport]) -> None:
        request = command.payload
        correlation = command.correlation_id or request.request_id
        claim = await asyncio.to_thread(ledger.claim, request.request_id, contract.REPORT)
        if not claim.new:
            if claim.status == "succeeded" and claim.result is not None:
                await publish(
                    contract.DriftReportReady.model_validate(claim.result), contract.REPORT_READY, correlation
                )
            return

        async def progress_event(event: Progress) -> None:
            await publish(event, contract.PROGRESS, correlation)

        reporter = ProgressReporter(request.request_id, progress_event, asyncio.get_running_loop())
        started = time.monotonic()
        try:
            report = await asyncio.to_thread(service.report_on_demand, request, settings.mlflow.model_name, reporter)
        except (LookupError, FileNotFoundError, ValueError) as exc:
            await _fail(request.request_id, "invalid_command", str(exc), correlation)
            return
        except Exception as exc:
            log.exception("on-demand report %s failed", request.request_id)
            await _fail(request.request_id, "internal_error", f"{type(exc).__name__}: {exc}", correlation)
            return
        ready = contract.DriftReportReady(
            request_id=request.request_id, report=report, duration_s=round(time.monotonic() - started, 3)
        )
        await asyncio.to_thread(ledger.finish, request.request_id, "succeeded", ready.model_dump(mode="json"))
        await publish(ready, contract.REPORT_READY, correlation)

    async def _fail(request_id: str, reason: str, detail: str, correlation: str | None) -> None:
        await asyncio.to_thread(ledger.finish, request_id, "failed", {"reason": reason, "detail": detail})
        await publish(Failed(request_id=request_id, reason=reason, detail=detail), contract.FAILED, correlation)

    return runner, realized
