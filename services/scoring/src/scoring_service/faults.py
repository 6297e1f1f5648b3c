"""What may pass and what never will: the failure classes of the stream, and how one bad message is found.

A failure that may pass (the broker or the database unreachable, a timeout) is retried with a growing pause and never
dead-letters a message: the stream holds until the outage ends. Any other failure is deterministic: the same
message fails the same way every time, so it is isolated (:func:`isolate` splits the batch until the failing messages
stand alone) and dead-lettered with the step that failed, while the rest of the batch goes on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from aiokafka.errors import KafkaError
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from credit_shared.contracts.loans import DeadLetterStep

T = TypeVar("T")
R = TypeVar("R")


class StepFailed(Exception):
    """A step of deciding failed; the original error is the cause."""

    def __init__(self, step: DeadLetterStep, cause: BaseException) -> None:
        super().__init__(f"{step} failed: {type(cause).__name__}: {cause}")
        self.step: DeadLetterStep = step
        self.cause = cause


@contextlib.contextmanager
def step(name: DeadLetterStep) -> Iterator[None]:
    """Name the step whose code runs inside: any failure leaves as :class:`StepFailed` (a ``StepFailed`` of an inner
    step keeps its own name)."""
    try:
        yield
    except StepFailed:
        raise
    except Exception as exc:
        raise StepFailed(name, exc) from exc


def is_transient(exc: BaseException) -> bool:
    """True for a failure that may pass: a broker or database that does not answer, a timeout.

    Kafka errors say so themselves (``retriable``); for the database, a lost or refused connection and a lock
    timeout may pass, a value the database refuses (``DataError``, ``IntegrityError``) never will.
    """
    cause = exc.cause if isinstance(exc, StepFailed) else exc
    if isinstance(cause, KafkaError):
        return bool(getattr(cause, "retriable", False)) or type(cause).__name__ in _KAFKA_OUTAGES
    if isinstance(cause, OperationalError | InterfaceError | DisconnectionError | PoolTimeout):
        return True
    if isinstance(cause, DBAPIError):
        return bool(cause.connection_invalidated)
    return isinstance(cause, ConnectionError | TimeoutError | OSError)


_KAFKA_OUTAGES = frozenset({"KafkaConnectionError", "KafkaTimeoutError", "NodeNotReadyError", "RequestTimedOutError"})


def isolate(
    items: Sequence[T], run: Callable[[Sequence[T]], list[R]]
) -> tuple[list[tuple[int, R]], list[tuple[int, BaseException]]]:
    """Run ``run`` on ``items``; when it fails deterministically, on each half, until the failing items stand alone.

    ``run`` returns one result per item, in order. A batch that passes costs one call; ``k`` bad items among ``n``
    cost about ``2 k log2(n)`` calls.

    Returns:
        ``(results, failures)``: ``(position, result)`` of every item that passed, ``(position, error)`` of every
        item that failed on its own.

    Raises:
        Exception: the first failure that may pass (:func:`is_transient`): the whole batch is to be retried.
    """
    results: list[tuple[int, R]] = []
    failures: list[tuple[int, BaseException]] = []

    def attempt(lo: int, hi: int) -> None:
        try:
            out = run(items[lo:hi])
        except Exception as exc:
            if is_transient(exc):
                raise
            if hi - lo == 1:
                failures.append((lo, exc))
                return
            mid = (lo + hi) // 2
            attempt(lo, mid)
            attempt(mid, hi)
            return
        results.extend(zip(range(lo, hi), out, strict=True))

    if items:
        attempt(0, len(items))
    return results, failures
