"""The gateway keeps the promises of its OpenAPI document, checked from outside on the embedded platform.

The property-based run is schemathesis's own command line against ``/openapi.json``, as an outside checker runs it:
every check on (no server error, statuses, content types, headers and bodies as documented, schema-invalid
requests refused, schema-valid ones accepted, authentication not ignored, 405 with ``Allow`` for undocumented
methods), a fixed budget of examples per operation and a fixed seed (``schemathesis.toml`` beside this file), the
deleting operations in a second run after everything else. The platform is this module's own, started like
``make up`` (``start_platform``): the run builds datasets, trains, promotes and deletes, which the session's shared
platform must not see. Its gateway's rate limit is raised, so that the run tests the API rather than the limiter
(the 429s are the unit tests' business).

The documentation pages are rendered by headless Chromium with every host but 127.0.0.1 unresolvable.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Running, start_platform

pytestmark = pytest.mark.e2e
log = logging.getLogger(__name__)

CONFIG = Path(__file__).with_name("schemathesis.toml")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
RUN_TIMEOUT_S = 1200  # a hung run fails instead of holding CI; the budget is examples, not time
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GATEWAY_RATE_LIMIT_PER_S", "100000")  # the services inherit the environment
        env.setenv("GATEWAY_RATE_LIMIT_BURST", "1000000")
        # the run checks answers, not latency (bench/ measures it): a busy CI machine must not turn a slow decision
        # into a 504
        env.setenv("GATEWAY_DECISION_TIMEOUT_S", "30")
        with start_platform(tmp_path_factory.mktemp("contract") / "home", applicants=1_000) as running:
            yield running


def schemathesis(running: Running, reports: Path, *selection: str) -> tuple[int, str]:
    """Run ``schemathesis run`` against the platform's gateway; its exit code and output."""
    api = running.platform.urls["api"]
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run", f"{api}/openapi.json",
        "-H", f"X-API-Key: {running.platform.keys['admin']}", "--checks", "all", "--no-color",
        "--report", "junit", "--report-dir", str(reports), *selection,
    ]  # fmt: skip
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    reports.mkdir(parents=True)  # the working folder too: schemathesis keeps its cache in the current one
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=env, cwd=reports, check=False
    )
    return done.returncode, done.stdout + done.stderr


def figures(output: str) -> str:
    """The run's headline figures: operations tested, test cases, failures, duration."""
    tested = re.search(r"Tested: (\d+)", output)
    cases = re.search(r"(\d+) generated, (\d+) found (\d+) unique failures", output) or re.search(
        r"(\d+) generated, (\d+) passed", output
    )
    duration = re.search(r" in ([\d.]+)s =+\s*$", output.strip())
    return (f"operations {tested.group(1) if tested else '?'}, test cases {cases.group(1) if cases else '?'}, "
            f"failures {cases.group(3) if cases and 'unique' in cases.group(0) else 0}, "
            f"{duration.group(1) if duration else '?'} s")  # fmt: skip


def failures(output: str) -> str:
    """The part of the output a developer needs: the failures and the summary."""
    start = output.find("FAILURES")
    return output[start if start >= 0 else 0 :][-20_000:]


def test_the_property_based_run_finds_no_broken_promise(platform: Running, tmp_path: Path) -> None:
    code, output = schemathesis(platform, tmp_path / "everything", "--exclude-method", "DELETE")
    log.warning("schemathesis, every operation but the deleting ones: %s", figures(output))
    assert code == 0, failures(output)
    code, output = schemathesis(platform, tmp_path / "deletions", "--include-method", "DELETE")
    log.warning("schemathesis, the deleting operations: %s", figures(output))
    assert code == 0, failures(output)
    assert re.search(r"Tested: ([2-9]|\d\d)", output), "the deleting operations were not tested"


@pytest.mark.parametrize(
    ("page", "drawn"),
    [("/docs", 'data-path="/v1/scoring/decisions"'), ("/redoc", "Decide one application now")],
    ids=["swagger-ui", "redoc"],
)
def test_the_documentation_pages_render_with_the_network_cut(
    platform: Running, tmp_path: Path, page: str, drawn: str
) -> None:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path}", OFFLINE,
             "--virtual-time-budget=15000", "--dump-dom"]  # fmt: skip
    url = platform.platform.urls["api"] + page
    done = subprocess.run([CHROMIUM, *flags, url], capture_output=True, text=True, timeout=180, check=False)
    assert drawn in done.stdout, f"{page} did not draw the API without the network:\n{done.stdout[-2000:]}"
