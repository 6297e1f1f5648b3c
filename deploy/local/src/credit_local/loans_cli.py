"""``credit loans``: a lending-application simulator that publishes applications and tails the decisions.

It is an outside client of the public contract: plain aiokafka, the JSON of ARCHITECTURE.md, keys = applicant ids.
aiokafka, pandas and the contracts are imported by the commands that use them (``credit --help`` stays fast). The
broker is ``KAFKA_BOOTSTRAP_SERVERS`` when set, else the one the embedded platform under ``CREDIT_HOME`` runs.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from credit_local.outcomes_cli import outcomes
from credit_shared import topics

if TYPE_CHECKING:
    from rich.console import Console

loans_app = typer.Typer(
    help="Publish loan applications and watch the decisions (a lending-application simulator).", no_args_is_help=True
)


def _console() -> Console:
    from rich.console import Console

    return Console()


def home() -> Path:
    """The platform's state folder (``CREDIT_HOME``)."""
    from credit_shared.settings import PlatformSettings

    return PlatformSettings().home


def bootstrap_servers(state: Path) -> str:
    """``KAFKA_BOOTSTRAP_SERVERS`` when set, else the broker of the embedded platform under ``state``, else the
    default: the commands reach a platform `make up` started on other ports without any setting."""
    from credit_shared.settings import KafkaSettings

    if "KAFKA_BOOTSTRAP_SERVERS" not in os.environ:
        try:
            port = json.loads((state / "run" / "ports.json").read_text())["kafka_port"]
            return f"127.0.0.1:{int(port)}"
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return KafkaSettings().bootstrap_servers


MALFORMED: tuple[bytes, ...] = (
    b"\xff\xfe not utf-8",
    b"{ not json",
    b'{"request_id": "no-application"}',
    b'{"request_id": "no-id", "application": {"AMT_CREDIT": 1000.0}}',
    b'{"request_id": "bad-type", "application": {"SK_ID_CURR": 1, "AMT_CREDIT": "a lot"}}',
)


def production_applications(home: Path, dataset_id: str | None) -> list[dict[str, Any]]:
    """Application rows of a dataset's production part (raw application columns only), or [] if none exists."""
    from credit_shared.datasets import PRODUCTION, dataset_dir, list_manifests
    from credit_shared.homecredit.application import APPLICATION

    manifests = list_manifests(home / "datasets")
    if dataset_id is None and not manifests:
        return []
    chosen = dataset_id or manifests[0].dataset_id
    import pandas as pd

    path = dataset_dir(home / "datasets", chosen) / PRODUCTION
    if not path.is_file():
        raise typer.BadParameter(f"dataset {chosen} has no production part")
    frame = pd.read_parquet(path)
    columns = [c for c in APPLICATION.names if c in frame.columns]
    rows = frame[columns].astype(object).where(frame[columns].notna(), None).to_dict(orient="records")
    return [{str(k): _plain(v) for k, v in row.items()} for row in rows]


def synthetic_application(rng: random.Random, sk_id_curr: int) -> dict[str, Any]:
    """A plausible application around the contract's example (for a platform without data)."""
    from credit_shared.contracts.loans import EXAMPLE_APPLICATION

    app = dict(EXAMPLE_APPLICATION)
    app["SK_ID_CURR"] = sk_id_curr
    app["AMT_INCOME_TOTAL"] = round(rng.lognormvariate(11.8, 0.5), 2)
    app["AMT_CREDIT"] = round(rng.lognormvariate(13.0, 0.6), 2)
    app["AMT_ANNUITY"] = round(app["AMT_CREDIT"] / rng.uniform(10, 30), 2)
    app["DAYS_BIRTH"] = -rng.randint(21 * 365, 68 * 365)
    app["EXT_SOURCE_2"] = round(rng.random(), 6)
    app["EXT_SOURCE_3"] = round(rng.random(), 6)
    return app


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def messages(
    rows: list[dict[str, Any]], count: int, malformed_share: float, seed: int
) -> Iterator[tuple[bytes, bytes]]:
    """``count`` (key, value) pairs: applications in turn, with about ``malformed_share`` malformed ones."""
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:8]
    for k in range(count):
        if rng.random() < malformed_share:
            yield b"0", MALFORMED[k % len(MALFORMED)]
            continue
        application = rows[k % len(rows)] if rows else synthetic_application(rng, 900_000 + k)
        body = {"request_id": f"sim-{run}-{k}", "application": application}
        yield str(application["SK_ID_CURR"]).encode(), json.dumps(body).encode()


