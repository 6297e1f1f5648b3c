"""Settings of the gateway (prefix ``GATEWAY_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from credit_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """The gateway's settings, composed with the shared Kafka, MLflow and database settings."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    port: int = Field(8000, ge=0, le=65535, description="Port of the REST API")
    dev_keys_file: Path | None = Field(
        None, description="JSON file of development API keys by role, loaded at start-up (development only)"
    )
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed by CORS (closed by default)")


@lru_cache
def get_settings() -> Settings:
    """The settings, read once from the environment."""
    return Settings()
