"""Names for people: metric and parameter names of the training runs as a credit team reads them."""

from __future__ import annotations

import re
from typing import Final

SPLITS: Final[dict[str, str]] = {"test": "Test", "train": "Training", "cv": "Cross-validated", "oof": "Out-of-fold",
                                 "val": "Validation", "validation": "Validation"}  # fmt: skip
METRICS: Final[dict[str, str]] = {
    "roc_auc": "ROC AUC", "pr_auc": "PR AUC", "business_cost": "business cost per applicant", "recall": "recall",
    "precision": "precision", "f1": "F1 score", "accuracy": "accuracy", "balanced_accuracy": "balanced accuracy",
    "brier": "Brier score", "log_loss": "log loss", "ece": "calibration error (ECE)", "refusal_rate": "refusal rate",
    "expected_default_rate": "expected default rate", "observed_default_rate": "observed default rate",
    "expected_observed_ratio": "expected / observed default rate", "cost_at_0_5": "business cost at threshold 0.5",
    "threshold": "decision threshold", "training_time_s": "training time (s)", "search_time_s": "search time (s)",
    "inference_ms_per_row": "scoring time per row (ms)", "candidates": "candidates evaluated",
    "train_rows": "training rows", "test_rows": "test rows",
}  # fmt: skip
DRIFT_METHODS: Final[dict[str, str]] = {  # monitoring's drift methods: a test (p-value) or a distance (score)
    "ks": "Kolmogorov-Smirnov test (p-value)", "chisquare": "chi-square test (p-value)",
    "wasserstein": "Wasserstein distance (in standard deviations)", "jensenshannon": "Jensen-Shannon distance",
    "psi": "population stability index",
}  # fmt: skip
PREFIXES: Final = re.compile(r"^(param_|params\.|model\.|classifier__|model__)+")


def metric_label(name: str) -> str:
    """``test_roc_auc`` -> ``Test ROC AUC``; ``cv_recall_std`` -> ``Cross-validated recall (std)``."""
    base, std = (name[:-4], " (standard deviation)") if name.endswith("_std") else (name, "")
    split, _, rest = base.partition("_")
    if split in SPLITS and rest:
        text = f"{SPLITS[split]} {METRICS.get(rest, rest.replace('_', ' '))}"
    else:
        text = METRICS.get(base, base.replace("_", " "))
    return text[0].upper() + text[1:] + std


def split_label(split: str) -> str:
    """A split as a legend says it: ``out_of_fold`` -> ``Out-of-fold (training rows)``, ``test`` -> ``Test``."""
    if split == "out_of_fold":
        return "Out-of-fold (training rows)"
    text = SPLITS.get(split, split.replace("_", " "))
    return text[0].upper() + text[1:] if text else text


def param_label(name: str) -> str:
    """A parameter without its machine prefixes: ``param_model__colsample_bytree`` -> ``colsample bytree``."""
    return PREFIXES.sub("", name).replace("__", " ").replace("_", " ")


def drift_method_label(method: object) -> str:
    """A drift method as a person reads it: ``jensenshannon`` -> ``Jensen-Shannon distance``."""
    text = str(method or "—")
    return DRIFT_METHODS.get(text, text)
