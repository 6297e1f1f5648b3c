"""Settings of the ingestion service (prefix ``INGESTION_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from credit_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    """The ingestion service's settings, composed with the shared Kafka, MLflow and database settings."""

    model_config = SettingsConfigDict(env_prefix="INGESTION_", extra="ignore")

    port: int = Field(8101, ge=0, le=65535, description="Port of the health/metrics HTTP server")
    group_id: str = Field("ingestion", description="Kafka consumer group of the service")
    sample_dir: Path | None = Field(
        None, description="Folder of the real sample tables, used when a build asks for source 'sample'"
    )
    memory_limit: str = Field("3GB", description="Memory limit of the DuckDB feature engine (it spills beyond)")
    threads: int = Field(2, ge=1, description="Threads of the DuckDB feature engine")


@lru_cache
def get_settings() -> Settings:
    """The settings, read once from the environment."""
    return Settings()
