"""The statistics the synthetic generator draws from, learned once from the real sample rows.

Per table and column: the missing rate; for a category its level frequencies (Kaggle levels absent from the sample
get a small share, so every level occurs at scale); for a number its quantiles (or, when it has few distinct
values, their frequencies) and the share of the ``365243`` sentinel. Only statistics are kept, never rows.

Regenerate the committed ``profile.json`` with
``uv run python -m credit_local.synthetic.profile ../shared/data/home-credit``.
"""

from __future__ import annotations

import json
import sys
from functools import cache
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from credit_shared.homecredit.readers import read_table
from credit_shared.homecredit.schema import Kind
from credit_shared.homecredit.side_tables import SIDE_TABLES
from credit_shared.homecredit.tables import APPLICATION_TRAIN, SENTINEL, TABLES

PROFILE_PATH: Final = Path(__file__).with_name("profile.json")
PROBS: Final = (
    0.0,
    0.002,
    0.005,
    0.01,
    0.02,
    0.035,
    0.05,
    *(i / 20 for i in range(2, 19)),
    0.95,
    0.965,
    0.98,
    0.99,
    0.995,
    0.998,
    1.0,
)
DISCRETE_MAX: Final = 40
UNSEEN_SHARE: Final = 0.0005

Profile = dict[str, dict[str, dict[str, Any]]]


def _column_profile(values: pd.Series, kind: Kind, levels: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {"missing": round(float(values.isna().mean()), 5)}
    present = values.dropna()
    if kind is Kind.CATEGORY:
        counts = present.astype(str).value_counts()
        shares = np.array([counts.get(level, 0) for level in levels], dtype=float)
        shares = shares / max(shares.sum(), 1.0)
        shares[shares == 0] = UNSEEN_SHARE
        out["p"] = [round(float(s), 6) for s in shares / shares.sum()]
        return out
    numbers = present.to_numpy(dtype=float)
    sentinel = numbers == SENTINEL
    out["sentinel"] = round(float(sentinel.mean()), 5) if numbers.size else 0.0
    numbers = numbers[~sentinel]
    out["int"] = bool(np.array_equal(numbers, np.round(numbers)))
    distinct = np.unique(numbers)
    if distinct.size <= DISCRETE_MAX:
        frequency = np.array([(numbers == v).sum() for v in distinct], dtype=float)
        out["values"] = [float(v) for v in distinct]
        out["p"] = [round(float(c), 6) for c in frequency / frequency.sum()]
    else:
        out["q"] = [float(v) for v in np.quantile(numbers, PROBS)]
    return out


def learn_profile(data_dir: Path) -> Profile:
    """Learn the profile from the real rows: ``application_train.csv`` and the ``unjoined`` side tables.

    Args:
        data_dir: the shared ``home-credit`` folder.
    """
    profile: Profile = {}
    sources = {APPLICATION_TRAIN: data_dir / "application_train.csv"}
    sources.update({t: data_dir / "unjoined" / f"{t}.csv" for t in SIDE_TABLES})
    for table, path in sources.items():
        frame = read_table(path, table, mode="sample")
        spec = TABLES[table]
        profile[table] = {c.name: _column_profile(frame[c.name], c.kind, c.categories) for c in spec.columns}
    return profile


@cache
def load_profile() -> Profile:
    """The committed profile."""
    data: Profile = json.loads(PROFILE_PATH.read_text())
    return data


def main(argv: list[str]) -> None:
    """Write ``profile.json`` from the sample folder given as the first argument."""
    profile = learn_profile(Path(argv[0]))
    PROFILE_PATH.write_text(json.dumps(profile, indent=0, sort_keys=False) + "\n")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])


class Sampler:
    """Draws column values of one table from the profile with a given random generator."""

    def __init__(self, table: str, rng: np.random.Generator) -> None:
        self.columns = load_profile()[table]
        self.rng = rng

    def inverse(self, column: str, u: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """The column's (non-sentinel) values at the uniform quantiles ``u`` (monotone in ``u``)."""
        entry = self.columns[column]
        if "q" in entry:
            values: np.ndarray[Any, Any] = np.interp(u, PROBS, entry["q"])
            if entry["int"]:
                return np.round(values)
            # as many decimals as such values carry in the files (shares: 6, small numbers: 4, amounts: 2)
            largest = max(abs(entry["q"][0]), abs(entry["q"][-1]))
            return np.round(values, 6 if largest <= 1 else 4 if largest < 100 else 2)
        cumulative = np.cumsum(entry["p"])
        index = np.minimum(np.searchsorted(cumulative / cumulative[-1], u, side="right"), len(entry["values"]) - 1)
        return np.asarray(entry["values"], dtype=float)[index]

    def number(self, column: str, n: int, u: np.ndarray[Any, Any] | None = None) -> np.ndarray[Any, Any]:
        """``n`` values with the column's distribution (``u``: the uniforms to use), missing as NaN."""
        values = self.inverse(column, self.rng.random(n) if u is None else u)
        return self.with_missing(column, values)

    def with_missing(
        self, column: str, values: np.ndarray[Any, Any], v: np.ndarray[Any, Any] | None = None
    ) -> np.ndarray[Any, Any]:
        """``values`` with the column's missing rate applied (``v``: shared uniforms for a block that is missing
        together: a row misses every column whose rate is above its ``v``)."""
        rate = self.columns[column]["missing"]
        if rate <= 0:
            return values
        v = self.rng.random(values.size) if v is None else v
        return np.where(v < rate, np.nan, values)

    def category(self, column: str, n: int, *, missing: bool = True) -> np.ndarray[Any, Any]:
        """``n`` level codes (``-1`` = missing) with the column's level frequencies."""
        entry = self.columns[column]
        codes = self.rng.choice(len(entry["p"]), size=n, p=np.asarray(entry["p"]) / np.sum(entry["p"]))
        codes = codes.astype(np.int16)
        if missing and entry["missing"] > 0:
            codes[self.rng.random(n) < entry["missing"]] = -1
        return codes
