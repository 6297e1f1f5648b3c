"""Start-up of the ``credit`` command line: warm ``credit --help`` and a real command before it does its work.

Each figure is the median wall time of a fresh process (the files are in the page cache after the first run, which
is discarded: "warm"), measured beside a baseline of the same interpreter doing nothing (``python -c pass``), so
the ratios hold on a loaded machine. ``status_s`` is ``credit status`` on an empty home (every import of the
launcher, then "not running"); ``tail_imports_s`` is what ``credit loans tail`` imports before it connects;
``wrapper_help_s`` is ``./credit --help`` through ``uv run`` (the command a fresh clone runs).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import load_average, machine, started_at, write_and_print

ROOT = Path(__file__).resolve().parents[1]
CREDIT = str(Path(sys.executable).with_name("credit"))
TAIL_IMPORTS = (
    "import credit_local.cli, aiokafka, credit_local.loans_lines, credit_shared.contracts.loans, credit_shared.settings"
)


def timed(command: list[str], repeats: int, env: dict[str, str]) -> float:
    """Median wall time of ``command`` over ``repeats`` runs, after one discarded warm-up run."""
    times = []
    for k in range(repeats + 1):
        started = time.perf_counter()
        subprocess.run(command, check=False, capture_output=True, env=env, cwd=ROOT, timeout=120)
        if k:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(quick: bool) -> dict[str, object]:
    repeats = 3 if quick else 9
    home = Path(tempfile.mkdtemp(prefix="bench-cli-"))
    env = {**os.environ, "CREDIT_HOME": str(home)}
    try:
        figures = {
            "baseline_python_s": timed([sys.executable, "-c", "pass"], repeats, env),
            "help_s": timed([CREDIT, "--help"], repeats, env),
            "loans_help_s": timed([CREDIT, "loans", "--help"], repeats, env),
            "status_s": timed([CREDIT, "status"], repeats, env),
            "tail_imports_s": timed([sys.executable, "-c", TAIL_IMPORTS], repeats, env),
        }
        if shutil.which("uv") or (Path.home() / ".local/bin/uv").exists():
            figures["wrapper_help_s"] = timed([str(ROOT / "credit"), "--help"], repeats, env)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    base = figures["baseline_python_s"]
    return {
        "name": "cli",
        "quick": quick,
        "started_at": started_at(),
        "machine": machine(load_average_1m=load_average()[0]),
        "params": {"repeats": repeats},
        "figures": {k: round(v, 3) for k, v in figures.items()},
        "ratios": {f"{k.removesuffix('_s')}_vs_baseline": round(v / base, 1) for k, v in figures.items() if v != base},
        "notes": __doc__.split("\n\n", 1)[1].strip(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (a few seconds)")
    args = parser.parse_args()
    write_and_print(run(args.quick), args.quick)


if __name__ == "__main__":
    main()
