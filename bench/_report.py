"""What every benchmark writes and prints, by the project's benchmark convention (not a benchmark itself).

A script builds its result (``name``, ``quick``, ``started_at``, ``machine``, ``params``, ``figures``, ``ratios``,
``notes``) with :func:`started_at` and :func:`machine`, then hands it to :func:`write_and_print`, which writes
``bench/results/<name>.json`` (``<name>.quick.json`` for a quick run) and prints the figures.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def started_at() -> str:
    """Now, in UTC to the second, as the results write it (``2026-11-24T10:00:00Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_average() -> list[float]:
    """The 1, 5 and 15-minute load averages, to two decimals (the machines are shared: record it with a run)."""
    return [round(v, 2) for v in os.getloadavg()]


def machine(**extra: Any) -> dict[str, Any]:
    """The ``machine`` block: cores, memory in GB, Python, then what the script adds (its load averages)."""
    memory_gb = round(psutil.virtual_memory().total / 1024**3, 1)
    return {"cpus": os.cpu_count(), "memory_gb": memory_gb, "python": platform.python_version(), **extra}


def aligned(values: Mapping[str, Any]) -> list[str]:
    """One line per figure, the names padded to one width (integers with thousands separators)."""
    width = max(map(len, values), default=0)
    return [
        f"{k:<{width}}  {v:,}" if isinstance(v, int) and not isinstance(v, bool) else f"{k:<{width}}  {v}"
        for k, v in values.items()
    ]


def write(result: Mapping[str, Any], quick: bool) -> Path:
    """Write ``result`` to ``bench/results/<name>.json`` (``<name>.quick.json`` when ``quick``); the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{result['name']}{'.quick' if quick else ''}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    return out


def write_and_print(result: Mapping[str, Any], quick: bool, table: Sequence[str] | None = None) -> Path:
    """Write ``result`` (:func:`write`) and print it: ``table`` if the script has its own, else its figures and
    ratios aligned; then the last load average its machine block records, if any, and the file written."""
    out = write(result, quick)
    lines = list(table) if table is not None else aligned({**result["figures"], **result.get("ratios", {})})
    loads = [v for k, v in result["machine"].items() if k.startswith("load_average")]
    if loads:
        lines.append(f"load average {loads[-1]}")
    print("\n".join([*lines, f"written to {out.relative_to(ROOT)}"]))
    return out
