"""The on-disk layout of a stored dataset scoring, shared by scoring (writer) and the gateway (reader).

A scoring lives in ``<home>/scorings/<scoring_id>/``, beside the datasets it refers to:

- ``rows.parquet``: one row per scored applicant, in the dataset's order: ``SK_ID_CURR``, ``probability``,
  ``decision``, ``reasons`` (the coded reasons as a JSON array), ``score`` and ``grade`` (absent from scorings
  stored before they existed);
- ``summary.json``: a :class:`~credit_shared.contracts.scoring.ScoringSummary`.

Like a dataset, a scoring is written to a temporary folder and renamed into place, so a half-written one is never
visible and a command run again after a crash simply replaces it.
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path
from typing import Final

import pandas as pd

from credit_shared.contracts.scoring import SCORING_ID_PATTERN, ScoringSummary
from credit_shared.datasets import id_folder

SCORINGS: Final = "scorings"
ROWS: Final = "rows.parquet"
SUMMARY: Final = "summary.json"
ROW_COLUMNS: Final = ("SK_ID_CURR", "probability", "decision", "reasons", "score", "grade")
_ID = re.compile(SCORING_ID_PATTERN)


def scorings_dir(home: Path) -> Path:
    """The folder of every scoring under the platform's home."""
    return home / SCORINGS


def scoring_dir(root: Path, scoring_id: str) -> Path:
    """The folder of one scoring, refusing any id that is not a plain scoring id (no path tricks).

    Raises:
        ValueError: when ``scoring_id`` is not a valid id.
    """
    return id_folder(root, scoring_id, _ID, "scoring")


def write_scoring(root: Path, summary: ScoringSummary, rows: pd.DataFrame) -> Path:
    """Store a scoring atomically (replacing an earlier one of the same id); returns its folder.

    Args:
        root: the scorings folder (:func:`scorings_dir`).
        summary: the summary; its ``scoring_id`` names the folder.
        rows: the frame with :data:`ROW_COLUMNS`.
    """
    final = scoring_dir(root, summary.scoring_id)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{summary.scoring_id}-{uuid.uuid4().hex[:8]}"  # not a scoring id: never listed
    tmp.mkdir()
    try:
        rows.loc[:, list(ROW_COLUMNS)].to_parquet(tmp / ROWS, index=False)
        (tmp / SUMMARY).write_text(summary.model_dump_json(indent=1))
        if final.exists():
            old = root / f".old-{summary.scoring_id}-{uuid.uuid4().hex[:8]}"
            final.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def read_summary(root: Path, scoring_id: str) -> ScoringSummary:
    """Read a scoring's summary.

    Raises:
        FileNotFoundError: when there is no such scoring.
        ValueError: when ``scoring_id`` is not a valid id.
    """
    path = scoring_dir(root, scoring_id) / SUMMARY
    if not path.is_file():
        raise FileNotFoundError(f"scoring {scoring_id!r} does not exist")
    return ScoringSummary.model_validate_json(path.read_text())


def rows_path(root: Path, scoring_id: str) -> Path:
    """The Parquet file of a scoring's rows (it may not exist)."""
    return scoring_dir(root, scoring_id) / ROWS


def list_summaries(root: Path, dataset_id: str | None = None) -> list[ScoringSummary]:
    """Every stored scoring (of one dataset when given), newest first."""
    if not root.is_dir():
        return []
    found = [
        ScoringSummary.model_validate_json((d / SUMMARY).read_text())
        for d in root.iterdir()
        if _ID.fullmatch(d.name) and (d / SUMMARY).is_file()
    ]
    if dataset_id is not None:
        found = [s for s in found if s.dataset_id == dataset_id]
    return sorted(found, key=lambda s: s.created_at, reverse=True)
