"""Each image installs what its service imports, and only that.

An image is ``uv sync --package credit-<service>`` on the lockfile (deploy/service.Dockerfile), so what it installs is
the lockfile's closure of that member's requirements. What the service imports is read from the code: every import
of the member's package and of the ``credit_shared`` modules it reaches, at any depth, in any function (a lazy import
still runs in production). The two must agree both ways: a module the service imports is installed (else the image
fails at the first request that reaches it), and a distribution the image installs is needed by something the service
imports or runs (else the image carries it for nothing: LightGBM in the gateway, say).
"""

from __future__ import annotations

import ast
import sys
import tomllib
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "shared/src"
MEMBERS = {
    "credit-gateway": ROOT / "services/gateway/src/gateway_service",
    "credit-scoring": ROOT / "services/scoring/src/scoring_service",
    "credit-monitoring": ROOT / "services/monitoring/src/monitoring_service",
    "credit-ingestion": ROOT / "services/ingestion/src/ingestion_service",
    "credit-training": ROOT / "services/training/src/training_service",
    "credit-frontend": ROOT / "frontend/src/credit_frontend",
    "credit-local": ROOT / "deploy/local/src/credit_local",
}
# What a member needs without importing it, and why.
RUN_NOT_IMPORTED = {
    "psycopg2-binary": "SQLAlchemy loads the PostgreSQL driver named by DATABASE_URL",
    "pyarrow": "pandas reads and writes the Parquet datasets through it",
    "mlflow": "credit-local runs `mlflow server`, which only the full distribution has",
}
# A module several distributions provide: the one an image should carry (the client, not the server).
PREFERRED = {"mlflow": "mlflow-skinny"}
HEAVY = ("lightgbm", "scikit-learn", "duckdb", "mlflow", "shap", "imbalanced-learn", "scipy", "evidently", "matplotlib")


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(path: Path) -> set[str]:
    """Absolute names of every module imported by ``path`` outside ``if TYPE_CHECKING:`` blocks."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    skipped = {id(n) for node in ast.walk(tree) if _type_checking(node) for n in ast.walk(node)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _shared_file(module: str) -> Path | None:
    base = SHARED.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def imported_top_levels(member: str) -> frozenset[str]:
    """Top-level third-party modules the member's code reaches, through every ``credit_shared`` module it imports."""
    own = MEMBERS[member].name
    pending = [m for f in MEMBERS[member].rglob("*.py") if "migrations" not in f.parts for m in _imports(f)]
    seen: set[Path] = set()
    tops: set[str] = set()
    while pending:
        module = pending.pop()
        top = module.split(".")[0]
        if top != "credit_shared":
            tops.add(top)
            continue
        parts = module.split(".")
        pending.extend(".".join(parts[:k]) for k in range(1, len(parts)))  # a package's __init__ runs first
        path = _shared_file(module)
        if path is not None and path not in seen:
            seen.add(path)
            pending.extend(_imports(path))
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    return frozenset(t for t in tops if t not in stdlib and t != own)


@cache
def _lock() -> dict[str, dict]:
    packages = tomllib.loads((ROOT / "uv.lock").read_text())["package"]
    return {p["name"]: p for p in packages}


def _applies(requirement: dict) -> bool:
    marker = requirement.get("marker")
    return marker is None or Marker(marker).evaluate({"extra": ""})


def installed(requirements: list[tuple[str, tuple[str, ...]]]) -> frozenset[str]:
    """The lockfile's closure of ``(distribution, extras)`` requirements: what ``uv sync`` installs for them."""
    lock, done, pending = _lock(), set(), list(requirements)
    names: set[str] = set()
    while pending:
        name, extras = pending.pop()
        if (name, extras) in done:
            continue
        done.add((name, extras))
        names.add(name)
        package = lock[name]
        wanted = list(package.get("dependencies", []))
        for extra in extras:
            wanted += package.get("optional-dependencies", {}).get(extra, [])
        pending += [(r["name"], tuple(r.get("extra", ()))) for r in wanted if _applies(r)]
    return frozenset(names)


def image(member: str) -> frozenset[str]:
    return installed([(member, ())])


@cache
def _providers() -> dict[str, list[str]]:
    return {top: [str(canonicalize_name(d)) for d in dists] for top, dists in packages_distributions().items()}


def needed(member: str) -> frozenset[str]:
    """What the member's imports and :data:`RUN_NOT_IMPORTED` need, with their own requirements."""
    carried = image(member)
    roots: list[tuple[str, tuple[str, ...]]] = []
    for top in imported_top_levels(member):
        dists = _providers().get(top, [])
        preferred = PREFERRED.get(top)
        chosen = [d for d in dists if d in carried and (preferred is None or d == preferred)] or [
            d for d in dists if d in carried
        ]
        roots += [(d, ()) for d in chosen[:1]]
    roots += [(d, ()) for d in RUN_NOT_IMPORTED if d in carried and (d != "mlflow" or member == "credit-local")]
    workspace = {name for name in _lock() if name.startswith("credit-")}
    return installed(roots) | (carried & workspace)


@pytest.mark.parametrize("member", sorted(MEMBERS))
def test_every_module_a_member_imports_is_installed_in_its_image(member: str) -> None:
    carried = image(member)
    missing = {top for top in imported_top_levels(member) if not set(_providers().get(top, [])) & carried}
    assert missing == set(), f"{member} imports {sorted(missing)}, which its image does not install"


@pytest.mark.parametrize("member", sorted(MEMBERS))
def test_a_member_image_installs_nothing_its_service_does_not_need(member: str) -> None:
    extra = image(member) - needed(member)
    assert extra == set(), f"{member}'s image installs {sorted(extra)}, which nothing it imports or runs needs"


def test_the_gateway_image_carries_no_model_library() -> None:
    assert image("credit-gateway") & set(HEAVY) == set(), "the gateway reads decisions; it fits and explains none"
    assert "mlflow-skinny" in image("credit-gateway")  # the registry client


def test_only_the_services_that_fit_or_explain_models_carry_the_model_libraries() -> None:
    carriers = {m for m in MEMBERS if {"lightgbm", "shap"} & image(m)}
    assert carriers == {"credit-scoring", "credit-training"}
    assert {m for m in MEMBERS if "duckdb" in image(m)} == {"credit-ingestion"}
    assert {m for m in MEMBERS if "mlflow" in image(m)} == {"credit-local"}  # the server; the others the client
