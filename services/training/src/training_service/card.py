"""Fairness table and model card (markdown) of a trained model.

Groups: ``CODE_GENDER``, ``NAME_FAMILY_STATUS`` (kept aside by the feature policy, never inputs) and an age band
derived from ``DAYS_BIRTH`` (negative days). For each group: size,
default rate, approval rate, disparate-impact ratio (approval rate / the most approved group's; flagged below 0.8,
the "four-fifths rule"), true-positive rate (share of actual defaulters refused) and its gap to the most
favoured group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import pandas as pd

from credit_shared.evaluation import METRICS

DI_FLAG: Final = 0.8
AGE_BANDS: Final = (0, 30, 40, 50, 60, 200)
AGE_LABELS: Final = ("<30", "30-39", "40-49", "50-59", "60+")


def age_band(days_birth: pd.Series) -> pd.Series:
    """Age band of each applicant from ``DAYS_BIRTH`` (days before the application, negative)."""
    years = -pd.to_numeric(days_birth, errors="coerce") / 365.25
    return pd.cut(years, bins=list(AGE_BANDS), labels=list(AGE_LABELS), right=False).astype(object)


def fairness_table(groups: dict[str, pd.Series], y: np.ndarray, refused: np.ndarray) -> list[dict[str, Any]]:
    """One row per (attribute, group): approval rate, disparate impact, true-positive rate and its gap.

    Args:
        groups: attribute name -> group of each row (aligned with ``y``); missing values form group ``missing``.
        y: true labels (1 = defaulted).
        refused: decisions (True = refused).
    """
    rows: list[dict[str, Any]] = []
    for attribute, values in groups.items():
        labels = values.astype(object).where(values.notna(), "missing").astype(str).to_numpy()
        stats = []
        for group in sorted(set(labels)):
            mask = labels == group
            defaulters = mask & (y == 1)
            tpr = float(refused[defaulters].mean()) if defaulters.any() else float("nan")
            stats.append((group, int(mask.sum()), float(y[mask].mean()), float(1 - refused[mask].mean()), tpr))
        favoured = max(stats, key=lambda s: s[3])
        for group, n, default_rate, approval, tpr in stats:
            di = approval / favoured[3] if favoured[3] > 0 else float("nan")
            rows.append(
                {
                    "attribute": attribute,
                    "group": group,
                    "n": n,
                    "default_rate": default_rate,
                    "approval_rate": approval,
                    "disparate_impact": di,
                    "flagged": bool(di < DI_FLAG),
                    "tpr": tpr,
                    "tpr_gap": tpr - favoured[4],
                }
            )
    return rows


FAIRNESS_COLUMNS: Final = ("CODE_GENDER", "NAME_FAMILY_STATUS")


def sensitive_groups(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """The fairness attributes available in ``frame`` (gender, marital status, age band)."""
    groups: dict[str, pd.Series] = {}
    for column in FAIRNESS_COLUMNS:
        if column in frame.columns:
            groups[column] = frame[column].reset_index(drop=True)
    if "DAYS_BIRTH" in frame.columns:
        groups["age_band"] = age_band(frame["DAYS_BIRTH"]).reset_index(drop=True)
    return groups


@dataclass
class CardInputs:
    """What the model card says."""

    run_name: str
    family: str
    dataset_id: str
    dataset: dict[str, Any]
    params: dict[str, Any]
    metrics: dict[str, float]
    threshold: float
    fn_weight: float
    fp_weight: float
    fairness: list[dict[str, Any]]
    top_features: list[str]
    quality: dict[str, Any] = field(default_factory=dict)  # calibration, inputs and fit (see artifacts._quality)


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _model(c: CardInputs) -> list[str]:
    m, q = c.metrics, c.quality
    trees = q.get("trees")
    fit = (f"{trees} trees, chosen by lockstep cross-validation on the training rows (mean validation ROC AUC; "
           f"at least {q.get('trees_floor')})" if trees is not None else "")  # fmt: skip
    rows = f"{q.get('fit_rows')} rows" + (" (every labelled row, test rows included)" if q.get("refit_all_rows")
                                          else " (every training row; the test rows are held out)")  # fmt: skip
    return [
        "## Model",
        f"- Family: `{c.family}`; parameters: `{c.params}`",
        *([f"- Size: {fit}."] if fit else []),
        f"- Registered fit: on {rows}.",
        f"- Decision: refuse when the probability of default is at least **{c.threshold:.3f}**, the threshold that "
        f"minimises `({c.fn_weight:g}·FN + {c.fp_weight:g}·FP) / n` on calibrated out-of-fold probabilities.",
        f"- Cost per applicant on the test split: {_fmt(m.get('test_business_cost'))} at the threshold, "
        f"{_fmt(m.get('test_cost_at_0_5'))} at 0.5, {_fmt(m.get('test_cost_accept_all'))} accepting everybody.",
    ]


def _calibration(c: CardInputs) -> list[str]:
    m, cal = c.metrics, c.quality.get("calibration") or {}
    slope, intercept = cal.get("slope", float("nan")), cal.get("intercept", float("nan"))
    how = (f"sigmoid (Platt): {slope:.4f} · log-odds + {intercept:.4f}" if cal.get("method") == "sigmoid"
           else f"isotonic ({cal.get('knots')} knots)")  # fmt: skip
    losses = ", ".join(f"{k} {v:.4f}" for k, v in (cal.get("cross_fitted_log_loss") or {}).items())
    rows = [f"| {name} | {_fmt(m.get(f'oof_{name}', float('nan')))} | {_fmt(m.get(f'test_{name}', float('nan')))} |"
            for name in ("brier", "log_loss", "ece", "expected_default_rate", "observed_default_rate",
                         "expected_observed_ratio")]  # fmt: skip
    return [
        "## Calibration",
        f"- Calibrator: {how}, fitted on the out-of-fold probabilities (asked: `{cal.get('requested', 'auto')}`; "
        f"cross-fitted log-loss: {losses or 'n/a'}). The registered pipeline applies it: the probability served is "
        "a calibrated probability of default.",
        f"- Brier score of always answering the training default rate, on the test split: "
        f"{_fmt(m.get('test_constant_brier'))}.",
        "",
        "| measure | out of fold | test |",
        "|---|---|---|",
        *rows,
        "",
        "The reliability curve is the `calibration` figure. The champion gate refuses a test expected/observed ratio "
        "outside [0.8, 1.25].",
    ]


def _inputs(c: CardInputs) -> list[str]:
    q = c.quality
    excluded = [f"- `{k}`: {v}" for k, v in (q.get("excluded") or {}).items()]
    flagged = [f"- `{k}`: {v}" for k, v in (q.get("flagged") or {}).items()]
    monotone = q.get("monotone_constraints") or {}
    words = {1: "risk may only rise with the value", -1: "risk may only fall as the value rises"}
    return [
        "## Inputs",
        f"- Kept aside for the fairness table, never inputs: {', '.join(q.get('aside') or []) or 'none'}.",
        f"- Missing source tables (their history features are missing): "
        f"{', '.join(c.dataset.get('absent_tables') or []) or 'none'}.",
        "",
        "Excluded from the inputs:",
        *(excluded or ["- none"]),
        "",
        "Flagged for review (used):",
        *(flagged or ["- none"]),
        "",
        "Monotone constraints:",
        *([f"- `{k}`: {words.get(v, 'free')}" for k, v in monotone.items()] or ["- none"]),
        "",
        f"- Most influential features (mean |SHAP|): {', '.join(c.top_features[:10])}.",
    ]


def _fairness(c: CardInputs) -> list[str]:
    fairness_rows = [
        f"| {r['attribute']} | {r['group']} | {r['n']} | {_fmt(r['default_rate'])} | {_fmt(r['approval_rate'])} "
        f"| {_fmt(r['disparate_impact'])}{' ⚠' if r['flagged'] else ''} | {_fmt(r['tpr'])} | {_fmt(r['tpr_gap'])} |"
        for r in c.fairness
    ]
    flagged = [f"{r['attribute']}={r['group']}" for r in c.fairness if r["flagged"]]
    return [
        "## Fairness (test split, at the decision threshold)",
        "Disparate impact = approval rate / the most approved group's; below 0.8 is flagged (⚠). TPR = share of "
        "actual defaulters refused; the gap is measured against the most approved group.",
        "",
        "| attribute | group | n | default rate | approval rate | disparate impact | TPR | TPR gap |",
        "|---|---|---|---|---|---|---|---|",
        *(fairness_rows or ["| - | not available: the dataset has no CODE_GENDER / DAYS_BIRTH | | | | | | |"]),
        "",
        f"Flagged groups: {', '.join(flagged) if flagged else 'none'}.",
    ]


def model_card(c: CardInputs) -> str:
    """The model card as markdown."""
    m = c.metrics
    metric_rows = [
        f"| {name} | {_fmt(m.get(f'cv_{name}', float('nan')))} ± {_fmt(m.get(f'cv_{name}_std', float('nan')))} "
        f"| {_fmt(m.get(f'train_{name}', float('nan')))} | {_fmt(m.get(f'test_{name}', float('nan')))} |"
        for name in METRICS
    ]
    return "\n".join(
        [
            f"# Model card: {c.run_name}",
            "",
            *_model(c),
            "",
            "## Data",
            f"- Dataset `{c.dataset_id}`: {c.dataset.get('rows')} labelled applicants, {c.dataset.get('features')} "
            f"model inputs, default rate {_fmt(c.dataset.get('target_rate'))}; source {c.dataset.get('source_kind')}.",
            "",
            *_inputs(c),
            "",
            "## Intended use",
            "Ranks consumer-loan applicants by probability of default to support (not replace) a credit decision by "
            "the lender's staff. Not for pricing, marketing or decisions about people outside the training population.",
            "",
            "## Metrics (cross-validation mean ± std, train, test)",
            "| metric | cross-validation | train | test |",
            "|---|---|---|---|",
            *metric_rows,
            "",
            *_calibration(c),
            "",
            *_fairness(c),
            "",
            "## Caveats",
            "- The threshold depends on the cost weights; other weights need another threshold, not another model.",
            "- Calibration is measured on this data's default rate: a population with another rate needs a new "
            "calibration (monitoring compares expected and observed default rates by grade).",
            "- Fairness figures are observational, on a single split; small groups carry wide uncertainty. Protected "
            "attributes are not inputs, but other inputs may still act as proxies: read the table.",
            "- Refusal reasons are factor groups of the reason catalogue; a protected attribute is never one.",
            "- Trained on historical decisions: applicants refused in the past are absent (selection bias).",
            "",
        ]
    )
