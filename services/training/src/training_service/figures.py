"""The run's figures: each written as JSON data (``figures/<name>.json``, for the dashboard) and as a PNG.

Curves are thinned to at most :data:`MAX_POINTS` points so the JSON stays small at any dataset size.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Final

import matplotlib

matplotlib.use("Agg")  # no display in a service; set before pyplot is imported

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve

from credit_shared.evaluation import CostWeights, cost_curve

MAX_POINTS: Final = 400


def _thin(*arrays: np.ndarray) -> list[list[float | None]]:
    n = len(arrays[0])
    keep = np.unique(np.linspace(0, n - 1, min(n, MAX_POINTS)).round().astype(int)) if n else np.array([], int)
    return [[_finite(v) for v in np.asarray(a)[keep]] for a in arrays]


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON (NaN and infinities become null)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_clean(data), indent=1))


def _clean(data: Any) -> Any:
    if isinstance(data, dict):
        return {str(k): _clean(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_clean(v) for v in data]
    if isinstance(data, float | np.floating):
        return _finite(data)
    if isinstance(data, np.integer):
        return int(data)
    return data


class FigureWriter:
    """Writes figures under ``<folder>/figures``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder / "figures"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.names: list[str] = []

    def _save(self, name: str, data: dict[str, Any], fig: Any) -> None:
        write_json(self.folder / f"{name}.json", data)
        fig.tight_layout()
        fig.savefig(self.folder / f"{name}.png", dpi=90)
        plt.close(fig)
        self.names.append(name)

    def roc(self, curves: dict[str, tuple[np.ndarray, np.ndarray]], aucs: dict[str, float]) -> None:
        """ROC curves (false vs true positive rate) of each split."""
        data: dict[str, Any] = {"kind": "roc", "series": {}}
        fig, ax = plt.subplots(figsize=(5, 5))
        for split, (y, p) in curves.items():
            fpr, tpr, _ = roc_curve(y, p)
            x, yy = _thin(fpr, tpr)
            data["series"][split] = {"fpr": x, "tpr": yy, "auc": aucs.get(split)}
            ax.plot(fpr, tpr, label=f"{split} (AUC {aucs.get(split, float('nan')):.3f})")
        ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC curve")
        ax.legend(loc="lower right")
        self._save("roc_curve", data, fig)

    def precision_recall(self, curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        """Precision-recall curves of each split."""
        data: dict[str, Any] = {"kind": "precision_recall", "series": {}}
        fig, ax = plt.subplots(figsize=(5, 5))
        for split, (y, p) in curves.items():
            precision, recall, _ = precision_recall_curve(y, p)
            r, pr = _thin(recall, precision)
            data["series"][split] = {"recall": r, "precision": pr, "prevalence": float(np.mean(y))}
            ax.plot(recall, precision, label=split)
        ax.set(xlabel="Recall", ylabel="Precision", title="Precision-recall curve")
        ax.legend()
        self._save("pr_curve", data, fig)

    def confusion(self, split: str, y: np.ndarray, p: np.ndarray, threshold: float) -> None:
        """Confusion matrix at the decision threshold (rows: truth, columns: decision)."""
        matrix = confusion_matrix(y, p >= threshold, labels=[0, 1])
        labels = ["repaid", "defaulted"], ["approved", "refused"]
        data = {"kind": "confusion_matrix", "split": split, "threshold": threshold, "matrix": matrix.tolist(),
                "rows": labels[0], "columns": labels[1]}  # fmt: skip
        fig, ax = plt.subplots(figsize=(4, 4))
        ax.imshow(matrix, cmap="Blues")
        for (i, j), v in np.ndenumerate(matrix):
            ax.text(j, i, str(v), ha="center", va="center")
        ax.set_xticks([0, 1], labels[1])
        ax.set_yticks([0, 1], labels[0])
        ax.set_title(f"Confusion matrix ({split}, threshold {threshold:.3f})")
        self._save(f"confusion_{split}", data, fig)

    def cost_vs_threshold(
        self, curves: dict[str, tuple[np.ndarray, np.ndarray]], threshold: float, weights: CostWeights
    ) -> None:
        """Business cost per applicant at every threshold of the 0.001 grid, with the chosen one marked."""
        grid = np.round(np.arange(0.0, 1.0005, 0.001), 6)
        data: dict[str, Any] = {"kind": "cost_vs_threshold", "threshold": threshold, "fn": weights.fn,
                                "fp": weights.fp, "series": {}}  # fmt: skip
        fig, ax = plt.subplots(figsize=(6, 4))
        for split, (y, p) in curves.items():
            costs = cost_curve(y, p, grid, weights)
            t, c = _thin(grid, costs)
            data["series"][split] = {"threshold": t, "cost": c}
            ax.plot(grid, costs, label=split)
        ax.axvline(threshold, color="k", ls="--", lw=0.8, label=f"chosen {threshold:.3f}")
        ax.axvline(0.5, color="grey", ls=":", lw=0.8, label="0.5")
        ax.set(xlabel="Threshold", ylabel="Cost per applicant", title="Business cost vs threshold")
        ax.legend()
        self._save("cost_vs_threshold", data, fig)

    def calibration(self, curves: dict[str, tuple[np.ndarray, np.ndarray]], bins: int = 10) -> None:
        """Reliability diagram (quantile bins) of each population; ``predicted``/``observed`` are the test split's.

        Each series has, per bin, the mean probability, the observed default rate and the number of applicants.
        """
        data: dict[str, Any] = {"kind": "calibration", "bins": bins, "series": {}}
        fig, ax = plt.subplots(figsize=(5, 5))
        top = 0.05
        for split, (y, p) in curves.items():
            order = np.argsort(p, kind="stable")
            parts = [part for part in np.array_split(order, bins) if len(part)]
            predicted = np.array([p[part].mean() for part in parts])
            observed = np.array([y[part].mean() for part in parts])
            data["series"][split] = {"predicted": predicted.tolist(), "observed": observed.tolist(),
                                     "count": [len(part) for part in parts]}  # fmt: skip
            ax.plot(predicted, observed, "o-", label=f"{split} (mean {p.mean():.3f}, observed {y.mean():.3f})")
            top = float(max(top, predicted.max(initial=0), observed.max(initial=0)))
        first: dict[str, Any] = data["series"].get("test") or next(iter(data["series"].values()), {})
        data["predicted"], data["observed"] = first.get("predicted", []), first.get("observed", [])
        ax.plot([0, top], [0, top], "k--", lw=0.8, label="perfect")
        ax.set(xlabel="Mean predicted probability", ylabel="Observed default rate", title="Reliability (calibration)")
        ax.legend(fontsize=8)
        self._save("calibration", data, fig)

    def boosting_rounds(self, curve: list[float], chosen: int) -> None:
        """Mean cross-validated ROC AUC after each boosting round, with the number of trees chosen."""
        rounds = np.arange(1, len(curve) + 1)
        x, y = _thin(rounds, np.asarray(curve))
        data = {"kind": "boosting_rounds", "rounds": x, "mean_validation_roc_auc": y, "chosen": chosen}
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(rounds, curve, label="mean over the folds")
        ax.axvline(chosen, color="k", ls="--", lw=0.8, label=f"chosen: {chosen} trees")
        ax.set(xlabel="Trees", ylabel="Validation ROC AUC", title="Number of trees (lockstep cross-validation)")
        ax.legend()
        self._save("boosting_rounds", data, fig)

    def importance(self, name: str, values: dict[str, float], title: str, top: int = 25) -> None:
        """Horizontal bar chart of the ``top`` largest importances (the JSON keeps them all)."""
        ordered = sorted(values.items(), key=lambda kv: kv[1], reverse=True)
        data = {"kind": "importance", "title": title, "features": [k for k, _ in ordered],
                "values": [v for _, v in ordered]}  # fmt: skip
        shown = ordered[:top][::-1]
        fig, ax = plt.subplots(figsize=(6, 0.25 * len(shown) + 1))
        ax.barh([k for k, _ in shown], [v for _, v in shown])
        ax.set_title(title)
        self._save(name, data, fig)

    def shap_summary(self, contributions: np.ndarray, features: np.ndarray, names: list[str], top: int = 20) -> None:
        """Beeswarm of per-row contributions for the most important features, coloured by the feature's value."""
        order = np.argsort(-np.abs(contributions).mean(axis=0))[:top]
        data: dict[str, Any] = {"kind": "shap_summary", "features": [], "rows": len(contributions)}
        fig, ax = plt.subplots(figsize=(7, 0.3 * len(order) + 1.5))
        for rank, k in enumerate(order[::-1]):
            values = features[:, k].astype(float)
            span = np.nanmax(values) - np.nanmin(values) if np.isfinite(values).any() else 0.0
            colour = (values - np.nanmin(values)) / span if span else np.zeros_like(values)
            jitter = np.random.default_rng(k).uniform(-0.3, 0.3, len(values))
            ax.scatter(contributions[:, k], rank + jitter, c=colour, cmap="coolwarm", s=6, vmin=0, vmax=1)
        for k in order:
            c, v = _thin(contributions[:, k], features[:, k].astype(float))
            data["features"].append({"name": names[k], "contribution": c, "value": v})
        ax.set_yticks(range(len(order)), [names[k] for k in order[::-1]])
        ax.axvline(0, color="k", lw=0.6)
        ax.set(xlabel="Contribution to log-odds of default", title="SHAP summary (test sample)")
        self._save("shap_summary", data, fig)
