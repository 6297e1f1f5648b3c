"""Where reports are kept: an artifact store with one folder per report (a local folder for now).

A report ``<id>`` is ``summary.json`` (the :class:`DriftReported` event plus every column's verdict) and, when an
Evidently report was rendered, ``report.html``. Another store (S3, MLflow artifacts) implements the same protocol.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Protocol

REPORT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ArtifactStore(Protocol):
    """Stores the files of a report."""

    def html_path(self, report_id: str) -> Path:
        """A local path the report's HTML is written to."""
        ...

    def write_summary(self, report_id: str, summary: dict[str, Any]) -> str:
        """Store the JSON summary; returns its location."""
        ...


class LocalArtifactStore:
    """Reports under ``<root>/<report_id>/``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, report_id: str) -> Path:
        """The folder of a report (ids are checked: no path tricks)."""
        if not REPORT_ID.fullmatch(report_id):
            raise ValueError(f"not a report id: {report_id!r}")
        return self.root / report_id

    def html_path(self, report_id: str) -> Path:
        """Where the report's HTML goes."""
        folder = self.folder(report_id)
        folder.mkdir(parents=True, exist_ok=True)
        return folder / "report.html"

    def write_summary(self, report_id: str, summary: dict[str, Any]) -> str:
        """Write ``summary.json`` atomically; returns its path."""
        folder = self.folder(report_id)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / "summary.json.tmp"
        tmp.write_text(json.dumps(summary, indent=2, default=str))
        tmp.replace(folder / "summary.json")
        return str(folder / "summary.json")

    def read_summary(self, report_id: str) -> dict[str, Any]:
        """Read a stored summary (raises ``FileNotFoundError`` when absent)."""
        data: dict[str, Any] = json.loads((self.folder(report_id) / "summary.json").read_text())
        return data
