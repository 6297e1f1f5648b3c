"""Settings of the scoring service (prefix ``SCORING_``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from credit_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """The scoring service's settings, composed with the shared Kafka, MLflow and database settings."""

    model_config = SettingsConfigDict(env_prefix="SCORING_", extra="ignore")

    port: int = Field(8103, ge=0, le=65535, description="Port of the health/metrics HTTP server")
    group_id: str = Field("scoring", description="Kafka consumer group reading loan-applications")
    batch_max_messages: int = Field(200, ge=1, le=10_000, description="Most applications scored in one batch")
    fetch_wait_ms: int = Field(
        5,
        ge=1,
        le=500,
        description="Longest wait of one fetch of loan-applications while applications flow: it bounds the latency "
        "of a quiet stream; shorter waits make fetches carry fewer applications each and load the broker more (on "
        "tansu, 2 ms was slower than 5 ms at 500 per second)",
    )
    idle_fetch_wait_ms: int = Field(
        250,
        ge=1,
        le=5_000,
        description="Longest wait of one fetch once no application arrived for 2 s: the broker answers as soon as "
        "one arrives, and an idle stream then costs a fraction of 1 % of a core instead of about 6 %",
    )
    poll_timeout_ms: int = Field(
        500, ge=1, le=10_000, description="Longest wait for applications when none are buffered (a batch is "
        "whatever has arrived: it is not held to fill up)",
    )  # fmt: skip
    delivery: Literal["at_least_once", "exactly_once"] = Field(
        "at_least_once",
        description="exactly_once: decisions, dead letters and consumed offsets in one Kafka transaction per "
        "batch (a read_committed consumer sees one decision per request id); needs a broker with transactions "
        "(Apache Kafka; the embedded tansu has none). at_least_once: offsets committed once the batch's sends are "
        "acknowledged (after a crash, the stored decisions of the batch in flight are published again)",
    )
    transactional_id: str | None = Field(
        None,
        description="Transactional id of this instance (exactly_once): stable across its restarts, distinct between "
        "instances (a restart with the same id aborts what a killed process left open); default <group_id>-<hostname>",
    )
    transaction_timeout_ms: int = Field(
        15_000, ge=1000, le=900_000, description="How long an open transaction of a process that died holds "
        "read_committed readers back before the broker aborts it (a restart with the same id aborts it at once)",
    )  # fmt: skip
    hold_wait_s: float = Field(5.0, gt=0, description="How long a batch waits for a champion before it is re-read")
    retry_backoff_s: float = Field(1.0, ge=0, description="First pause before re-reading a batch that failed")
    retry_backoff_max_s: float = Field(
        30.0, ge=0, description="Longest pause between two readings of a batch that keeps failing (it doubles)"
    )
    unready_after_failures: int = Field(
        3, ge=1, description="Consecutive failures of the same batch after which /ready says not ready, and why"
    )
    stall_after_s: float = Field(
        60.0, gt=0, description="/ready says not ready when applications wait and no batch was committed this long"
    )
    dead_letter_store_max_bytes: int = Field(
        16 * 1024 * 1024, ge=0, description="Largest original kept whole in the audit store's dead letters (the "
        "dead-letter topic carries at most 64 KiB of it, with its size and SHA-256)",
    )  # fmt: skip
    audit_retention_days: float | None = Field(
        400.0, gt=0, description="Decisions older than this are archived to Parquet (one file per period) and "
        "removed from the database; none = keep every decision in the database (outcomes arrive months later: "
        "keep them past the outcome horizon)",
    )  # fmt: skip
    archive_period: Literal["day", "month"] = Field("month", description="Period of one archive file")
    dead_letter_retention_days: float | None = Field(
        90.0, gt=0, description="Dead letters older than this are removed from the database"
    )
    scorings_retention_days: float | None = Field(
        90.0, gt=0, description="Dataset scorings older than this are deleted (their rows and summary)"
    )
    retention_interval_s: float = Field(3600.0, gt=0, description="How often the retention runs")
    reload_interval_s: float = Field(
        30.0, gt=0, description="How often the served models are checked against the registry aliases"
    )
    named_versions_kept: int = Field(
        2,
        ge=0,
        le=20,
        description="Registered versions other than the champion and challenger kept loaded for analysts' "
        "named-version requests (least recently used dropped first)",
    )
    dataset_chunk_rows: int = Field(
        5000, ge=100, le=1_000_000, description="Rows scored at a time when a whole dataset is scored"
    )
    promoted_event_type: str = Field("model.promoted", description="Envelope type of the model-promoted event")


@lru_cache
def get_settings() -> Settings:
    """The settings, read once from the environment."""
    return Settings()
