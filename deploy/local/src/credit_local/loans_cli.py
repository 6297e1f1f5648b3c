"""``credit loans``: a lending-application simulator that publishes applications and tails the decisions.

It is an outside client of the public contract: plain aiokafka, the JSON of ARCHITECTURE.md, keys = applicant ids.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from rich.console import Console
from rich.progress import Progress

from credit_shared import topics
from credit_shared.contracts.loans import EXAMPLE_APPLICATION
from credit_shared.datasets import PRODUCTION, dataset_dir, list_manifests
from credit_shared.homecredit.application import APPLICATION
from credit_shared.settings import KafkaSettings, PlatformSettings

loans_app = typer.Typer(help="Publish loan applications and watch the decisions (a lending-application simulator).")
console = Console()

MALFORMED: tuple[bytes, ...] = (
    b"\xff\xfe not utf-8",
    b"{ not json",
    b'{"request_id": "no-application"}',
    b'{"request_id": "no-id", "application": {"AMT_CREDIT": 1000.0}}',
    b'{"request_id": "bad-type", "application": {"SK_ID_CURR": 1, "AMT_CREDIT": "a lot"}}',
)


def production_applications(home: Path, dataset_id: str | None) -> list[dict[str, Any]]:
    """Application rows of a dataset's production part (raw application columns only), or [] if none exists."""
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


async def _publish(bootstrap: str, batch: list[tuple[bytes, bytes]], rate: float) -> float:
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
    rows = [] if synthetic else production_applications(PlatformSettings().home, dataset)
    source = "synthetic applications" if not rows else f"{len(rows)} production applications"
    batch = list(messages(rows, count, malformed, seed))
    console.print(f"publishing {count} messages from {source} at {rate or 'max'} per second")
    elapsed = asyncio.run(_publish(KafkaSettings().bootstrap_servers, batch, rate))
    console.print(f"published {count} in {elapsed:.1f} s; watch them with `credit loans tail`")


async def _tail(bootstrap: str, topic: str, limit: int, timeout_s: float) -> int:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="latest")
    await consumer.start()
    seen = 0
    deadline = time.monotonic() + timeout_s if timeout_s else math.inf
    try:
        while seen < limit and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for record in (r for records in batches.values() for r in records):
                if seen >= limit:
                    break
                console.print(_describe(topic, record.value or b""))
                seen += 1
    finally:
        await consumer.stop()
    return seen


def _describe(topic: str, raw: bytes) -> str:
    data = json.loads(raw)
    if topic == topics.LOAN_APPLICATIONS_DLQ.name:
        return f"[red]dead letter[/] {data.get('reason')}: {data.get('error')}"
    colour = "red" if data["decision"] == "refused" else "green"
    reasons = ", ".join(r["label"] for r in data.get("reasons", []))
    return (
        f"[{colour}]{data['decision']:8}[/] client {data['sk_id_curr']} p={data['probability']:.3f} "
        f"(threshold {data['threshold']:.3f}, v{data['model']['version']}) {reasons}"
    )


@loans_app.command()
def tail(
    dead_letters: Annotated[bool, typer.Option("--dead-letters", help="Show the dead-letter topic instead")] = False,
    limit: Annotated[int, typer.Option(min=1, help="Stop after this many messages")] = 1_000_000,
    timeout: Annotated[float, typer.Option(min=0, help="Stop after this many seconds (0 = never)")] = 0.0,
) -> None:
    """Print decisions (or dead letters) as they arrive."""
    topic = topics.LOAN_APPLICATIONS_DLQ.name if dead_letters else topics.LOAN_DECISIONS.name
    console.print(f"following {topic} (Ctrl-C to stop)")
    try:
        seen = asyncio.run(_tail(KafkaSettings().bootstrap_servers, topic, limit, timeout))
    except KeyboardInterrupt:
        return
    console.print(f"{seen} message(s)")
