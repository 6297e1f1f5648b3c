"""Settings shared by every service: one pydantic-settings class per concern, each with its own prefix.

Services compose these into their own settings class (``SCORING_``, ``GATEWAY_`` ...) and build it lazily
through a cached ``get_settings()``; nothing here connects to anything.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "dev", "development", "secret", "password"})


class Environment(StrEnum):
    """Where the platform runs; placeholder secrets are refused outside development."""

    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class PlatformSettings(BaseSettings):
    """Settings of the platform as a whole (prefix ``CREDIT_``)."""

    model_config = SettingsConfigDict(env_prefix="CREDIT_", extra="ignore")

    env: Environment = Field(Environment.DEVELOPMENT, description="development, test or production")
    home: Path = Field(Path(".credit"), description="Run state, datasets, logs and local stores")
    data_dir: Path | None = Field(
        None,
        description="Folder holding the Kaggle Home Credit CSV or Parquet files; synthetic data if unset",
    )
    log_level: str = Field("INFO", description="Log level of every service")
    log_json: bool = Field(False, description="Log one JSON object per line instead of text")

    @property
    def datasets_dir(self) -> Path:
        """Folder of the versioned datasets."""
        return self.home / "datasets"


class KafkaSettings(BaseSettings):
    """Kafka connection (prefix ``KAFKA_``)."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = Field("127.0.0.1:9092", description="Comma-separated host:port list")
    client_id: str = Field("credit-platform", description="Client id prefix sent to the broker")
    partitions: int = Field(6, ge=1, description="Partitions of the high-volume topics (applications, decisions)")
    replication_factor: int = Field(1, ge=1, description="Replication factor of the topics we create")
    session_timeout_ms: int = Field(10_000, ge=1000, description="Consumer-group session timeout")
    heartbeat_interval_ms: int = Field(1_000, ge=100, description="Consumer-group heartbeat interval")
    max_message_bytes: int = Field(2 * 1024 * 1024, description="Largest message the clients will fetch or send")


class MlflowSettings(BaseSettings):
    """MLflow tracking server and registry (prefix ``MLFLOW_``; ``MLFLOW_TRACKING_URI`` is MLflow's own)."""

    model_config = SettingsConfigDict(env_prefix="MLFLOW_", extra="ignore")

    tracking_uri: str = Field("http://127.0.0.1:5000", description="MLflow tracking server URL")
    model_name: str = Field("credit-default", description="Registered model name of the credit-default model")
    request_timeout_s: float = Field(10.0, gt=0, description="Timeout of one MLflow REST call")


class DatabaseSettings(BaseSettings):
    """Application database (prefix ``DATABASE_``): SQLite by default, PostgreSQL when the URL says so."""

    model_config = SettingsConfigDict(env_prefix="DATABASE_", extra="ignore")

    url: str = Field("sqlite:///.credit/credit.db", description="SQLAlchemy URL of the application database")
    pool_size: int = Field(5, ge=1, description="Connection pool size (PostgreSQL)")
    echo: bool = Field(False, description="Log every SQL statement")


class ServiceSettings(BaseSettings):
    """Base of each service's settings: the shared concerns plus the service's own HTTP port."""

    model_config = SettingsConfigDict(extra="ignore")

    host: str = Field("127.0.0.1", description="Address the health/metrics HTTP server binds")
    port: int = Field(8100, ge=0, le=65535, description="Port of the health/metrics HTTP server")
    platform: PlatformSettings = Field(default_factory=PlatformSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    mlflow: MlflowSettings = Field(default_factory=MlflowSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)


def refuse_placeholder(value: SecretStr | str | None, name: str, env: Environment) -> None:
    """Refuse a placeholder secret outside development.

    Args:
        value: the secret as configured.
        name: the environment variable, for the message.
        env: the environment the platform runs in.

    Raises:
        ValueError: when ``env`` is not development and the secret is empty or a known placeholder.
    """
    raw = value.get_secret_value() if isinstance(value, SecretStr) else (value or "")
    if env is not Environment.DEVELOPMENT and raw.strip().lower() in PLACEHOLDER_SECRETS:
        raise ValueError(f"{name} holds a placeholder secret; set a real one outside development")
