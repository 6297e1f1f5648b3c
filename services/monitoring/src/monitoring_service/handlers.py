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
from functools import partial
from typing import TYPE_CHECKING, Any

from faststream.kafka import KafkaRouter
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import ValidationError

from credit_shared import topics
from credit_shared.commands import CommandLedger, CommandRefused, CommandRunner, ProgressReporter, read_command
from credit_shared.contracts import monitoring as contract
from credit_shared.contracts.envelope import Envelope
from credit_shared.contracts.loans import LoanDecision
from credit_shared.kafka import (
    Publish,
    documented_batch,
    documented_bytes,
    events_publisher,
    group_options,
    raw_decoder,
    subscribe,
)
from monitoring_service.performance_runner import PerformanceRunner, subscribe_outcomes
from monitoring_service.service import MonitoringService
from monitoring_service.settings import Settings
from monitoring_service.windows import Served, Window, WindowBuffer

log = logging.getLogger(__name__)
SOURCE = "monitoring"
COMMANDS = {contract.REPORT: contract.RequestDriftReport}


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
    publish: Publish
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


@dataclass
class Monitoring:
    """What the monitoring handlers need: the drift service, the window and performance runners, the commands."""

    settings: Settings
    service: MonitoringService
    windows: WindowRunner
    realized: PerformanceRunner
    commands: CommandRunner

    async def on_decisions(self, body: DecisionBatch) -> None:
        """Add the decisions to their windows and to the realized performance."""
        decisions = read_decisions(body, self.windows.metrics)
        for decision in decisions:
            self.windows.add(decision)
        await self.realized.add_decisions(decisions)

    async def on_command(self, body: CommandBytes) -> None:
        """Start an on-demand report in the background (once per request id); an invalid command is skipped."""
        try:
            accepted = read_command(body, COMMANDS)
        except CommandRefused as exc:
            log.warning("skipped an invalid monitoring command (%s): %s", exc.reason, exc.detail[:500])
            return
        report = partial(self.report, accepted.command)
        self.windows.spawn(self.commands.run(accepted, report, contract.REPORT_READY, contract.DriftReportReady))

    def report(self, request: contract.RequestDriftReport, progress: ProgressReporter) -> contract.DriftReportReady:
        """The on-demand report (blocking: the runner calls it in a thread).

        Raises:
            CommandRefused: ``invalid_command`` (an unknown dataset, part, column or model version).
        """
        started = time.monotonic()
        try:
            report = self.service.report_on_demand(request, self.settings.mlflow.model_name, progress)
        except (LookupError, FileNotFoundError, ValueError) as exc:
            raise CommandRefused("invalid_command", str(exc)) from exc
        duration_s = round(time.monotonic() - started, 3)
        return contract.DriftReportReady(request_id=request.request_id, report=report, duration_s=duration_s)


def make_router(
    settings: Settings,
    service: MonitoringService,
    ledger: CommandLedger,
    metrics: MonitoringMetrics,
    *,
    performance: Callable[[Publish], PerformanceRunner],
) -> tuple[KafkaRouter, WindowRunner, PerformanceRunner]:
    """The monitoring service's subscribers and publisher, with the window and performance runners to start and stop
    with the broker (``performance`` makes the latter from the events publisher)."""
    router = KafkaRouter()
    publish = events_publisher(
        router,
        topics.MONITORING_EVENTS,
        SOURCE,
        description="drift.reported, drift.alert, drift.progress, drift.report_ready, drift.failed, performance.alert "
        "(in an envelope).",
        schema=Envelope[contract.DriftReported],
    )
    buffer = WindowBuffer(settings.window_size, settings.window_max_age_s, settings.window_min_rows)
    windows, realized = WindowRunner(service, buffer, publish, metrics), performance(publish)
    commands = CommandRunner(ledger, publish, contract.PROGRESS, contract.FAILED)
    handlers = Monitoring(settings, service, windows, realized, commands)
    subscribe_outcomes(router, settings, realized)
    subscribe(
        router,
        topics.LOAN_DECISIONS,
        handlers.on_decisions,
        description="Decisions of the scoring service, grouped into windows per model version.",
        decoder=raw_decoder,
        **settings.batches(),
    )
    subscribe(
        router,
        topics.MONITORING_COMMANDS,
        handlers.on_command,
        description="drift.report: a drift report on demand for one column or all columns of a dataset part.",
        decoder=raw_decoder,
        **group_options(settings.kafka, settings.group_id),
    )
    return router, windows, realized
