"""The decisions view: how the audit stores a decision's model input, and the one reader that rebuilds it exactly.

Scoring writes the ``decisions`` table; monitoring and the gateway read it through this module only:
:func:`find_decisions` for what was decided (:class:`AuditedDecision`; :func:`published_decision` turns a row back
into the published :class:`~credit_shared.contracts.loans.LoanDecision`), :func:`read_model_inputs` for what it was
decided on, :func:`read_shadows` for the challenger's scores. A decision's model input (about 800 features) is not
stored: it is the application as validated plus the client's history snapshot, so the row keeps

- ``model_input``: format byte ``1``, the id of the :class:`Layout` (8 bytes), a digest of the exact model input
  (16 bytes) and the application's values in the layout's column order (zlib-compressed JSON array), about 340
  bytes instead of 25 KB of feature JSON;
- the layout, once per served version (``decision_layouts``): the model's feature names and categorical columns,
  the dataset whose online features hold the history, the history columns, the application columns.

:func:`read_model_inputs` recomputes the features with the shared feature code (the code scoring decided with), joins
the history snapshot (``online_features`` of the layout's dataset: a dataset id is never rebuilt) and checks the
digest: a model input that cannot be rebuilt exactly (the feature code or the snapshot changed) is left out and
logged, never returned approximately. Rows moved by migration 0003 hold their old feature JSON (format ``2``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final

import msgspec
import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from credit_shared.contracts.loans import Decision, LoanDecision, ModelRef, Reason
from credit_shared.db import as_utc, insert_ignore
from credit_shared.db.models import DecisionLayout, DecisionRecord
from credit_shared.features.serving import FeatureBuilder, serving_features
from credit_shared.homecredit.application import APPLICATION, ID
from credit_shared.online_features import read_history

if TYPE_CHECKING:
    from credit_shared.model_inputs import InputLayout

log = logging.getLogger(__name__)

APPLICATION_INPUT: Final = 1  # format byte: layout id, input digest, the application's values
FEATURES_JSON: Final = 2  # format byte: the model input as a JSON object (rows written before the compact audit)
CHUNK: Final = 500  # request ids per IN (...) query
_JSON = msgspec.json.Encoder()


@dataclass(frozen=True)
class Layout:
    """What a served version's model input is made of (stored once, referenced by every decision it makes)."""

    dataset_id: str
    feature_names: tuple[str, ...]
    categorical: tuple[str, ...]
    history_columns: tuple[str, ...]
    application_columns: tuple[str, ...] = tuple(APPLICATION.names)

    @cached_property
    def layout_id(self) -> str:
        """16 hex characters naming this layout (a digest of all of it; computed once: every decision names it)."""
        parts = [self.dataset_id, self.feature_names, self.categorical, self.history_columns, self.application_columns]
        text = json.dumps(parts)
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()

    @cached_property
    def id_bytes(self) -> bytes:
        """The layout id as the 8 bytes a model input starts with."""
        return bytes.fromhex(self.layout_id)

    def input_layout(self) -> InputLayout:
        """The model's numeric / categorical split, as the model prepares its input (categories in the model's
        own order)."""
        from credit_shared.model_inputs import InputLayout  # the model code, loaded only when a view is rebuilt

        categorical = set(self.categorical)
        numeric = [c for c in self.feature_names if c not in categorical]
        return InputLayout(self.feature_names, numeric, list(self.categorical))


def input_digests(numbers: np.ndarray, categories: np.ndarray) -> list[bytes]:
    """A 16-byte digest of each row of a model input (its numeric and categorical blocks): proof that a rebuilt
    input is the one decided on. Every NaN hashes alike (their bit patterns may differ)."""
    canon = np.ascontiguousarray(np.where(np.isnan(numbers), np.nan, numbers), dtype="<f8")
    out = []
    for k, row in enumerate(categories.tolist()):
        levels = "\x1f".join("\x00" if v is None else str(v) for v in row).encode()
        out.append(hashlib.blake2b(canon[k].tobytes() + levels, digest_size=16).digest())
    return out


def encode_input(layout: Layout, application: Mapping[str, Any], digest: bytes) -> bytes:
    """The ``model_input`` of a decision: its layout, its input digest and the validated application."""
    values = _JSON.encode([application.get(c) for c in layout.application_columns])
    return bytes([APPLICATION_INPUT]) + layout.id_bytes + digest + zlib.compress(values, 6)


