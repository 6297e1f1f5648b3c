"""Plotly figures from a training run's figure data (``figures/<name>.json``, tagged by ``kind``)."""

from __future__ import annotations

from functools import partial
from typing import Any

import plotly.graph_objects as go

from credit_frontend.charts import BLUE, GREY, ORANGE, PALETTE
from credit_frontend.client import Json
from credit_frontend.names import split_label

AXES: dict[str, tuple[str, str, str, str]] = {  # kind -> title, x key, y key ... of its series
    "roc": ("ROC curves", "fpr", "tpr", "False positive rate|True positive rate"),
    "precision_recall": ("Precision-recall curves", "recall", "precision", "Recall|Precision"),
    "cost_vs_threshold": ("Business cost against the decision threshold", "threshold", "cost",
                          "Decision threshold|Cost per applicant"),
}  # fmt: skip


def _layout(fig: go.Figure, title: str, x: str, y: str, *, height: int | None = None) -> go.Figure:
    fig.update_layout(
        title={"text": title}, xaxis_title=x, yaxis_title=y, template="plotly_white", font={"size": 14},
        colorway=PALETTE, legend={"title": {"text": ""}}, height=height,
    )  # fmt: skip
    return fig


def _chance(fig: go.Figure, kind: str, prevalence: float | None, what: str = "") -> None:
    """The line a model without skill draws: the diagonal of a ROC curve; on a precision-recall curve, the
    precision of refusing everyone, the default rate of the split (``what`` names it when several are drawn)."""
    if kind == "roc":
        fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dot", "color": GREY})
    elif kind == "precision_recall" and isinstance(prevalence, float):
        fig.add_scatter(x=[0, 1], y=[prevalence, prevalence], mode="lines", line={"dash": "dot", "color": GREY},
                        name=f"chance{what}: default rate {prevalence:.1%}")  # fmt: skip


def series_figure(data: Json, title: str | None = None) -> go.Figure:
    """A figure of series by split (ROC, precision-recall, cost against threshold), one line per split."""
    kind = str(data.get("kind"))
    default_title, x_key, y_key, axes = AXES[kind]
    x_title, y_title = axes.split("|")
    fig = go.Figure()
    every = data.get("series") or {}
    for split, series in every.items():
        label = split_label(str(split))
        name = f"{label} (AUC {series['auc']:.3f})" if isinstance(series.get("auc"), float) else label
        fig.add_scatter(x=series.get(x_key), y=series.get(y_key), mode="lines", name=name)
    for split, series in every.items() if kind == "precision_recall" else [("", {})]:
        _chance(fig, kind, series.get("prevalence"), f" ({split_label(str(split)).lower()})" if len(every) > 1 else "")
    if kind == "cost_vs_threshold" and isinstance(data.get("threshold"), int | float):
        fig.add_vline(x=data["threshold"], line_dash="dash", line_width=3,
                      annotation_text=f"▼ chosen threshold {data['threshold']:.3f}")  # fmt: skip
    return _layout(fig, title or default_title, x_title, y_title)


def overlay(figures: dict[str, Json], split: str = "test") -> go.Figure | None:
    """The ``split`` series of one kind of figure from several runs on one chart (None when none has it)."""
    fig: go.Figure | None = None
    kind, prevalence = "", None
    for run, data in figures.items():
        kind = str(data.get("kind"))
        if kind not in AXES:
            continue
        default_title, x_key, y_key, axes = AXES[kind]
        series = (data.get("series") or {}).get(split)
        if series is None:
            continue
        if fig is None:
            x_title, y_title = axes.split("|")
            fig = _layout(go.Figure(), f"{default_title} ({split_label(split).lower()} split)", x_title, y_title)
        name = f"{run} (AUC {series['auc']:.3f})" if isinstance(series.get("auc"), float) else run
        fig.add_scatter(x=series.get(x_key), y=series.get(y_key), mode="lines", name=name)
        prevalence = prevalence if prevalence is not None else series.get("prevalence")
    if fig is not None:
        _chance(fig, kind, prevalence)
        fig.update_layout(showlegend=True, legend={"orientation": "h", "y": -0.2})
    return fig


