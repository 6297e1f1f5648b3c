"""The alerts of realized performance: each says what was seen, what to do, and the command that does it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from credit_shared.contracts.performance import Comparison, PerformanceAlert, VersionPerformance

RETRAIN = "POST /v1/training (dashboard: Training), then promote the new version once it passes the gate"


@dataclass(frozen=True)
class AlertRules:
    """When realized figures raise an alert."""

    min_outcomes: int = 100  # fewer outcomes say too little for any realized alert
    ratio_low: float = 0.8  # expected / observed default rate outside [low, high]: miscalibrated
    ratio_high: float = 1.25
    psi_act: float = 0.25  # PSI of the PDs above this: the population moved


def _version_alerts(v: VersionPerformance, rules: AlertRules) -> list[PerformanceAlert]:
    out = []
    enough = v.outcomes >= rules.min_outcomes
    if enough and v.test_auc is not None and v.realized_auc_interval and v.realized_auc_interval[1] < v.test_auc:
        out.append(
            PerformanceAlert(
                kind="realized_auc_below_test",
                model_version=v.version,
                message=f"realized AUC {v.realized_auc:.3f} (95 % up to {v.realized_auc_interval[1]:.3f}) on "
                f"{v.outcomes} outcomes is below the test AUC {v.test_auc:.3f} of v{v.version}",
                action="retrain on recent data (the ranking no longer holds)",
                command=RETRAIN,
            )
        )
    ratio = v.expected_observed_ratio
    if enough and ratio is not None and not rules.ratio_low <= ratio <= rules.ratio_high:
        out.append(
            PerformanceAlert(
                kind="expected_observed_out_of_band",
                model_version=v.version,
                message=f"expected / observed default rate is {ratio:.2f} on {v.outcomes} outcomes of v{v.version} "
                f"(band [{rules.ratio_low}, {rules.ratio_high}]): the PDs are "
                + ("too high" if ratio > rules.ratio_high else "too low"),
                action="recalibrate: retrain (the calibration is refitted) and check the threshold",
                command=RETRAIN,
            )
        )
    if v.psi is not None and v.psi > rules.psi_act:
        out.append(
            PerformanceAlert(
                kind="psi_above_act",
                model_version=v.version,
                message=f"PSI of the PDs of v{v.version} is {v.psi:.3f} in its latest window (act above "
                f"{rules.psi_act}): the applicants differ from the training population",
                action="look at the drift report, then retrain on recent data",
                command="GET /v1/monitoring/alerts; " + RETRAIN,
            )
        )
    return out


def performance_alerts(
    versions: Sequence[VersionPerformance], comparisons: Sequence[Comparison], rules: AlertRules
) -> list[PerformanceAlert]:
    """Every alert the realized figures and the latest windows raise."""
    out = [a for v in versions for a in _version_alerts(v, rules)]
    for c in comparisons:
        interval = c.cost_saving_interval
        if c.applicants >= rules.min_outcomes and interval is not None and interval[0] > 0:
            out.append(
                PerformanceAlert(
                    kind="challenger_better",
                    model_version=c.challenger,
                    message=f"challenger v{c.challenger} costs {c.cost_saving_per_applicant:.3f} less per applicant "
                    f"than champion v{c.champion} on the same {c.applicants} applicants (95 % interval of the saving "
                    f"[{interval[0]:.3f}, {interval[1]:.3f}])",
                    action=f"promote v{c.challenger} to champion",
                    command=f'POST /v1/registry/aliases/champion {{"version": "{c.challenger}"}}',
                )
            )
    return out
