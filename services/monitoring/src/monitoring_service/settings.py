"""Settings of the monitoring service (prefix ``MONITORING_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from credit_shared.kafka import BatchOptions, batch_options
from credit_shared.settings import ServiceSettings
from monitoring_service.domain import Method, MethodChoice, Severity, SeverityRules
from monitoring_service.performance_alerts import AlertRules


class Settings(ServiceSettings):
    """The monitoring service's settings, composed with the shared Kafka, MLflow and database settings."""

    model_config = SettingsConfigDict(env_prefix="MONITORING_", extra="ignore")

    port: int = Field(8104, ge=0, le=65535, description="Port of the health/metrics HTTP server")
    group_id: str = Field("monitoring", description="Kafka consumer group of the service")
    batch_max_messages: int = Field(500, ge=1, description="Most decisions taken from Kafka at once")
    batch_max_wait_ms: int = Field(200, ge=1, description="Longest wait to fill a batch of decisions")

    # 2,000, not the original's 1,000: on the engineered features (~500 columns, many sparse aggregates), windows of
    # 1,000 undrifted decisions flagged 6-32 columns with Evidently's default methods (often a red alert on normal
    # traffic); windows of 2,000 flagged 0-11 (measured on the first start's synthetic dataset).
    window_size: int = Field(2000, ge=1, description="A window of served decisions closes at this many decisions")
    window_max_age_s: float | None = Field(
        3600.0, gt=0, description="... or when its first decision is this old (null: by count only)"
    )
    window_min_rows: int = Field(1000, ge=1, description="An aged window is compared only with at least this many rows")
    features_max_attempts: int = Field(
        3, ge=1, description="Windows a decision waits for its features to appear in the audit table"
    )

    reference_max_rows: int = Field(20_000, ge=100, description="Training rows sampled as a model's reference")
    reference_seed: int = Field(0, description="Seed of the reference sample (same seed, same verdicts)")
    numerical_method: Method | None = Field(
        None, description="Drift method of numerical columns (null: Evidently's default choice)"
    )
    categorical_method: Method | None = Field(
        None, description="Drift method of categorical columns (null: Evidently's default choice)"
    )
    method_thresholds: dict[Method, float] = Field(
        default_factory=dict, description='Thresholds overriding a method\'s default, e.g. {"wasserstein": 0.15}'
    )

    orange_share: float = Field(
        0.2, gt=0, le=1, description="Severity is orange from this share of the model's importance drifting materially"
    )
    red_share: float = Field(0.5, gt=0, le=1, description="Severity is red from this share of the model's importance")
    material_factor: float = Field(
        2.0,
        ge=1,
        le=10,
        description="A drift is material from this many times a distance's threshold (a test: "
        "its p-value below the threshold divided by 10 to this power)",
    )
    important_top_k: int = Field(10, ge=0, description="The k most important features are named when they drift")
    alert_level: Severity = Field("orange", description="A drift-alert event is published from this severity")

    html_every_windows: int = Field(
        10, ge=0, description="Render the Evidently HTML every n-th window of a model version (0: never)"
    )
    html_on_alert: bool = Field(True, description="Render the Evidently HTML of every window that raises an alert")
    html_max_columns: int = Field(
        1000,
        ge=1,
        description="Most columns of a window's HTML report (drifted first, then by importance); with at most this "
        "many model inputs it covers them all, so its counts are the summary's",
    )
    report_workers: int = Field(
        2, ge=1, description="Processes computing an Evidently report, 40 columns at a time (1: in the service)"
    )

    performance_interval_s: float = Field(
        2.0, gt=0, description="Shortest time between two recomputations of the realized-performance report"
    )
    performance_min_outcomes: int = Field(
        100, ge=1, description="Outcomes a version needs before its realized figures can raise an alert"
    )

    @model_validator(mode="after")
    def _orange_before_red(self) -> Settings:
        if self.orange_share > self.red_share:
            raise ValueError("MONITORING_ORANGE_SHARE must not exceed MONITORING_RED_SHARE")
        return self

    @property
    def reports_dir(self) -> Path:
        """The artifact store of reports."""
        return self.platform.home / "reports"

    @property
    def references_dir(self) -> Path:
        """The cache of model versions' references."""
        return self.platform.home / "monitoring" / "references"

    def batches(self) -> BatchOptions:
        """How the decisions and outcomes subscribers join the group and take their batches."""
        return batch_options(
            self.kafka, self.group_id, max_records=self.batch_max_messages, timeout_ms=self.batch_max_wait_ms
        )

    def rules(self) -> SeverityRules:
        """The severity rules."""
        return SeverityRules(self.orange_share, self.red_share, self.important_top_k, self.material_factor)

    def alert_rules(self) -> AlertRules:
        """When realized performance raises an alert."""
        return AlertRules(min_outcomes=self.performance_min_outcomes)

    def method_choice(self) -> MethodChoice:
        """The drift methods per column type."""
        return MethodChoice(
            self.numerical_method, self.categorical_method, {str(k): v for k, v in self.method_thresholds.items()}
        )


@lru_cache
def get_settings() -> Settings:
    """The settings, read once from the environment."""
    return Settings()
