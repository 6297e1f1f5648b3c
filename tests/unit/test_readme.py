"""The README's configuration table is generated from the settings classes: it documents every variable.

Run ``UPDATE_README=1 uv run pytest tests/unit/test_readme.py`` after changing a setting.
"""

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from credit_frontend.settings import Settings as FrontendSettings
from credit_local.platform_home import LocalSettings
from credit_shared.scorecard import ScorecardSettings
from credit_shared.settings import DatabaseSettings, KafkaSettings, MlflowSettings, PlatformSettings
from gateway_service.settings import Settings as GatewaySettings
from ingestion_service.settings import Settings as IngestionSettings
from monitoring_service.settings import Settings as MonitoringSettings
from scoring_service.settings import Settings as ScoringSettings
from training_service.settings import Settings as TrainingSettings

pytestmark = pytest.mark.unit

README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- settings-table:start -->", "<!-- settings-table:end -->"
BENCH_START, BENCH_END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"
BENCH = Path(__file__).resolve().parents[2] / "bench" / "results"
SHARED = (PlatformSettings, KafkaSettings, MlflowSettings, DatabaseSettings, ScorecardSettings)
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


def bench_table() -> str:
    lines = ["| benchmark | run | figures | ratios |", "|---|---|---|---|"]
    for path in sorted(BENCH.glob("*.json")):
        if path.name.endswith(".quick.json"):
            continue
        result = json.loads(path.read_text())
        figures = ", ".join(f"{k} {_number(v)}" for k, v in result["figures"].items())
        ratios = ", ".join(f"{k} {_number(v)}" for k, v in result.get("ratios", {}).items())
        script, _, variant = path.stem.partition(".")  # scoring.trees-500.json: bench/scoring.py --trees 500
        option = f" --{variant.replace('-', ' ')}" if variant else ""
        lines.append(f"| `bench/{script}.py{option}` | {result['started_at'][:10]} | {figures} | {ratios} |")
    return "\n".join(lines)


def _number(value: object) -> str:
    return f"{value:,.3g}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else str(value)


def _section(text: str, start: str, end: str, body: str) -> tuple[str, str]:
    generated = f"{start}\n{body}\n{end}"
    if os.environ.get("UPDATE_README"):
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: generated, text, flags=re.S)
    return text, generated


def test_readme_tables_are_generated_from_the_code_and_the_results() -> None:
    original = README.read_text()
    text, settings = _section(original, START, END, table())
    text, bench = _section(text, BENCH_START, BENCH_END, bench_table())
    if text != original:
        README.write_text(text)
    assert bench in text, "README benchmark table is stale: UPDATE_README=1 pytest tests/unit/test_readme.py"
    assert settings in text, "README configuration table is stale: run UPDATE_README=1 pytest tests/unit/test_readme.py"