def confusion(data: Json) -> go.Figure:
    """A confusion matrix with the counts written in each cell."""
    matrix = data.get("matrix") or [[0, 0], [0, 0]]
    rows, columns = data.get("rows") or ["repaid", "defaulted"], data.get("columns") or ["approved", "refused"]
    text = [[f"{v:,}" for v in row] for row in matrix]
    fig = go.Figure(go.Heatmap(z=matrix, x=columns, y=rows, text=text, texttemplate="%{text}", colorscale="Blues",
                               showscale=False, textfont={"size": 18}))  # fmt: skip
    title = f"Confusion matrix ({data.get('split', '')} split, threshold {data.get('threshold', 0):.3f})"
    fig = _layout(fig, title, "Decision", "Truth", height=380)
    fig.update_yaxes(autorange="reversed")
    return fig


def importance(data: Json, top: int = 25, labels: dict[str, str] | None = None) -> go.Figure:
    """The ``top`` largest importances as horizontal bars, features by their glossary names."""
    names = [(labels or {}).get(str(f), str(f)) for f in data.get("features") or []]
    pairs = list(zip(names, data.get("values") or [], strict=False))[:top]
    fig = go.Figure(go.Bar(x=[v for _, v in pairs], y=[f for f, _ in pairs], orientation="h", marker_color=BLUE))
    fig = _layout(fig, str(data.get("title") or "Feature importance"), "Importance", "", height=60 + 22 * len(pairs))
    fig.update_yaxes(autorange="reversed")
    return fig


def shap_summary(data: Json, labels: dict[str, str] | None = None) -> go.Figure:
    """Each feature's per-row contributions (a strip per feature), coloured by the feature's value."""
    fig = go.Figure()
    features = data.get("features") or []
    missing_shown = False
    for index, raw_item in enumerate(features):
        item = {**raw_item, "name": (labels or {}).get(str(raw_item["name"]), str(raw_item["name"]))}
        contributions = item.get("contribution") or []
        raw = list(item.get("value") or [None] * len(contributions))
        values = [v for v in raw if v is not None]
        low, high = (min(values), max(values)) if values else (0.0, 1.0)
        span = (high - low) or 1.0
        known = [(c, (v - low) / span) for c, v in zip(contributions, raw, strict=False) if v is not None]
        fig.add_scatter(
            x=[c for c, _ in known], y=[item["name"]] * len(known), mode="markers",
            marker={"color": [v for _, v in known], "colorscale": [[0, BLUE], [1, ORANGE]], "cmin": 0, "cmax": 1,
                    "size": 5, "opacity": 0.6, "colorbar": {"title": {"text": "value<br>low→high"}}
                    if index == 0 else None, "showscale": index == 0},
            name=str(item["name"]), showlegend=False,
        )  # fmt: skip
        unknown = [c for c, v in zip(contributions, raw, strict=False) if v is None]
        if unknown:  # a missing value has no colour on the value scale: grey crosses, named in the legend
            fig.add_scatter(
                x=unknown, y=[item["name"]] * len(unknown), mode="markers", name="missing value",
                marker={"color": GREY, "symbol": "x", "size": 5, "opacity": 0.6},
                showlegend=not missing_shown, legendgroup="missing",
            )  # fmt: skip
            missing_shown = True
    fig.add_vline(x=0, line_color=GREY)
    title = f"SHAP summary ({data.get('rows', '?')} test rows): right of 0 raises the risk"
    fig = _layout(fig, title, "Contribution to the log-odds of default", "", height=80 + 28 * len(features))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(legend={"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"})  # clear of the colour bar
    return fig


def calibration(data: Json) -> go.Figure:
    """Observed default rate against the mean predicted probability, with the perfect diagonal."""
    predicted, observed = data.get("predicted") or [], data.get("observed") or []
    top = max([*predicted, *observed, 0.05])
    fig = go.Figure()
    fig.add_scatter(x=predicted, y=observed, mode="lines+markers", name="model")
    fig.add_scatter(x=[0, top], y=[0, top], mode="lines", name="perfect", line={"dash": "dot", "color": GREY})
    return _layout(fig, "Calibration (test split)", "Mean predicted probability", "Observed default rate")


def figure(data: Any, name: str, labels: dict[str, str] | None = None) -> go.Figure | None:
    """The plotly figure of a run's figure data, or None for a kind this dashboard does not draw."""
    if not isinstance(data, dict):
        return None
    kind = str(data.get("kind"))
    if kind in AXES:
        return series_figure(data)
    builders: dict[str, Any] = {
        "confusion_matrix": confusion,
        "importance": partial(importance, labels=labels),
        "shap_summary": partial(shap_summary, labels=labels),
        "calibration": calibration,
    }
    builder = builders.get(kind)
    if builder is not None:
        return builder(data)
    if "data" in data:  # a plotly figure as JSON
        return go.Figure(data)
    return None
