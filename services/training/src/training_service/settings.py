"""Settings of the training service (prefix ``TRAINING_``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from credit_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """The training service's settings, composed with the shared Kafka, MLflow and database settings."""

    model_config = SettingsConfigDict(env_prefix="TRAINING_", extra="ignore")

    port: int = Field(8102, ge=0, le=65535, description="Port of the health/metrics HTTP server")
    group_id: str = Field("training", description="Kafka consumer group of the service")
    threads: int = Field(2, ge=1, le=64, description="Threads of LightGBM / random forest on large datasets")


@lru_cache
def get_settings() -> Settings:
    """The settings, read once from the environment."""
    return Settings()
