"""Hyper-parameter search by stratified cross-validation on the business cost, with out-of-fold probabilities.

Each candidate is scored by the lowest business cost its out-of-fold probabilities reach over the threshold grid
(the threshold is a property of the probabilities, searched on a fine grid, never jointly with the parameters on a
coarse one); ties go to the higher ROC AUC. Successive halving evaluates every candidate on a stratified share of
the training rows and keeps the best ``1/factor`` for the next round on ``factor`` times more rows; the last round
uses all of them.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from credit_shared.contracts.model_families import (
    SMOTE_K_NEIGHBORS,
    ModelFamily,
    ParameterSpec,
    ParamKind,
    ParamValue,
    family_defaults,
)
from credit_shared.contracts.training import SearchDimension, SearchMethod, SearchSpace, TrainModel, allowed_parameters
from credit_shared.evaluation import CostWeights, best_threshold, evaluate
from training_service.families import MIN_ESTIMATORS
from training_service.pipeline import Columns, build_pipeline
from training_service.rounds import Lockstep, lockstep_cv

Progress = Callable[[str, float, str | None], None]


@dataclass
class CandidateResult:
    """A candidate's cross-validation outcome on the rows of one round."""

    candidate: int
    params: dict[str, ParamValue]
    round: int
    rows: int
    oof: np.ndarray
    fold_metrics: list[dict[str, float]]
    best_cost: float
    threshold: float
    roc_auc: float
    fit_s: float
    fold: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="int64"))  # validation fold of each row
    trees: int | None = None  # LightGBM: the number of trees cross-validation chose
    curve: list[float] = field(default_factory=list)  # LightGBM: mean validation ROC AUC per round

    def summary(self) -> dict[str, Any]:
        """One row of the CV results table."""
        row: dict[str, Any] = {"candidate": self.candidate, "round": self.round, "rows": self.rows}
        row.update({f"param_{k}": v for k, v in self.params.items()})
        row.update({"oof_best_cost": self.best_cost, "oof_threshold": self.threshold, "oof_roc_auc": self.roc_auc})
        if self.trees is not None:
            row["trees"] = self.trees
        for name in ("roc_auc", "business_cost", "pr_auc"):
            values = [m[name] for m in self.fold_metrics]
            row[f"mean_{name}"], row[f"std_{name}"] = float(np.mean(values)), float(np.std(values))
        row["fit_s"] = self.fit_s
        return row


@dataclass
class SearchOutcome:
    """Every candidate evaluated and the chosen one (evaluated on all training rows)."""

    results: list[CandidateResult] = field(default_factory=list)
    best: CandidateResult | None = None


def _grid_values(spec: ParameterSpec, dim: SearchDimension) -> list[ParamValue]:
    if dim.values is not None:
        return list(dim.values)
    assert dim.low is not None  # guaranteed by the command's validation
    assert dim.high is not None
    space = np.geomspace if dim.scale == "log" else np.linspace
    values = space(dim.low, dim.high, dim.num)
    if spec.kind is ParamKind.INT:
        return sorted({round(float(v)) for v in values})
    return [float(v) for v in values]


def _draw(spec: ParameterSpec, dim: SearchDimension, rng: np.random.Generator) -> ParamValue:
    if dim.values is not None:
        return dim.values[int(rng.integers(len(dim.values)))]
    assert dim.low is not None
    assert dim.high is not None
    if dim.scale == "log":
        value = float(np.exp(rng.uniform(np.log(dim.low), np.log(dim.high))))
    else:
        value = float(rng.uniform(dim.low, dim.high))
    if spec.kind is ParamKind.INT:
        return int(min(max(round(value), math.ceil(dim.low)), math.floor(dim.high)))
    return value


