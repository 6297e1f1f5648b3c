"""Fairness table and model card (markdown) of a trained model.

Groups: ``CODE_GENDER`` and an age band derived from ``DAYS_BIRTH`` (negative days). For each group: size,
default rate, approval rate, disparate-impact ratio (approval rate / the most approved group's; flagged below 0.8,
the "four-fifths rule"), true-positive rate (share of actual defaulters refused) and its gap to the most
favoured group.
"""

from __future__ import annotations

from dataclasses import dataclass
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


def sensitive_groups(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """The fairness attributes available in ``frame`` (gender, age band)."""
    groups: dict[str, pd.Series] = {}
    if "CODE_GENDER" in frame.columns:
        groups["CODE_GENDER"] = frame["CODE_GENDER"].reset_index(drop=True)
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


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def model_card(c: CardInputs) -> str:
    """The model card as markdown."""
    m = c.metrics
    metric_rows = [
        f"| {name} | {_fmt(m.get(f'cv_{name}', float('nan')))} ± {_fmt(m.get(f'cv_{name}_std', float('nan')))} "
        f"| {_fmt(m.get(f'train_{name}', float('nan')))} | {_fmt(m.get(f'test_{name}', float('nan')))} |"
        for name in METRICS
    ]
    fairness_rows = [
        f"| {r['attribute']} | {r['group']} | {r['n']} | {_fmt(r['default_rate'])} | {_fmt(r['approval_rate'])} "
        f"| {_fmt(r['disparate_impact'])}{' ⚠' if r['flagged'] else ''} | {_fmt(r['tpr'])} | {_fmt(r['tpr_gap'])} |"
        for r in c.fairness
    ]
    flagged = [f"{r['attribute']}={r['group']}" for r in c.fairness if r["flagged"]]
    return "\n".join(
        [
            f"# Model card: {c.run_name}",
            "",
            "## Model",
            f"- Family: `{c.family}`; parameters: `{c.params}`",
            f"- Decision: refuse when the probability of default is at least **{c.threshold:.3f}**, the threshold that "
            f"minimises `({c.fn_weight:g}·FN + {c.fp_weight:g}·FP) / n` on out-of-fold probabilities.",
            f"- Cost per applicant on the test split: {_fmt(m.get('test_business_cost'))} at the threshold, "
            f"{_fmt(m.get('test_cost_at_0_5'))} at 0.5, {_fmt(m.get('test_cost_accept_all'))} accepting everybody.",
            "",
            "## Data",
            f"- Dataset `{c.dataset_id}`: {c.dataset.get('rows')} labelled applicants, {c.dataset.get('features')} "
            f"features, default rate {_fmt(c.dataset.get('target_rate'))}; source {c.dataset.get('source_kind')}.",
            f"- Most influential features (mean |SHAP|): {', '.join(c.top_features[:10])}.",
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
            "## Fairness (test split, at the decision threshold)",
            "Disparate impact = approval rate / the most approved group's; below 0.8 is flagged (⚠). TPR = share of "
            "actual defaulters refused; the gap is measured against the most approved group.",
            "",
            "| attribute | group | n | default rate | approval rate | disparate impact | TPR | TPR gap |",
            "|---|---|---|---|---|---|---|---|",
            *(fairness_rows or ["| - | not available: the dataset has no CODE_GENDER / DAYS_BIRTH | | | | | | |"]),
            "",
            f"Flagged groups: {', '.join(flagged) if flagged else 'none'}.",
            "",
            "## Caveats",
            "- The threshold depends on the cost weights; other weights need another threshold, not another model.",
            "- Probabilities are not calibrated when a sampler or class weighting was used: read the calibration curve "
            "before using them as default rates.",
            "- Fairness figures are observational, on a single split; small groups carry wide uncertainty. Gender and "
            "age may be legally protected attributes: their use as features must be reviewed.",
            "- Trained on historical decisions: applicants refused in the past are absent (selection bias).",
            "",
        ]
    )
