"""Benchmark of the feature build: our DuckDB engine against the plain-pandas reference, on the same files.

    uv run python bench/ingestion.py            # 356,255 applicants, ~58.5 M side rows
    uv run python bench/ingestion.py --quick    # 20,000 applicants

Tables are generated once per (applicants, seed) into ``--data-dir`` (default ``.credit/bench-data/``, outside
version control) with ``credit_local.synthetic.generate`` (or, with ``--resampled``, by resampling
the real sample rows of ``../shared/data/home-credit`` with fresh keys at the full-data sizes per applicant).
Each engine runs in its own process, so its peak RSS (``ru_maxrss``) and wall times are its own. Each worker also
returns the sum of every feature column; the two are compared as a check that both computed the same thing.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _report import load_average, machine, started_at, write_and_print

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "data" / "home-credit"
FULL_APPLICANTS = 356_255
QUICK_APPLICANTS = 20_000
SIDE_TABLES = (
    "bureau",
    "bureau_balance",
    "previous_application",
    "POS_CASH_balance",
    "installments_payments",
    "credit_card_balance",
)
# Rows per client who has the table (full-data rows / (applicants x coverage)); bureau_balance is per credit.
PER_CLIENT = {
    "bureau": (0.86, 1_716_428 / (FULL_APPLICANTS * 0.86)),
    "previous_application": (0.95, 1_670_214 / (FULL_APPLICANTS * 0.95)),
    "POS_CASH_balance": (0.95, 10_001_358 / (FULL_APPLICANTS * 0.95)),
    "installments_payments": (0.95, 13_605_401 / (FULL_APPLICANTS * 0.95)),
    "credit_card_balance": (0.29, 3_840_312 / (FULL_APPLICANTS * 0.29)),
}
BALANCE_PER_CREDIT = 27_299_925 / 1_716_428
CHUNK = 25_000


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # ru_maxrss is in KiB on Linux


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ----------------------------------------------------------------------------------------------- data generation
def _counts(rng: np.random.Generator, n: int, coverage: float, mean: float) -> np.ndarray:
    has = rng.random(n) < coverage
    counts: np.ndarray = (1 + rng.poisson(mean - 1, n)) * has
    return counts


def resample_tables(out: Path, applicants: int, seed: int) -> None:
    """Full-size tables made of real sample rows with fresh, consistent keys."""
    import pyarrow as pa
    from pyarrow import csv

    rng = np.random.default_rng(seed)
    sources = {
        t: pa.Table.from_pandas(pd.read_csv(SAMPLE / "unjoined" / f"{t}.csv"), preserve_index=False)
        for t in SIDE_TABLES
    }
    app_source = pa.Table.from_pandas(pd.read_csv(SAMPLE / "application_train.csv"), preserve_index=False)
    options = csv.WriteOptions(quoting_style="needed")
    writers: dict[str, Any] = {}

    def write(name: str, table: Any) -> None:
        if name not in writers:
            writers[name] = csv.CSVWriter(out / f"{name}.csv", table.schema, write_options=options)
        writers[name].write_table(table)

    def take(source: Any, rows: int, keys: dict[str, np.ndarray]) -> Any:
        table = source.take(pa.array(rng.integers(0, source.num_rows, rows)))
        for key, values in keys.items():
            table = table.set_column(table.schema.get_field_index(key), key, pa.array(values, pa.int64()))
        return table

    next_bureau, next_prev = 5_000_000, 1_000_000
    for start in range(0, applicants, CHUNK):
        ids = np.arange(100_001 + start, 100_001 + min(start + CHUNK, applicants), dtype=np.int64)
        write("application_train", take(app_source, len(ids), {"SK_ID_CURR": ids}))
        for table, (coverage, mean) in PER_CLIENT.items():
            counts = _counts(rng, len(ids), coverage, mean)
            rows = int(counts.sum())
            owners = np.repeat(ids, counts)
            if table == "bureau":
                credits = np.arange(next_bureau, next_bureau + rows, dtype=np.int64)
                next_bureau += rows
                write(table, take(sources[table], rows, {"SK_ID_CURR": owners, "SK_ID_BUREAU": credits}))
                months = 1 + rng.poisson(BALANCE_PER_CREDIT - 1, rows)
                balance = np.repeat(credits, months)
                write("bureau_balance", take(sources["bureau_balance"], len(balance), {"SK_ID_BUREAU": balance}))
            else:
                prev = rng.integers(next_prev, next_prev + max(rows // 8, 1), rows, dtype=np.int64)
                next_prev += max(rows // 8, 1)
                write(table, take(sources[table], rows, {"SK_ID_CURR": owners, "SK_ID_PREV": prev}))
        print(f"  generated {min(start + CHUNK, applicants):,}/{applicants:,} applicants", flush=True)
    for writer in writers.values():
        writer.close()


def ensure_data(data_dir: Path, applicants: int, seed: int, *, fallback: bool) -> tuple[Path, str, float]:
    """The folder of the tables (generated when absent), the generator used and the generation time."""
    try:
        from credit_local.synthetic import generate
    except ImportError:
        fallback = True
    kind = "resampled" if fallback else "synthetic"
    folder = data_dir / f"{kind}-{applicants}-seed{seed}"
    marker = folder / "complete.json"
    if marker.is_file():
        return folder, json.loads(marker.read_text())["generator"], 0.0
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if fallback:
        generator = "resampled real sample rows (bench fallback)"
        resample_tables(folder, applicants, seed)
    else:
        generator = "credit_local.synthetic.generate"
        generate(
            folder, applicants, seed, progress=lambda done, total: print(f"  generated {done:,}/{total:,}", flush=True)
        )
    elapsed = time.perf_counter() - started
    marker.write_text(json.dumps({"generator": generator, "seconds": elapsed}))
    return folder, generator, elapsed


def application_file(folder: Path) -> Path:
    for name in ("application_train.csv", "application_train.parquet"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"no application_train in {folder}")


def read_applications(folder: Path) -> pd.DataFrame:
    frames = []
    for name in ("application_train", "application_test"):
        for suffix in (".parquet", ".csv"):
            path = folder / f"{name}{suffix}"
            if path.is_file():
                frames.append(pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path))
                break
    return pd.concat(frames, ignore_index=True)


def side_rows(folder: Path) -> int:
    import duckdb

    total = 0
    for table in SIDE_TABLES:
        path = next(p for p in (folder / f"{table}.parquet", folder / f"{table}.csv") if p.is_file())
        reader = "read_parquet" if path.suffix == ".parquet" else "read_csv"
        total += duckdb.sql(f"SELECT count(*) FROM {reader}('{path}')").fetchall()[0][0]
    return int(total)


# ---------------------------------------------------------------------------------------------------- workers
def column_sums(frame: pd.DataFrame) -> dict[str, float]:
    numeric = frame.select_dtypes("number")
    return {c: float(np.nansum(numeric[c].to_numpy(dtype="float64"))) for c in numeric.columns if c != "TARGET"}


def worker_ours(folder: Path, memory_limit: str) -> dict[str, Any]:
    from credit_shared.features.build import build_features

    stages: dict[str, float] = {}
    started = time.perf_counter()
    applications = read_applications(folder)
    stages["read_applications_s"] = time.perf_counter() - started
    last = time.perf_counter()

    def progress(stage: str, _share: float) -> None:
        nonlocal last
        now = time.perf_counter()
        stages[f"{stage}_s"] = now - last
        last = now

    features = build_features(applications, folder, memory_limit=memory_limit, threads=2, progress=progress)
    return worker_result(stages, started, features)


def worker_result(stages: dict[str, float], started: float, features: pd.DataFrame) -> dict[str, Any]:
    """What a worker reports: its stages, wall and CPU time, peak memory and the features' shape and column sums."""
    return {
        "stages": stages,
        "total_wall_s": time.perf_counter() - started,
        "peak_rss_gb": rss_gb(),
        "shape": list(features.shape),
        "cpu_s": cpu_s(),
        "sums": column_sums(features),
    }


