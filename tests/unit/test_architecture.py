"""Services never import each other; they share only credit_shared and the messages on Kafka."""

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
APPLICATIONS = {
    "ingestion_service": ROOT / "services/ingestion/src/ingestion_service",
    "training_service": ROOT / "services/training/src/training_service",
    "scoring_service": ROOT / "services/scoring/src/scoring_service",
    "monitoring_service": ROOT / "services/monitoring/src/monitoring_service",
    "gateway_service": ROOT / "services/gateway/src/gateway_service",
    "credit_frontend": ROOT / "frontend/src/credit_frontend",
    "credit_local": ROOT / "deploy/local/src/credit_local",
}


def imported_packages(folder: Path) -> set[str]:
    found: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(APPLICATIONS))
def test_no_application_imports_another(package: str) -> None:
    others = set(APPLICATIONS) - {package}
    assert imported_packages(APPLICATIONS[package]) & others == set()


def test_shared_imports_no_application() -> None:
    assert imported_packages(ROOT / "shared/src/credit_shared") & set(APPLICATIONS) == set()


def test_frontend_talks_to_the_gateway_only() -> None:
    assert "credit_shared" not in imported_packages(APPLICATIONS["credit_frontend"])
