"""Applying a :class:`~credit_shared.contracts.quality.FeaturePolicy` to a feature set: which features are model
inputs, which are excluded and why, which are flagged, and which protected columns are kept aside for fairness.

Used by ingestion (a dataset keeps its protected columns aside, never as features) and by training (a model never
takes one as input, whatever its dataset holds). A feature computed from an excluded column is excluded with it
(the application ratios of :data:`credit_shared.features.application.RATIOS`): a protected attribute must not come
back through a proxy the platform itself built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from credit_shared.contracts.quality import FeaturePolicy
from credit_shared.features.application import EXT_SOURCE_STATS, EXT_SOURCES, RATIOS

WHY: Final[dict[str, str]] = {
    "CODE_GENDER": "sex is a prohibited basis for credit decisions (US ECOA, 12 CFR 1002.2(z) and 1002.4(a); EU "
    "Directive 2004/113/EC)",
    "NAME_FAMILY_STATUS": "marital status is a prohibited basis for credit decisions (US ECOA, 12 CFR 1002.2(z) and "
    "1002.4(a))",
    "DAYS_BIRTH": "age may be used only in an empirically derived, statistically sound system that does not count "
    "against elderly applicants (12 CFR 1002.6(b)(2)): review the model's use of it",
}
SOURCES: Final[dict[str, tuple[str, ...]]] = {
    **RATIOS,
    **dict.fromkeys(EXT_SOURCE_STATS, EXT_SOURCES),
}


def sources_of(feature: str) -> tuple[str, ...]:
    """The application columns a feature is computed from (itself for a raw column or a history aggregate)."""
    return SOURCES.get(feature, (feature,))


@dataclass(frozen=True)
class PolicyOutcome:
    """A policy applied to a feature set.

    Attributes:
        inputs: the features a model may take, in the feature set's order.
        excluded: excluded feature -> why.
        flagged: flagged model input -> why.
        aside: the protected columns present, kept aside for the fairness table (never inputs).
    """

    inputs: list[str]
    excluded: dict[str, str] = field(default_factory=dict)
    flagged: dict[str, str] = field(default_factory=dict)
    aside: list[str] = field(default_factory=list)


def _why(column: str, kind: str) -> str:
    if column in WHY and kind != "excluded":
        return WHY[column]
    return {"protected": "listed as protected by the feature policy", "excluded": "excluded by the feature policy",
            "flagged": "flagged for review by the feature policy"}[kind]  # fmt: skip


def apply_policy(features: Sequence[str], policy: FeaturePolicy, *, present: Sequence[str] = ()) -> PolicyOutcome:
    """Split ``features`` into model inputs and exclusions under ``policy``.

    Args:
        features: the candidate features, in order.
        policy: the feature policy.
        present: other columns available beside the features (a dataset's columns kept aside), for ``aside``.
    """
    protected, excluded = set(policy.protected), set(policy.excluded)
    out_excluded: dict[str, str] = {}
    out_flagged: dict[str, str] = {}
    inputs: list[str] = []
    for name in features:
        sources = sources_of(name)
        hit = next((s for s in sources if s in protected), None)
        if hit is not None:
            derived = "" if hit == name else f"computed from {hit}: "
            out_excluded[name] = derived + _why(hit, "protected")
        elif name in excluded:
            out_excluded[name] = _why(name, "excluded")
        else:
            inputs.append(name)
            flag = next((s for s in sources if s in set(policy.flagged)), None)
            if flag is not None:
                out_flagged[name] = ("" if flag == name else f"computed from {flag}: ") + _why(flag, "flagged")
    available = {*features, *present}
    aside = [c for c in policy.protected if c in available]
    return PolicyOutcome(inputs, out_excluded, out_flagged, aside)
