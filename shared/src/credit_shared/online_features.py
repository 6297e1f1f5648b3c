"""The online feature table: each client's history aggregates, written by ingestion, read by scoring.

Values are stored per client as little-endian float64 in the order of the dataset's feature set, so reading a batch
of clients is one query and one ``np.frombuffer`` per row, and the values are bit-identical to the dataset's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, insert, select

from credit_shared.db import make_sessionmaker
from credit_shared.db.models import OnlineFeatures, OnlineFeatureSet
from credit_shared.homecredit.application import ID

log = logging.getLogger(__name__)
CHUNK_ROWS = 5_000


def write_online_features(
    engine: Engine,
    dataset_id: str,
    history: pd.DataFrame,
    columns: list[str],
    progress: Callable[[float], None] | None = None,
) -> int:
    """Replace the dataset's rows in ``online_features`` with the given history aggregates.

    Args:
        engine: application database.
        dataset_id: the dataset the features belong to.
        history: one row per client with ``SK_ID_CURR`` and ``columns``.
        columns: the history feature columns, in the order stored.
        progress: called with the share written (0-1).

    Returns:
        The number of clients written.
    """
    ids = history[ID].to_numpy(dtype=np.int64)
    values = history[columns].to_numpy(dtype="<f8", na_value=np.nan) if columns else np.empty((len(history), 0))
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        session.execute(delete(OnlineFeatures).where(OnlineFeatures.dataset_id == dataset_id))
        session.execute(delete(OnlineFeatureSet).where(OnlineFeatureSet.dataset_id == dataset_id))
    for start in range(0, len(ids), CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, len(ids))
        rows = [
            {"dataset_id": dataset_id, "sk_id_curr": int(ids[i]), "values": values[i].tobytes()}
            for i in range(start, stop)
        ]
        with engine.begin() as conn:
            conn.execute(insert(OnlineFeatures), rows)
        if progress:
            progress(stop / max(len(ids), 1))
    with sessions.begin() as session:  # written last: scoring uses a feature set only once it is complete
        session.add(OnlineFeatureSet(dataset_id=dataset_id, columns=list(columns), rows=len(ids)))
    log.info("online features of %s: %d clients x %d columns", dataset_id, len(ids), len(columns))
    return len(ids)


@dataclass(frozen=True)
class HistoryBatch:
    """History features of a batch of clients: one row per requested id, NaN for a client without history."""

    columns: list[str]
    values: np.ndarray  # shape (len(ids), len(columns))
    found: np.ndarray  # bool per requested id


def feature_set_columns(engine: Engine, dataset_id: str) -> list[str] | None:
    """The history columns of a dataset's online features, or None when it has none (yet)."""
    with make_sessionmaker(engine)() as session:
        found = session.get(OnlineFeatureSet, dataset_id)
    return None if found is None else list(found.columns)


def read_history(engine: Engine, dataset_id: str, columns: list[str], ids: Sequence[int]) -> HistoryBatch:
    """Read the history features of a batch of clients in one query.

    Args:
        engine: application database.
        dataset_id: the dataset whose features the model was trained on.
        columns: the feature set's columns (from :func:`feature_set_columns`).
        ids: the clients' ``SK_ID_CURR``, in the order wanted.
    """
    out = np.full((len(ids), len(columns)), np.nan)
    found = np.zeros(len(ids), dtype=bool)
    if len(ids):
        stmt = select(OnlineFeatures.sk_id_curr, OnlineFeatures.values).where(
            OnlineFeatures.dataset_id == dataset_id, OnlineFeatures.sk_id_curr.in_({int(i) for i in ids})
        )
        with engine.connect() as conn:
            stored = {int(sk_id): decode_values(raw, len(columns)) for sk_id, raw in conn.execute(stmt)}
        for k, sk_id in enumerate(ids):
            row = stored.get(int(sk_id))
            if row is not None:
                out[k], found[k] = row, True
    return HistoryBatch(columns=columns, values=out, found=found)


def decode_values(raw: bytes, n_columns: int) -> np.ndarray:
    """The stored float64 values of one client."""
    values = np.frombuffer(raw, dtype="<f8")
    if values.size != n_columns:
        raise ValueError(f"stored row has {values.size} values, the feature set has {n_columns}")
    return values