async def _publish(bootstrap: str, batch: list[tuple[bytes, bytes]], rate: float, console: Console) -> float:
    from aiokafka import AIOKafkaProducer
    from rich.progress import Progress

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    started = time.monotonic()
    try:
        with Progress(console=console) as progress:
            task = progress.add_task("publishing", total=len(batch))
            for k, (key, value) in enumerate(batch):
                if rate > 0:
                    delay = started + k / rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                await producer.send(topics.LOAN_APPLICATIONS.name, value, key=key)
                progress.advance(task)
            await producer.flush()
    finally:
        await producer.stop()
    return time.monotonic() - started


@loans_app.command()
def publish(
    count: Annotated[int, typer.Option(min=1, help="How many messages")] = 100,
    rate: Annotated[float, typer.Option(min=0, help="Messages per second (0 = as fast as possible)")] = 20.0,
    malformed: Annotated[float, typer.Option(min=0, max=1, help="Share of malformed messages")] = 0.0,
    dataset: Annotated[str | None, typer.Option(help="Dataset whose production part is replayed")] = None,
    synthetic: Annotated[bool, typer.Option(help="Invent applications instead of replaying a dataset")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the choices")] = 0,
) -> None:
    """Publish loan applications on `loan-applications`, exactly as a lending application would."""
    console, state = _console(), home()
    rows = [] if synthetic else production_applications(state, dataset)
    source = "synthetic applications" if not rows else f"{len(rows)} production applications"
    batch = list(messages(rows, count, malformed, seed))
    console.print(f"publishing {count} messages from {source} at {rate or 'max'} per second")
    elapsed = asyncio.run(_publish(bootstrap_servers(state), batch, rate, console))
    console.print(
        f"published {count} in {elapsed:.1f} s; watch them with `./credit loans tail --from-beginning --idle 10`"
    )


async def _tail(bootstrap: str, topic: str, start: tuple[str, int], stop: tuple[int, float, float]) -> int:
    """Print ``topic``'s records from ``start`` (``end``, ``beginning`` or ``last`` N per partition) until ``stop``
    (most records, seconds in all, seconds without a record; 0 = no limit)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from credit_local.loans_lines import describe

    console, (limit, timeout_s, idle_s) = _console(), stop
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    seen, now = 0, time.monotonic()
    deadline, last_seen = now + timeout_s if timeout_s else math.inf, now
    try:
        await consumer.topics()
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or {0})]
        consumer.assign(parts)
        ends = await consumer.end_offsets(parts)
        firsts = await consumer.beginning_offsets(parts)
        for part in parts:
            mode, count = start
            offset = {"end": ends[part], "beginning": firsts[part]}.get(mode, max(firsts[part], ends[part] - count))
            consumer.seek(part, offset)
        while seen < limit and time.monotonic() < deadline and not (idle_s and time.monotonic() - last_seen > idle_s):
            batches = await consumer.getmany(timeout_ms=500)
            for record in sorted((r for rs in batches.values() for r in rs), key=lambda r: r.timestamp):
                if seen >= limit:
                    break
                console.print(describe(topic, record.value or b""), highlight=False, soft_wrap=True)
                seen, last_seen = seen + 1, time.monotonic()
    finally:
        await consumer.stop()
    return seen


@loans_app.command()
def tail(
    dead_letters: Annotated[bool, typer.Option("--dead-letters", help="Show the dead-letter topic instead")] = False,
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="Read the topic from its first record, not only new ones")
    ] = False,
    last: Annotated[int, typer.Option(min=0, help="Start with the last N records of each partition (0: none)")] = 0,
    limit: Annotated[int, typer.Option(min=1, help="Stop after this many messages")] = 1_000_000,
    timeout: Annotated[float, typer.Option(min=0, help="Stop after this many seconds (0 = never)")] = 0.0,
    idle: Annotated[float, typer.Option(min=0, help="Stop after this many seconds without a record (0 = never)")] = 0.0,
) -> None:
    """Print decisions (or dead letters) as they arrive, with their reasons (or what failed, for which request)."""
    topic = topics.LOAN_APPLICATIONS_DLQ.name if dead_letters else topics.LOAN_DECISIONS.name
    start = ("beginning", 0) if from_beginning else (("last", last) if last else ("end", 0))
    bounds = [f"{idle:g} s without a record" if idle else "", f"{timeout:g} s" if timeout else ""]
    until = " or ".join(b for b in bounds if b) or "Ctrl-C"
    _console().print(f"reading {topic} from its {'last ' + str(last) if last else start[0]} until {until}")
    try:
        seen = asyncio.run(_tail(bootstrap_servers(home()), topic, start, (limit, timeout, idle)))
    except KeyboardInterrupt:
        return
    _console().print(f"{seen} message(s)")


loans_app.command()(outcomes)
