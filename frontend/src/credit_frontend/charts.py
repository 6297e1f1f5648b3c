"""Plotly figures built from the gateway's chart data (titles and axis labels always set)."""

from __future__ import annotations

import itertools
from typing import Any, Final

import plotly.graph_objects as go
import plotly.io as pio

from credit_frontend.client import Json
from credit_frontend.ui import is_number
from credit_frontend.units import label_for_people

# Okabe-Ito: distinguishable with colour-vision deficiencies; meaning is also always written out
BLUE: Final = "#0072B2"
ORANGE: Final = "#D55E00"
GREEN: Final = "#009E73"
GREY: Final = "#595959"
PALETTE: Final = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]


def _layout(fig: go.Figure, title: str, x: str, y: str) -> go.Figure:
    fig.update_layout(
        title={"text": title},
        xaxis_title=x,
        yaxis_title=y,
        template="plotly_white",
        font={"size": 14},
        margin={"l": 60, "r": 20, "t": 60, "b": 60},
        colorway=PALETTE,
    )
    return fig


def distribution(dist: Json, title: str, *, marker: Any = None, marker_label: str = "this client") -> go.Figure:
    """A histogram (numeric column) or a bar chart of counts (categorical column), the ``marker`` value marked."""
    column = str(dist.get("column", ""))
    fig = go.Figure()
    if dist.get("kind") == "categorical" or dist.get("categories"):
        cats = dist.get("categories") or []
        values = [str(c["value"]) for c in cats]
        colours = [ORANGE if marker is not None and v == str(marker) else BLUE for v in values]
        fig.add_bar(x=values, y=[c["count"] for c in cats], marker_color=colours, name="count")
        fig = _layout(fig, title, column, "Number of rows")
    else:
        bins = dist.get("bins") or []
        mids = [(b["left"] + b["right"]) / 2 for b in bins]
        widths = [b["right"] - b["left"] for b in bins]
        hover = [f"{b['left']:,.4g} to {b['right']:,.4g}: {b['count']:,}" for b in bins]
        fig.add_bar(x=mids, y=[b["count"] for b in bins], width=widths, marker_color=BLUE, hovertext=hover, name="")
        fig = _layout(fig, title, column, "Number of rows")
    if is_number(marker) and dist.get("kind") != "categorical":
        fig.add_vline(
            x=float(marker),
            line_dash="dash",
            line_color=ORANGE,
            line_width=3,
            annotation_text=f"▼ {marker_label}: {marker:,.4g}",
            annotation_position="top",
        )
    return fig


def gauge(probability: float, threshold: float) -> go.Figure:
    """The probability of default on a 0-100 % gauge, the decision threshold marked."""
    refused = probability >= threshold
    fig = go.Figure(
        go.Indicator(
            mode="gauge+number",
            value=probability * 100,
            number={"suffix": " %", "valueformat": ".1f"},
            title={"text": f"Probability of default (threshold {threshold * 100:.1f} %)"},
            gauge={
                "axis": {"range": [0, 100], "ticksuffix": " %"},
                "bar": {"color": ORANGE if refused else GREEN},
                "steps": [
                    {"range": [0, threshold * 100], "color": "#E8F4EE"},
                    {"range": [threshold * 100, 100], "color": "#FBEAE0"},
                ],
                "threshold": {"line": {"color": "#000000", "width": 4}, "thickness": 0.9, "value": threshold * 100},
            },
        )
    )
    fig.update_layout(height=300, margin={"l": 30, "r": 30, "t": 60, "b": 10}, font={"size": 14})
    return fig


def waterfall(base_value: float, contributions: list[Json], *, top: int = 12) -> go.Figure:
    """From the base value to the client's score, the largest contributions as steps (log-odds)."""
    ordered = sorted(contributions, key=lambda c: abs(float(c.get("contribution") or 0.0)), reverse=True)
    shown, rest = ordered[:top], ordered[top:]
    labels = [label_for_people(str(c.get("feature")), c.get("label")) for c in shown]
    values = [float(c.get("contribution") or 0.0) for c in shown]
    if rest:
        labels.append(f"{len(rest)} other features")
        values.append(sum(float(c.get("contribution") or 0.0) for c in rest))
    final = base_value + sum(values)
    fig = go.Figure(
        go.Waterfall(
            orientation="h",
            measure=["absolute", *(["relative"] * len(values)), "total"],
            y=["Average client (base value)", *labels, "This client"],
            x=[base_value, *values, final],
            text=[
                f"{base_value:+.2f}",
                *(f"{v:+.2f} {'▲ raises risk' if v > 0 else '▼ lowers risk'}" for v in values),
                f"{final:+.2f}",
            ],
            textposition="outside",
            increasing={"marker": {"color": ORANGE}},
            decreasing={"marker": {"color": BLUE}},
            totals={"marker": {"color": GREY}},
        )
    )
    fig = _layout(fig, "How each factor moved the score (log-odds of default)", "Log-odds of default", "")
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(range=waterfall_range(base_value, values))
    fig.update_layout(height=max(360, 40 * (len(labels) + 2)))
    return fig


def waterfall_range(base_value: float, values: list[float]) -> list[float]:
    """The x range that holds every bar of the waterfall (from 0 to the base value, then each step) and its text.

    Plotly's automatic range misses the bars of a horizontal waterfall whose base is far from 0 (seen: a base value of
    -1.8 drawn on an axis from -0.6 to 0), so the range is computed from the path the steps take.
    """
    path = [0.0, *itertools.accumulate(values, initial=base_value)]
    low, high = min(path), max(path)
    pad = 0.35 * (high - low) or 1.0  # room for the text written outside each bar
    return [low - pad, high + pad]


def bars(labels: list[str], values: list[float], title: str, x: str, y: str, *, horizontal: bool = False) -> go.Figure:
    """A simple bar chart."""
    fig = go.Figure()
    if horizontal:
        fig.add_bar(x=values, y=labels, orientation="h", marker_color=BLUE)
        fig.update_yaxes(autorange="reversed")
    else:
        fig.add_bar(x=labels, y=values, marker_color=BLUE)
    return _layout(fig, title, x, y)


def from_json(figure: Json, title: str) -> go.Figure:
    """A figure sent by the gateway: a plotly figure (``data`` + ``layout``) or ``{"x": [...], "y": [...]}`` data."""
    if "data" in figure:
        fig = pio.from_json(pio.to_json(figure))
        if not fig.layout.title.text:
            fig.update_layout(title={"text": title})
        return fig
    fig = go.Figure()
    fig.add_scatter(x=figure.get("x", []), y=figure.get("y", []), mode="lines")
    return _layout(fig, title, str(figure.get("x_label", "")), str(figure.get("y_label", "")))


def overlay(figures: dict[str, go.Figure], title: str, x: str, y: str) -> go.Figure:
    """The traces of several figures on one chart, each named after its figure's key (a run)."""
    fig = go.Figure()
    for name, source in figures.items():
        for trace in source.data:
            trace.name = name if len(source.data) == 1 else f"{name}: {trace.name}"
            trace.showlegend = True
            fig.add_trace(trace)
    return _layout(fig, title, x, y)
