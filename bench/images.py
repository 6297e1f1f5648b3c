"""What each service image installs: distributions and installed size, against the whole workspace environment.

An image is ``uv sync --package credit-<service>`` on the lockfile (``deploy/service.Dockerfile``): its contents are
the lockfile's closure of that member's requirements, read with the same code that holds each image to its
service's imports (``tests/unit/test_dependencies.py``). Sizes are the installed files of each distribution in this
machine's environment (``uv sync --all-packages``, which holds them all); the baseline, measured in the same run, is
that whole environment (``credit-platform``: every member and its dependencies, no dev tools). No image is built
(no Docker engine here): the figures are what ``uv sync`` would put in each image's virtual environment.

    uv run python bench/images.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._report import machine, started_at, write_and_print  # noqa: E402
from tests.unit.test_dependencies import HEAVY, MEMBERS, image  # noqa: E402

WORKSPACE = "credit-platform"


def installed_mb(name: str) -> float:
    """Installed size of one distribution in this environment, in MB (0 when it is not installed here)."""
    try:
        files = distribution(name).files or []
    except PackageNotFoundError:
        return 0.0
    return sum(f.size or 0 for f in files) / 1e6


def contents(member: str) -> tuple[frozenset[str], float]:
    """The third-party distributions an image of ``member`` installs and their installed size in MB."""
    third_party = frozenset(n for n in image(member) if not n.startswith("credit-"))
    return third_party, sum(installed_mb(n) for n in third_party)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the same run (it takes seconds either way)")
    args = parser.parse_args()
    started = started_at()
    baseline, baseline_mb = contents(WORKSPACE)
    figures: dict[str, float | int] = {"workspace_distributions": len(baseline), "workspace_mb": round(baseline_mb)}
    ratios: dict[str, float] = {}
    heavy: dict[str, list[str]] = {}
    rows = [f"{'image':<12} {'distributions':>13} {'installed MB':>12} {'vs workspace':>12}  model/data libraries"]
    for member in sorted(MEMBERS):
        short = member.removeprefix("credit-")
        names, mb = contents(member)
        figures[f"{short}_distributions"] = len(names)
        figures[f"{short}_mb"] = round(mb)
        ratios[f"{short}_size_vs_workspace"] = round(mb / baseline_mb, 2)
        heavy[short] = sorted(set(HEAVY) & names)
        rows.append(f"{short:<12} {len(names):>13} {mb:>12,.0f} {mb / baseline_mb:>11.2f}x  {', '.join(heavy[short])}")
    rows.append(f"{'workspace':<12} {len(baseline):>13} {baseline_mb:>12,.0f} {1:>11.2f}x")
    result = {
        "name": "images",
        "quick": args.quick,
        "started_at": started,
        "machine": machine(),
        "params": {"lockfile": "uv.lock", "heavy_libraries": heavy},
        "figures": figures,
        "ratios": ratios,
        "notes": "Third-party distributions each image's `uv sync --package` installs (lockfile closure) and their "
        "installed size in this environment; the baseline is the whole workspace environment without dev tools. "
        "heavy_libraries: which of the model and data libraries each image carries.",
    }
    write_and_print(result, args.quick, rows)


if __name__ == "__main__":
    main()
