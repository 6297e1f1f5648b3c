"""The README's configuration table is generated from the settings classes: it documents every variable.

Run ``UPDATE_README=1 uv run pytest tests/unit/test_readme.py`` after changing a setting.
"""

import os
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from credit_frontend.settings import Settings as FrontendSettings
from credit_local.launcher import LocalSettings
from credit_shared.settings import DatabaseSettings, KafkaSettings, MlflowSettings, PlatformSettings
from gateway_service.settings import Settings as GatewaySettings
from ingestion_service.settings import Settings as IngestionSettings
from monitoring_service.settings import Settings as MonitoringSettings
from scoring_service.settings import Settings as ScoringSettings
from training_service.settings import Settings as TrainingSettings

pytestmark = pytest.mark.unit

README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- settings-table:start -->", "<!-- settings-table:end -->"
SHARED = (PlatformSettings, KafkaSettings, MlflowSettings, DatabaseSettings)
SERVICES = (
    IngestionSettings,
    TrainingSettings,
    ScoringSettings,
    MonitoringSettings,
    GatewaySettings,
    FrontendSettings,
    LocalSettings,
)


def _default(value: Any) -> str:
    if hasattr(value, "get_secret_value"):
        return "(secret)" if value.get_secret_value() else "(empty)"
    text = str(value.value if hasattr(value, "value") else value)
    return f"`{text}`" if text not in {"", "None", "[]"} else "(none)"


def rows(settings: type[BaseSettings]) -> list[str]:
    prefix = str(settings.model_config.get("env_prefix", ""))
    out = []
    for name, field in settings.model_fields.items():
        factory = field.default_factory
        if isinstance(factory, type) and issubclass(factory, BaseSettings):
            continue  # a shared concern, documented under its own prefix
        default = factory() if factory else field.default  # type: ignore[call-arg]
        out.append(f"| `{(prefix + name).upper()}` | {_default(default)} | {field.description or ''} |")
    return out


def table() -> str:
    lines = ["| variable | default | what it does |", "|---|---|---|"]
    for settings in (*SHARED, *SERVICES):
        lines.extend(rows(settings))
    return "\n".join(lines)


def test_readme_documents_every_setting() -> None:
    text = README.read_text()
    generated = f"{START}\n{table()}\n{END}"
    if os.environ.get("UPDATE_README"):
        text = re.sub(re.escape(START) + ".*?" + re.escape(END), generated, text, flags=re.S)
        README.write_text(text)
    assert generated in text, (
        "README configuration table is stale: run UPDATE_README=1 pytest tests/unit/test_readme.py"
    )