def candidates(command: TrainModel) -> list[dict[str, ParamValue]]:
    """The parameter sets to evaluate: fixed parameters merged with the search space's draws.

    A grid larger than the budget is sampled down to the budget (without replacement, seeded); random search and
    successive halving draw ``budget`` candidates (duplicates removed).
    """
    fixed = dict(command.params)
    search: SearchSpace | None = command.search
    if search is None:
        return [fixed]
    rng = np.random.default_rng(command.seed)
    names = list(search.parameters)
    allowed = allowed_parameters(command)  # the command was validated: every searched name is there
    specs = [allowed[n] for n in names]
    if search.method is SearchMethod.GRID:
        axes = [_grid_values(s, search.parameters[n]) for s, n in zip(specs, names, strict=True)]
        grid = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes)]
        if len(grid) > search.budget:
            keep = sorted(rng.choice(len(grid), size=search.budget, replace=False))
            grid = [grid[i] for i in keep]
        return [{**fixed, **g} for g in grid]
    drawn: list[dict[str, ParamValue]] = []
    for _ in range(search.budget * 10):
        if len(drawn) == search.budget:
            break
        cand = {n: _draw(s, search.parameters[n], rng) for s, n in zip(specs, names, strict=True)}
        if cand not in drawn:
            drawn.append(cand)
    return [{**fixed, **d} for d in drawn]


def _subsample(y: np.ndarray, share: float, folds: int, seed: int) -> np.ndarray:
    """Stratified row indices for a halving round (at least ``2 * folds`` of the rarer class)."""
    index = np.arange(len(y))
    minority = int(min(np.bincount(y.astype(int), minlength=2)))
    share = max(share, min(1.0, 2 * folds / max(minority, 1)))
    if share >= 1.0:
        return index
    kept, _ = train_test_split(index, train_size=share, stratify=y, random_state=seed)
    return np.sort(kept)


