"""Settings of the dashboard (prefix ``FRONTEND_``): it talks to the gateway only."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the gateway is and which key the dashboard uses."""

    model_config = SettingsConfigDict(env_prefix="FRONTEND_", extra="ignore")

    gateway_url: str = Field("http://127.0.0.1:8000", description="Base URL of the gateway")
    api_key: SecretStr = Field(SecretStr(""), description="API key the dashboard sends to the gateway")
    timeout_s: float = Field(10.0, gt=0, description="Timeout of one gateway call")


@lru_cache
def get_settings() -> Settings:
    """The settings, read once from the environment."""
    return Settings()