def encode_features(features: Mapping[str, Any]) -> bytes:
    """The ``model_input`` of a decision recorded with its features as JSON (before the compact audit)."""
    return bytes([FEATURES_JSON]) + zlib.compress(_JSON.encode(dict(features)), 6)


def save_layout(engine: Engine, layout: Layout) -> None:
    """Record a layout (idempotent: a layout is written once, whoever writes it first)."""
    row = {
        "layout_id": layout.layout_id,
        "dataset_id": layout.dataset_id,
        "feature_names": list(layout.feature_names),
        "categorical": list(layout.categorical),
        "history_columns": list(layout.history_columns),
        "application_columns": list(layout.application_columns),
    }
    insert_ignore(engine, DecisionLayout, [row], keys=["layout_id"])


def load_layouts(engine: Engine, layout_ids: Iterable[str]) -> dict[str, Layout]:
    """The layouts by id (an unknown id is absent)."""
    wanted = sorted(set(layout_ids))
    if not wanted:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(select(DecisionLayout).where(DecisionLayout.layout_id.in_(wanted))).mappings().all()
    return {
        r["layout_id"]: Layout(
            r["dataset_id"],
            tuple(r["feature_names"]),
            tuple(r["categorical"]),
            tuple(r["history_columns"]),
            tuple(r["application_columns"]),
        )
        for r in rows
    }


def read_model_inputs(
    engine: Engine, request_ids: Iterable[str], build: FeatureBuilder | None = None
) -> dict[str, dict[str, Any]]:
    """The exact model input of each decision, by request id: ``{feature: value}`` in the model's order, a float,
    a category, or None for a missing value (what the model was given).

    A decision without a recorded input, or whose input cannot be rebuilt exactly, is absent (the second is logged).

    Args:
        engine: the application database.
        request_ids: the decisions wanted.
        build: the application-level feature code (default: :func:`credit_shared.features.application_parts`).
    """
    if build is None:
        from credit_shared.features import application_parts

        build = application_parts
    ids = list(dict.fromkeys(request_ids))
    stored: list[tuple[str, int, bytes]] = []
    with engine.connect() as conn:
        for start in range(0, len(ids), CHUNK):
            query = select(DecisionRecord.request_id, DecisionRecord.sk_id_curr, DecisionRecord.model_input).where(
                DecisionRecord.request_id.in_(ids[start : start + CHUNK]), DecisionRecord.model_input.is_not(None)
            )
            stored += [(str(r), int(s), bytes(m)) for r, s, m in conn.execute(query) if m]
    found: dict[str, dict[str, Any]] = {}
    by_layout: dict[str, list[tuple[str, int, bytes, list[Any]]]] = {}
    for request_id, sk_id_curr, blob in stored:
        if blob[0] == FEATURES_JSON:
            found[request_id] = msgspec.json.decode(zlib.decompress(blob[1:]))
        elif blob[0] == APPLICATION_INPUT:
            values = msgspec.json.decode(zlib.decompress(blob[25:]))
            by_layout.setdefault(blob[1:9].hex(), []).append((request_id, sk_id_curr, blob[9:25], values))
    layouts = load_layouts(engine, by_layout)
    for layout_id, group in by_layout.items():
        layout = layouts.get(layout_id)
        if layout is None:
            log.warning("%d decision(s) name layout %s, which is not recorded", len(group), layout_id)
            continue
        found.update(_rebuild(engine, layout, group, build))
    return found


