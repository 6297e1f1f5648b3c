"""Every shell command of the README, copied as printed, works on the embedded platform in a shell without uv on PATH.

The commands are taken from the README's fenced ``bash`` blocks and run from the repository root with ``CREDIT_HOME``
pointing at the session's platform (the CLI finds its broker from the ports ``up`` recorded). Skipped, and why:

- ``make up`` / ``make test``: the fixture already started the platform the way ``make up`` does, and this test is
  part of the suite ``make test`` runs;
- ``export CREDIT_DATA_DIR=...``: a placeholder path to the Kaggle download, which the tests do not have;
- ``cp deploy/.env.example ...`` and ``docker compose ...``: the compose deployment, checked by the docker tests
  (no Docker engine here).

Followers (``tail``) are bounded by their printed ``--idle``; every command also has a time limit.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import Running

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SKIPPED = ("make up", "make test", "export ", "cp deploy/", "docker compose")
EXPECTED = {  # what a meaningful output shows, per command's start
    "./credit loans publish": "published 2500",
    "./credit loans tail --from-beginning": "client ",
    "./credit loans tail --dead-letters": "application.",
    "./credit loans outcomes": "published ",
    "./credit status": "healthy",
    "./credit logs": "",
}


def readme_commands() -> list[str]:
    """The commands of the README's ``bash`` blocks (comments dropped), in order."""
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    lines = [line.split(" #", 1)[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def without_uv() -> str:
    """PATH without any folder that holds uv (python3's folder stays)."""
    return ":".join(d for d in os.environ["PATH"].split(":") if d and not (Path(d) / "uv").exists())


def test_every_readme_command_works_as_printed(embedded_platform: Running) -> None:
    commands = [c for c in readme_commands() if not c.startswith(SKIPPED)]
    assert len(commands) >= 6, commands
    env = {**os.environ, "PATH": without_uv(), "CREDIT_HOME": str(embedded_platform.home)}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    for command in commands:
        done = subprocess.run(
            shlex.split(command), check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"{command}: exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        expected = next((v for k, v in EXPECTED.items() if command.startswith(k)), None)
        assert expected is not None, f"{command}: no expected output declared for it"
        assert expected in done.stdout, f"{command}: {expected!r} not in\n{done.stdout[-2000:]}"
        assert done.stdout.strip(), command
