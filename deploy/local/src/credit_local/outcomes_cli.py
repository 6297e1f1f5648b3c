"""``credit loans outcomes``: publish on ``loan-outcomes`` the outcomes of decided requests whose truth is known.

A lender learns months later which loans defaulted; on this machine the truth is known at once: the synthetic
tables' generator drew every applicant's outcome, the production part's (``application_test``, which no model was
trained on) too (:func:`credit_local.synthetic.labels`), or a file of labels says it (``--labels``:
``SK_ID_CURR`` and ``TARGET``, CSV or Parquet, such as Kaggle's ``application_train.csv``). The decisions are read from
``loan-decisions``, from the beginning to the end it had when the command started; one outcome per request id.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from credit_shared.contracts.outcomes import LoanOutcome


def outcomes_of(
    decisions: Iterable[tuple[str, int]], truth: Mapping[int, int], observed_at: datetime
) -> list[LoanOutcome]:
    """One outcome per decided request id whose applicant's truth is known (``TARGET`` 1 = defaulted)."""
    from credit_shared.contracts.outcomes import LoanOutcome, Outcome

    seen: dict[str, LoanOutcome] = {}
    for request_id, sk_id_curr in decisions:
        target = truth.get(sk_id_curr)
        if target is not None and request_id not in seen:
            outcome = Outcome.DEFAULTED if int(target) == 1 else Outcome.REPAID
            seen[request_id] = LoanOutcome(
                request_id=request_id, sk_id_curr=sk_id_curr, outcome=outcome, observed_at=observed_at
            )
    return list(seen.values())


def known_truth(home: Path, labels_file: Path | None) -> dict[int, int]:
    """``SK_ID_CURR`` -> ``TARGET`` from ``labels_file``, else from the platform's synthetic tables (or {})."""
    if labels_file is not None:
        import pandas as pd

        frame = pd.read_parquet(labels_file) if labels_file.suffix == ".parquet" else pd.read_csv(labels_file)
        frame = frame[["SK_ID_CURR", "TARGET"]].dropna()
        return dict(zip(frame["SK_ID_CURR"].astype(int).tolist(), frame["TARGET"].astype(int).tolist(), strict=True))
    from credit_local.synthetic import MANIFEST, labels

    manifest = home / "raw" / "synthetic" / MANIFEST
    if not manifest.is_file():
        return {}
    made = json.loads(manifest.read_text())
    return labels(int(made["applicants"]), int(made["seed"]))


async def read_decisions(bootstrap: str) -> list[tuple[str, int]]:
    """(request id, applicant id) of every decision on ``loan-decisions`` up to its end when called."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from credit_shared import topics

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    out: list[tuple[str, int]] = []
    try:
        await consumer.topics()
        topic = topics.LOAN_DECISIONS.name
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0})]
        consumer.assign(parts)
        ends = await consumer.end_offsets(parts)
        await consumer.seek_to_beginning(*parts)
        while [p for p in parts if await consumer.position(p) < ends[p]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    data = json.loads(record.value or b"{}")
                    out.append((str(data["request_id"]), int(data["sk_id_curr"])))
    finally:
        await consumer.stop()
    return out


async def send_outcomes(bootstrap: str, outcomes: list[LoanOutcome]) -> None:
    """Publish ``outcomes`` on ``loan-outcomes``, keyed by the applicant id."""
    from aiokafka import AIOKafkaProducer

    from credit_shared import topics
    from credit_shared.contracts.loans import encode, message_key

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        for outcome in outcomes:
            await producer.send(topics.LOAN_OUTCOMES.name, encode(outcome), key=message_key(outcome.sk_id_curr))
        await producer.flush()
    finally:
        await producer.stop()


def outcomes(
    labels_file: Annotated[
        Path | None, typer.Option("--labels", help="CSV or Parquet of SK_ID_CURR and TARGET (default: synthetic truth)")
    ] = None,
    delay: Annotated[float, typer.Option(min=0, help="Seconds to wait before publishing (outcomes come later)")] = 0.0,
) -> None:
    """Publish on `loan-outcomes` the outcomes of the decided requests whose truth is known."""
    import time

    from rich.console import Console

    from credit_local.loans_cli import bootstrap_servers, home
    from credit_shared.contracts.envelope import utc_now

    console, state = Console(), home()
    bootstrap = bootstrap_servers(state)
    decisions = asyncio.run(read_decisions(bootstrap))
    found = outcomes_of(decisions, known_truth(state, labels_file), utc_now())
    console.print(f"{len(decisions)} decision(s) read; the truth is known for {len(found)} request id(s)")
    if delay and found:
        console.print(f"waiting {delay:g} s before publishing")
        time.sleep(delay)  # the user asked for it: outcomes arrive after decisions
    asyncio.run(send_outcomes(bootstrap, found))
    defaulted = sum(o.defaulted for o in found)
    console.print(f"published {len(found)} outcome(s) on loan-outcomes ({defaulted} defaulted)")
