"""`credit --help` starts fast: the command line imports no heavy library before a command needs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

HEAVY = ("pandas", "mlflow", "sklearn", "lightgbm", "aiokafka", "sqlalchemy", "httpx")
MODEL_CODE = ("credit_shared.model_inputs", "credit_shared.loaded_model", "credit_shared.model_loading")

PROBE = """
import json, sys
from typer.testing import CliRunner
from credit_local.cli import app
for args in (["--help"], ["loans", "--help"], ["data", "--help"], ["loans", "tail", "--help"]):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (args, result.output)
print(json.dumps(sorted(sys.modules)))
"""


def test_help_imports_no_heavy_module() -> None:
    found = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True)
    loaded = set(json.loads(found.stdout))
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY or m in MODEL_CODE)
    assert not heavy, f"`credit --help` imports {heavy[:10]}: import them inside the command that needs them"


def test_the_wrapper_runs_the_command_line_without_uv_on_path() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    text = (root / "credit").read_text()
    assert text.startswith("#!/bin/sh")
    assert (root / "credit").stat().st_mode & 0o111
    assert '"$HOME/.local/bin/uv"' in text
    assert "make --no-print-directory -s -C" in text