def worker_pandas(folder: Path) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from tests.oracle import pandas_features as pf

    stages: dict[str, float] = {}
    started = time.perf_counter()

    def timed(stage: str, fn: Any, *args: Any) -> Any:
        t = time.perf_counter()
        result = fn(*args)
        stages[f"{stage}_s"] = time.perf_counter() - t
        return result

    applications = timed("read_applications", read_applications, folder)
    parts = [
        timed(
            "bureau",
            lambda: pf.bureau_and_balance(pf.read_table(folder, "bureau"), pf.read_table(folder, "bureau_balance")),
        ),
        timed("previous_application", lambda: pf.previous_applications(pf.read_table(folder, "previous_application"))),
        timed("POS_CASH_balance", lambda: pf.pos_cash(pf.read_table(folder, "POS_CASH_balance"))),
        timed(
            "installments_payments", lambda: pf.installments_payments(pf.read_table(folder, "installments_payments"))
        ),
        timed("credit_card_balance", lambda: pf.credit_card_balance(pf.read_table(folder, "credit_card_balance"))),
    ]

    def join() -> pd.DataFrame:
        history = parts[0]
        for part in parts[1:]:
            history = history.join(part, how="outer")
        return pf.application(applications).join(history.astype("float64"), on="SK_ID_CURR", how="left")

    features = timed("join_and_application", join)
    return worker_result(stages, started, features)


