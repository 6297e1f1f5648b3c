"""The decision stream: read ``loan-applications`` a batch at a time, decide, commit; never stop, never loop.

This is where one application starts its way to its decision. The path, in five modules:

1. :mod:`scoring_service.stream` (here): the batch is read from the topic; a batch waits while no champion is
   served; the batch before is committed while this one is decided;
2. :mod:`scoring_service.batch`: each message on its own: read strictly (:mod:`scoring_service.dead_letters`),
   recognised when its request id was decided already, otherwise decided;
3. :mod:`scoring_service.scorer`: features, probability, decision, reason codes;
4. :mod:`scoring_service.commit`: the audit rows written, every decision / dead letter / reply sent, the batch
   committed (in one Kafka transaction when the transport is transactional);
5. :mod:`scoring_service.audit`: what the audit row of a decision holds.

A batch whose decisions or commit fail is read again after a growing pause: a failure that may pass (broker or
database down) never dead-letters a message; a failure pinned on one message dead-letters that message alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from credit_shared.contracts.loans import LoanDecision
from scoring_service.batch import BatchDecider
from scoring_service.commit import Committer
from scoring_service.health import StreamHealth
from scoring_service.holder import ModelHolder
from scoring_service.metrics import ScoringMetrics
from scoring_service.transport import Record, Transport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pacing:
    """How the stream reads, waits and backs off."""

    batch_max_messages: int = 200
    hold_wait_s: float = 5.0  # a batch waits this long for a champion before it is read again
    retry_backoff_s: float = 1.0  # the first pause before a failed batch is read again
    retry_backoff_max_s: float = 30.0  # the pause doubles per failure up to this
    drain_timeout_s: float = 20.0  # longest wait for the batch in flight at a rebalance or shutdown


class DecisionStream:
    """The consumer loop of ``loan-applications``."""

    def __init__(
        self,
        connect: Callable[[], Transport],
        *,
        decider: BatchDecider,
        committer: Callable[[Transport], Committer],
        holder: ModelHolder,
        health: StreamHealth,
        metrics: ScoringMetrics,
        pacing: Pacing,
    ) -> None:
        self._connect, self._committer = connect, committer
        self.decider, self.holder, self.health, self.metrics, self.pacing = decider, holder, health, metrics, pacing
        self._finishing: tuple[asyncio.Task[None], list[Record]] | None = None  # the batch before, committing
        self._in_flight: dict[str, LoanDecision] = {}  # its decisions, not in the audit yet
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run the loop in the background (until :meth:`stop`)."""
        self._task = asyncio.get_running_loop().create_task(self.run(), name="decision-stream")

    async def stop(self) -> None:
        """Finish the batch in flight, leave the group, close."""
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self.pacing.drain_timeout_s + 5)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task

    async def run(self) -> None:
        """Connect (again and again until the broker answers), then read, decide and commit until stopped."""
        transport = await self._connected()
        if transport is None:
            return
        self.bind(transport)
        try:
            while not self._stopping.is_set():
                records = await transport.poll(self.pacing.batch_max_messages)
                self.health.observe_lag(await transport.lag())
                if not records:
                    await self.settle(transport)
                    self.health.idle()
                    continue
                self.metrics.received.inc(len(records))
                await self.handle(transport, records)
            await self.drain()
        finally:
            self.health.connected = False
            with contextlib.suppress(Exception):
                await transport.stop()

    def bind(self, transport: Transport) -> None:
        """Commit through ``transport`` (the one the batches are read from)."""
        self.committer = self._committer(transport)

    async def _connected(self) -> Transport | None:
        """A started transport, or None when stopped before the broker answered."""
        failures = 0
        while not self._stopping.is_set():
            transport = self._connect()
            try:
                await transport.start(self.drain)
            except Exception as exc:  # noqa: BLE001 - the broker is not there yet, or refuses: say so, retry
                failures += 1
                self.health.last_error = f"cannot connect: {type(exc).__name__}: {exc}"[:500]
                log.warning("loan-applications consumer cannot start (%s); retrying", self.health.last_error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._backoff(failures))
                continue
            self.health.connected, self.health.last_error = True, None
            log.info("consuming loan-applications (%s)", "exactly once" if transport.transactional else "at least once")
            return transport
        return None

    async def handle(self, transport: Transport, records: Sequence[Record]) -> None:
        """One batch: hold it while no champion is served, decide it, then commit it in the background."""
        batch = list(records)
        if not await self.holder.wait_ready(self.pacing.hold_wait_s):
            self.metrics.held.inc(len(batch))
            if await self._previous_finished(transport, batch):
                transport.rewind(batch)  # hold: no champion yet, read the same messages again later
            return
        self.metrics.batch_size.observe(len(batch))
        served = self.holder.served
        assert served.champion is not None
        try:
            outcome = await self.decider.decide(batch, served.champion, served.challenger, self._in_flight)
        except Exception as exc:
            log.exception("a batch of %d could not be decided; it will be read again", len(batch))
            if await self._previous_finished(transport, batch):
                await self._failed(transport, batch, exc)
            return
        if not await self._previous_finished(transport, batch):
            return
        self._in_flight = outcome.decisions()
        task = asyncio.get_running_loop().create_task(self.committer.finish(outcome))
        self._finishing = (task, batch)

    async def settle(self, transport: Transport) -> None:
        """Wait for the batch before to be committed now (a quiet stream handles a failure at once, not when the next
        batch comes)."""
        await self._previous_finished(transport, [])

    async def _previous_finished(self, transport: Transport, batch: list[Record]) -> bool:
        """Wait for the batch before to be committed; False (and both batches read again) if it failed."""
        if self._finishing is None:
            return True
        task, previous = self._finishing
        self._finishing = None
        try:
            await task
        except Exception as exc:  # noqa: BLE001 - whatever failed, the batch is read again
            log.warning("committing a batch failed (%s: %s); it will be read again", type(exc).__name__, exc)
            self._in_flight = {}
            await self._failed(transport, [*previous, *batch], exc)
            return False
        self._in_flight = {}
        self.health.progressed()
        return True

    async def _failed(self, transport: Transport, records: list[Record], exc: BaseException) -> None:
        self.health.failed(exc)
        transport.rewind(records)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), self._backoff(self.health.consecutive_failures))

    def _backoff(self, failures: int) -> float:
        """The pause after ``failures`` failures in a row: doubling from the first pause, capped."""
        return float(min(self.pacing.retry_backoff_max_s, self.pacing.retry_backoff_s * 2 ** max(0, failures - 1)))

    async def drain(self) -> None:
        """Wait for the batch in flight to be committed (before partitions are taken away, and at shutdown)."""
        if self._finishing is None:
            return
        task, _ = self._finishing
        try:
            await asyncio.wait_for(asyncio.shield(task), self.pacing.drain_timeout_s)
        except Exception:
            log.warning("the batch in flight was not committed before the partitions were released", exc_info=True)
            return
        if self._finishing is not None and self._finishing[0] is task:
            self._finishing = None
            self._in_flight = {}
            self.health.progressed()
