"""Settings of the gateway (prefix ``GATEWAY_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from credit_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """The gateway's settings, composed with the shared Kafka, MLflow and database settings."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    port: int = Field(8000, ge=0, le=65535, description="Port of the REST API")
    dev_keys_file: Path | None = Field(
        None, description="JSON file of development API keys by role, loaded at start-up (development only)"
    )
    bootstrap_admin_key: SecretStr | None = Field(
        None,
        description="An administrator key registered at start-up (the first key of a deployment); "
        "placeholders are refused outside development",
    )
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed by CORS (closed by default)")
    max_body_bytes: int = Field(1024 * 1024, ge=1024, description="Largest request body accepted (413 above)")
    max_batch_body_bytes: int = Field(
        8 * 1024 * 1024, ge=1024, description="Largest body of a batch of decisions (up to 1,000 applications)"
    )
    rate_limit_per_s: float = Field(5.0, gt=0, description="Sustained rate of expensive requests per API key")
    rate_limit_burst: int = Field(20, ge=1, description="Burst of expensive requests an API key may make at once")
    publish_timeout_s: float = Field(10.0, gt=0, description="How long publishing a command may wait for the broker")
    decision_timeout_s: float = Field(5.0, gt=0, description="How long a synchronous decision waits for its reply")
    batch_stall_timeout_s: float = Field(
        30.0,
        gt=0,
        description="How long a batch of decisions may go without any decision before it fails (the scoring service "
        "decides a large batch in chunks; the first one takes longest)",
    )
    named_version_timeout_s: float = Field(
        20.0,
        gt=0,
        description="How long a decision or explanation naming a model version waits at least (its first use loads "
        "the version from the registry)",
    )
    reply_fetch_wait_ms: int = Field(
        250,
        ge=1,
        le=500,
        description="Longest wait of one fetch of the replies consumer when no reply is there: the broker answers as "
        "soon as one arrives, so it sets what an idle gateway costs (every 20 ms: about 3 % of a core) more than the "
        "decision latency",
    )
    raw_dir: Path | None = Field(
        None,
        description="Folder of the raw tables shown by /v1/raw; default CREDIT_DATA_DIR, else the synthetic tables "
        "under CREDIT_HOME/raw/synthetic, else GATEWAY_SAMPLE_DIR",
    )
    sample_dir: Path | None = Field(None, description="Folder of the real sample tables (last resort for /v1/raw)")
    raw_sample_rows: int = Field(
        20_000, ge=100, le=1_000_000, description="Rows of each raw table kept in memory for browsing and charts"
    )
    key_cache_s: float = Field(30.0, ge=0, description="How long a verified API key is remembered")
    data_cache_items: int = Field(64, ge=1, description="Tables, dataset parts and charts kept in memory")
    data_cache_mb: int = Field(2048, ge=16, description="Memory budget of the cached tables and dataset parts")
    create_topics: bool = Field(True, description="Create the platform's Kafka topics at start-up (idempotent)")
    jobs_group: str = Field("gateway-jobs", description="Consumer group following the services' events for jobs")
    migrate_on_start: bool = Field(
        True, description="Bring the database schema to the latest revision at start-up (idempotent)"
    )


@lru_cache
def get_settings() -> Settings:
    """The settings, read once from the environment."""
    return Settings()