def run_worker(kind: str, folder: Path, memory_limit: str, timeout_s: float) -> dict[str, Any] | None:
    command = [sys.executable, __file__, "--worker", kind, "--folder", str(folder), "--memory-limit", memory_limit]
    print(f"running {kind} ...", flush=True)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        print(f"  {kind} did not finish within {timeout_s:.0f} s", flush=True)
        return None
    if done.returncode != 0:
        print(f"  {kind} failed ({done.returncode}): {done.stderr[-2000:]}", flush=True)
        return None
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# ------------------------------------------------------------------------------------------------------- main
def max_relative_difference(a: dict[str, float], b: dict[str, float]) -> float:
    worst = 0.0
    for column, value in a.items():
        other = b.get(column, math.nan)
        scale = max(abs(value), abs(other), 1e-300)
        worst = max(worst, abs(value - other) / scale if not math.isnan(other) else math.inf)
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_APPLICANTS:,} applicants")
    parser.add_argument("--applicants", type=int, help="number of applicants (default: full size or quick)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".credit" / "bench-data")
    parser.add_argument("--memory-limit", default="3GB", help="DuckDB memory limit of our build")
    parser.add_argument(
        "--resampled", action="store_true", help="resample the real sample rows instead of the synthetic generator"
    )
    parser.add_argument("--skip-reference", action="store_true", help="do not run the pandas reference")
    parser.add_argument("--reference-timeout", type=float, default=3600.0)
    parser.add_argument("--worker", choices=["ours", "pandas"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        result = worker_ours(args.folder, args.memory_limit) if args.worker == "ours" else worker_pandas(args.folder)
        print(json.dumps(result))
        return

    applicants = args.applicants or (QUICK_APPLICANTS if args.quick else FULL_APPLICANTS)
    started = started_at()
    load_before = load_average()[0]
    folder, generator, generated_s = ensure_data(args.data_dir, applicants, args.seed, fallback=args.resampled)
    rows = side_rows(folder)
    ours = run_worker("ours", folder, args.memory_limit, 3600.0)
    if ours is None:
        raise SystemExit("our feature build failed")
    reference = None if args.skip_reference else run_worker("pandas", folder, args.memory_limit, args.reference_timeout)

    figures: dict[str, float] = {
        "applicants": applicants,
        "side_rows": rows,
        "features": ours["shape"][1] - 1,
        "total_wall_s": round(ours["total_wall_s"], 2),
        "peak_rss_gb": round(ours["peak_rss_gb"], 3),
        "cpu_s": round(ours["cpu_s"], 2),
        "side_rows_per_s": round(rows / ours["total_wall_s"]),
        **{k: round(v, 2) for k, v in ours["stages"].items()},
    }
    ratios: dict[str, float] = {}
    notes = [
        f"tables: {generator}" + (f", generated in {generated_s:.0f} s" if generated_s else ", cached"),
        f"our build: DuckDB threads=2 memory_limit={args.memory_limit}, CSV in, pandas DataFrame out",
        f"1-minute load average {load_before:.1f} before and {load_average()[0]:.1f} after the run on "
        f"{os.cpu_count()} cores shared with other work: wall times are inflated, the side-by-side ratio is "
        "the figure",
    ]
    if reference is not None:
        figures.update(
            {
                "reference_total_wall_s": round(reference["total_wall_s"], 2),
                "reference_peak_rss_gb": round(reference["peak_rss_gb"], 3),
                "reference_cpu_s": round(reference["cpu_s"], 2),
                "reference_side_rows_per_s": round(rows / reference["total_wall_s"]),
                **{f"reference_{k}": round(v, 2) for k, v in reference["stages"].items()},
            }
        )
        ratios["speedup_vs_pandas_reference"] = round(reference["total_wall_s"] / ours["total_wall_s"], 2)
        ratios["cpu_time_vs_pandas_reference"] = round(reference["cpu_s"] / ours["cpu_s"], 2)
        ratios["memory_vs_pandas_reference"] = round(ours["peak_rss_gb"] / reference["peak_rss_gb"], 3)
        figures["max_rel_diff_column_sums"] = max_relative_difference(ours["sums"], reference["sums"])
    else:
        notes.append("pandas reference not run (skipped, failed or timed out: see the log)")

    result = {
        "name": "ingestion",
        "quick": applicants == QUICK_APPLICANTS and args.quick,
        "started_at": started,
        "machine": machine(),
        "params": {"applicants": applicants, "seed": args.seed, "memory_limit": args.memory_limit},
        "figures": figures,
        "ratios": ratios,
        "notes": "; ".join(notes),
    }
    write_and_print(result, args.quick)


if __name__ == "__main__":
    main()
