"""Settings of the scoring service (prefix ``SCORING_``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from credit_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """The scoring service's settings, composed with the shared Kafka, MLflow and database settings."""

    model_config = SettingsConfigDict(env_prefix="SCORING_", extra="ignore")

    port: int = Field(8103, ge=0, le=65535, description="Port of the health/metrics HTTP server")
    group_id: str = Field("scoring", description="Kafka consumer group reading loan-applications")
    batch_max_messages: int = Field(200, ge=1, le=10_000, description="Most applications scored in one batch")
    batch_max_wait_ms: int = Field(
        2,
        ge=1,
        le=10_000,
        description="Longest wait for applications when none are buffered (a batch is whatever has arrived: it "
        "is not held to fill up); FastStream then pauses as long again, so this bounds a quiet stream's latency",
    )
    fetch_wait_ms: int = Field(
        5,
        ge=1,
        le=500,
        description="Longest wait of one fetch of loan-applications: the broker may hold an empty fetch that long "
        "even when an application arrives meanwhile (tansu does), so it bounds the latency of a quiet stream; "
        "shorter waits make fetches carry fewer applications each and load the broker more (on tansu, 2 ms was "
        "slower than 5 ms at 500 per second)",
    )
    hold_wait_s: float = Field(5.0, gt=0, description="How long a batch waits for a champion before it is re-read")
    retry_backoff_s: float = Field(1.0, ge=0, description="Pause before re-reading a batch that failed")
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