def _rebuild(
    engine: Engine, layout: Layout, group: Sequence[tuple[str, int, bytes, list[Any]]], build: FeatureBuilder
) -> dict[str, dict[str, Any]]:
    """The model inputs of decisions of one layout, checked against their digests."""
    from credit_shared.model_inputs import ModelInput

    rows = [dict(zip(layout.application_columns, values, strict=False)) for _, _, _, values in group]
    sk_ids = [sk_id for _, sk_id, _, _ in group]
    history = read_history(engine, layout.dataset_id, list(layout.history_columns), sk_ids)
    frame = pd.DataFrame(history.values, columns=list(layout.history_columns))
    frame.insert(0, ID, np.asarray(sk_ids, dtype="int64"))
    features = serving_features(rows, frame, build)
    input_layout = layout.input_layout()
    numbers, categories, _ = input_layout.blocks(features)
    digests = input_digests(numbers, categories)
    records = ModelInput(numbers, categories, np.empty((len(rows), 0)), input_layout).records()
    out: dict[str, dict[str, Any]] = {}
    changed = []
    for (request_id, _, digest, _), rebuilt, record in zip(group, digests, records, strict=True):
        if rebuilt == digest:
            out[request_id] = record
        else:
            changed.append(request_id)
    if changed:
        log.warning(
            "%d model input(s) of dataset %s cannot be rebuilt exactly (the feature code or the history snapshot "
            "changed since the decision), e.g. %s",
            len(changed),
            layout.dataset_id,
            changed[0],
        )
    return out


def read_shadows(engine: Engine, request_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The challenger's shadow score of each decision that has one, by request id: ``{"version", "probability",
    "threshold", "decision"}`` as scoring recorded it (decisions without a shadow score are absent)."""
    ids = list(dict.fromkeys(request_ids))
    found: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for start in range(0, len(ids), CHUNK):
            query = select(DecisionRecord.request_id, DecisionRecord.shadow).where(
                DecisionRecord.request_id.in_(ids[start : start + CHUNK])
            )
            found.update({str(r): dict(s) for r, s in conn.execute(query) if isinstance(s, dict)})
    return found


@dataclass(frozen=True)
class AuditedDecision:
    """One decision as scoring recorded it: what it published, when the request arrived, what it was decided by."""

    request_id: str
    sk_id_curr: int
    received_at: datetime  # UTC
    decided_at: datetime  # UTC
    probability: float
    threshold: float
    decision: str
    score: int | None
    grade: str | None
    reasons: list[Any]
    model_name: str
    model_version: str
    model_alias: str | None  # None: a version an analyst named (a what-if), not a served alias
    run_id: str
    shadow: dict[str, Any] | None
    latency_ms: float
    input_hash: str  # SHA-256 of the application as received


_AUDITED: Final = tuple(f.name for f in fields(AuditedDecision))


def find_decisions(
    engine: Engine,
    *,
    sk_id_curr: int | None = None,
    request_id: str | None = None,
    since: datetime | None = None,
    before: datetime | None = None,
    decision: str | None = None,
    served_only: bool = False,
    limit: int = 100,
) -> list[AuditedDecision]:
    """Recorded decisions, newest first: filters combine, ``since <= decided_at < before``; ``served_only`` keeps
    the decisions of a served alias (champion, challenger) and leaves out what-ifs of a named version."""
    query = select(*(getattr(DecisionRecord, name) for name in _AUDITED))
    conditions = [
        DecisionRecord.sk_id_curr == sk_id_curr if sk_id_curr is not None else None,
        DecisionRecord.request_id == request_id if request_id is not None else None,
        DecisionRecord.decided_at >= since if since is not None else None,
        DecisionRecord.decided_at < before if before is not None else None,
        DecisionRecord.decision == decision if decision is not None else None,
        DecisionRecord.model_alias.is_not(None) if served_only else None,
    ]
    query = query.where(*(c for c in conditions if c is not None))
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(DecisionRecord.decided_at.desc()).limit(limit)).mappings().all()
    return [
        AuditedDecision(**{**row, "received_at": as_utc(row["received_at"]), "decided_at": as_utc(row["decided_at"])})
        for row in rows
    ]


def published_decision(row: Any) -> LoanDecision:
    """The decision scoring published, rebuilt from its audit row (the same fields and values; no correlation id).

    ``row``: an :class:`AuditedDecision`, or a row of the ``decisions`` columns it names (scoring's own reads).
    """
    return LoanDecision(
        request_id=row.request_id,
        sk_id_curr=row.sk_id_curr,
        probability=row.probability,
        threshold=row.threshold,
        decision=Decision(row.decision),
        score=row.score,
        grade=row.grade,
        reasons=[Reason.model_validate(r) for r in row.reasons or []],
        model=ModelRef(name=row.model_name, version=row.model_version, alias=row.model_alias, run_id=row.run_id),
        scored_at=as_utc(row.decided_at),
        latency_ms=row.latency_ms,
    )