class Searcher:
    """Runs the cross-validated search of one command, reporting progress per fold and candidate."""

    def __init__(
        self, command: TrainModel, columns: Columns, progress: Progress, *, span: tuple[float, float], threads: int = 1
    ) -> None:
        self.command = command
        self.threads = threads
        self.columns = columns
        self.progress = progress
        self.span = span  # share of the whole command's progress this search covers, in percent
        self.weights = CostWeights(command.cost.fn, command.cost.fp)
        self._done_units = 0
        self._total_units = 1

    def cross_validate(
        self,
        features: pd.DataFrame,
        y: np.ndarray,
        params: dict[str, ParamValue],
        *,
        label: str,
        number: int,
        round_: int,
    ) -> CandidateResult:
        """Cross-validate one candidate: out-of-fold probabilities (uncalibrated) and per-fold metrics (at the OOF
        threshold). LightGBM's number of trees is chosen here too (:mod:`training_service.rounds`); the result's
        ``params`` then carry it as ``n_estimators``, the final fit's."""
        folds = StratifiedKFold(self.command.folds, shuffle=True, random_state=self.command.seed)
        splits = list(folds.split(features, y))
        fold = np.zeros(len(y), dtype="int64")
        for k, (_, val_idx) in enumerate(splits):
            fold[val_idx] = k
        if lockstep_boosting(self.command, params):
            found = self._lockstep(features, y, params, splits, label)
            oof, fit_s, trees, curve = found.oof, found.fit_s, found.n_estimators, found.curve
            params = {**params, "n_estimators": trees, "validation_fraction": 0.0}
        else:
            oof, fit_s = self._folds(features, y, params, splits, label)
            trees, curve = None, []
        threshold, cost = best_threshold(y, oof, self.weights)
        fold_metrics = [evaluate(y[v], oof[v], threshold, self.weights) for _, v in splits]
        auc = evaluate(y, oof, threshold, self.weights)["roc_auc"]
        return CandidateResult(number, params, round_, len(y), oof, fold_metrics, cost, threshold, auc, fit_s, fold,
                               trees, curve)  # fmt: skip

    def _tick(self, message: str) -> None:
        share = min(1.0, self._done_units / self._total_units)
        self.progress("cross-validation", self.span[0] + (self.span[1] - self.span[0]) * share, message)

    def _folds(
        self, features: pd.DataFrame, y: np.ndarray, params: dict[str, ParamValue], splits: list[Any], label: str
    ) -> tuple[np.ndarray, float]:
        oof = np.zeros(len(y))
        fit_s = 0.0
        for i, (train_idx, val_idx) in enumerate(splits, start=1):
            started = time.perf_counter()
            model = build_pipeline(self.command, self.columns, params, threads=self.threads).fit(
                features.iloc[train_idx], y[train_idx]
            )
            fit_s += time.perf_counter() - started
            oof[val_idx] = model.predict_proba(features.iloc[val_idx])[:, 1]
            self._done_units += 1
            self._tick(f"{label}, fold {i} of {len(splits)}")
        return oof, fit_s

    def _lockstep(
        self, features: pd.DataFrame, y: np.ndarray, params: dict[str, ParamValue], splits: list[Any], label: str
    ) -> Lockstep:
        spec = {**family_defaults(self.command.family), **params}
        found = lockstep_cv(
            lambda: build_pipeline(self.command, self.columns, params, threads=self.threads),
            features,
            y,
            splits,
            cap=int(spec["n_estimators"]),
            patience=int(spec["early_stopping_rounds"]),
            floor=int(spec.get(MIN_ESTIMATORS, 1)),
            say=lambda message: self._tick(f"{label}, {message}"),
        )
        self._done_units += len(splits)
        self._tick(f"{label}, {found.n_estimators} trees chosen on {len(splits)} folds")
        return found

    def run(self, X: pd.DataFrame, y: np.ndarray) -> SearchOutcome:  # noqa: N803
        """Evaluate every candidate (successive halving when asked) and return the best on all rows."""
        y = np.asarray(y).astype(int)
        cands = candidates(self.command)
        search = self.command.search
        halving = search is not None and search.method is SearchMethod.HALVING and len(cands) > 1
        factor = search.halving_factor if search is not None else 3
        rounds = 1 + math.ceil(math.log(len(cands), factor)) if halving else 1
        sizes = [len(cands)]
        for _ in range(rounds - 1):
            sizes.append(max(1, math.ceil(sizes[-1] / factor)))
        self._total_units = sum(sizes) * self.command.folds
        outcome = SearchOutcome()
        alive = list(enumerate(cands, start=1))
        for r in range(rounds):
            rows = _subsample(y, float(factor) ** (r - rounds + 1), self.command.folds, self.command.seed + r)
            label = "candidate {j} of {n}" + (f", round {r + 1} of {rounds}" if rounds > 1 else "")
            results = [
                self.cross_validate(X.iloc[rows], y[rows], p, label=label.format(j=j, n=len(cands)), number=j, round_=r)
                for j, p in alive
            ]
            outcome.results.extend(results)
            ranked = sorted(results, key=lambda c: (c.best_cost, -_nan_to(c.roc_auc)))
            if r == rounds - 1:
                outcome.best = ranked[0]
            else:
                keep = {c.candidate for c in ranked[: sizes[r + 1]]}
                alive = [(j, p) for j, p in alive if j in keep]
        return outcome


def _nan_to(value: float, default: float = 0.0) -> float:
    return default if math.isnan(value) else value


def lockstep_boosting(command: TrainModel, params: dict[str, ParamValue]) -> bool:
    """LightGBM's trees are counted by lockstep cross-validation (not for dart, whose trees are reweighted later)."""
    return command.family is ModelFamily.LIGHTGBM and params.get("boosting_type", "gbdt") != "dart"


def smote_neighbours_fit(command: TrainModel, y: np.ndarray) -> str | None:
    """Why SMOTE cannot run on these labels with the requested neighbours (``None`` when it can)."""
    if command.search is None or SMOTE_K_NEIGHBORS not in command.search.parameters:
        k = int(command.params.get(SMOTE_K_NEIGHBORS, 5))
    else:
        dim = command.search.parameters[SMOTE_K_NEIGHBORS]
        k = int(max(dim.values or [dim.high or 5]))  # type: ignore[type-var]
    minority = int(min(np.bincount(y.astype(int), minlength=2)))
    per_fold = minority * (command.folds - 1) // command.folds
    if k >= per_fold:
        return f"SMOTE with {k} neighbours needs more than {k} defaults per training fold; there are {per_fold}"
    return None
