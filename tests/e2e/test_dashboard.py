"""Every page of the dashboard in headless Chromium against the embedded platform, as `make up` starts it.

Each page is opened over the DevTools protocol, waited for until its script has finished, screenshotted into the
git-ignored ``artifacts/screenshots/`` and checked for Streamlit exceptions and error elements.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from credit_local import launcher
from credit_local.processes import free_port
from credit_shared.settings import PlatformSettings

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
SAMPLE = ROOT / ".." / "shared" / "data" / "home-credit" / "joinable_capstone"  # all tables, joinable ids
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PAGES = {  # url path -> the page's title
    "": "Credit-scoring platform",
    "client": "Client decision",
    "client?client=100002": "Client decision",  # a client of the sample
    "monitoring": "Monitoring",
    "datasets": "Datasets",
    "experiments": "Experiments",
    "training": "Training",
    "raw-data": "Raw data",
}
STATE = """(() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const h1 = document.querySelector('h1');
  return JSON.stringify({
    state: app ? app.getAttribute('data-test-script-state') : null,
    title: h1 ? h1.innerText : null,
    spinners: document.querySelectorAll('[data-testid="stSpinner"]').length,
    exceptions: [...document.querySelectorAll('[data-testid="stException"]')].map(e => e.innerText),
    errors: [...document.querySelectorAll('[data-testid="stAlertContentError"]')].map(e => e.innerText),
    height: document.querySelector('[data-testid="stMainBlockContainer"]')?.scrollHeight || 0,
  });
})()"""


class DevTools:
    """One Chromium tab driven over the DevTools protocol."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.ids = itertools.count(1)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a command and wait for its answer (events in between are skipped)."""
        call_id = next(self.ids)
        self.socket.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=60))
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    def state(self) -> dict[str, Any]:
        """What the page shows now."""
        answer = self.call("Runtime.evaluate", expression=STATE, returnByValue=True)
        found: dict[str, Any] = json.loads(answer["result"]["value"])
        return found

    def open(self, url: str, title: str, timeout_s: float = 90.0) -> dict[str, Any]:
        """Open ``url`` and wait until the page titled ``title`` has finished drawing."""
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout_s
        settled = 0
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = self.state()
            done = state["state"] == "notRunning" and title in (state["title"] or "") and not state["spinners"]
            settled = settled + 1 if done else 0
            if settled >= 3:  # quiet for three polls in a row: fragments and charts have drawn too
                return state
            time.sleep(0.5)
        raise AssertionError(f"{url} did not finish drawing in {timeout_s:g} s; last state {state}")

    def screenshot(self, path: Path, height: int) -> None:
        """Save a PNG of the page, tall enough for its content."""
        self.call("Emulation.setDeviceMetricsOverride", width=1400, height=max(900, min(height + 120, 6000)),
                  deviceScaleFactor=1, mobile=False)  # fmt: skip
        time.sleep(0.5)  # one frame for the new size to be laid out (the capture itself waits for nothing)
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))


def build_dataset(platform: launcher.Platform, timeout_s: float = 300.0) -> str:
    """Build a dataset from the real sample through the gateway, as the dashboard would; its id.

    The dataset is awaited in the gateway's list of datasets (what the pages show); a failed job fails at once.
    """
    api = platform.urls["api"]
    headers = {"X-API-Key": platform.keys["analyst"]}
    job = httpx.post(f"{api}/v1/datasets", json={"name": "e2e sample", "source": "sample"}, headers=headers).json()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        datasets = httpx.get(f"{api}/v1/datasets", headers=headers).json()
        if datasets:
            dataset_id: str = datasets[0]["dataset_id"]
            return dataset_id
        job = httpx.get(f"{api}/v1/jobs/{job['job_id']}", headers=headers).json()
        assert job["status"] != "failed", f"the sample dataset was not built: {job}"
        time.sleep(1.0)
    raise AssertionError(f"no dataset after {timeout_s:g} s; the build job: {job}")


def warm_up(platform: launcher.Platform, timeout_s: float = 120.0) -> None:
    """Read once what the pages read, waiting as long as it takes: MLflow's first answers are slow on a busy machine,
    and the pages (rightly) show an error when the gateway is slower than their timeout."""
    headers = {"X-API-Key": platform.keys["viewer"]}
    for path in ("/v1/registry", "/v1/experiments", "/v1/raw/tables", "/v1/monitoring/reports"):
        deadline = time.monotonic() + timeout_s
        while httpx.get(f"{platform.urls['api']}{path}", headers=headers, timeout=timeout_s).status_code >= 500:
            assert time.monotonic() < deadline, f"{path} does not answer"
            time.sleep(1.0)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[launcher.Platform]:
    if not (SAMPLE / "application_train.csv").is_file():
        pytest.skip(f"the Home Credit sample is not at {SAMPLE}")
    names = [n for n in launcher.LocalSettings.model_fields if n.endswith("_port")]
    local = launcher.LocalSettings(**{n: free_port() for n in names})
    settings = PlatformSettings(home=tmp_path_factory.mktemp("platform") / "home")
    with pytest.MonkeyPatch.context() as env:
        for name in ("INGESTION_SAMPLE_DIR", "GATEWAY_SAMPLE_DIR"):  # the services inherit them
            env.setenv(name, str(SAMPLE.resolve()))
        started = launcher.up(settings, local)
    try:
        build_dataset(started)
        warm_up(started)
        yield started
    finally:
        launcher.down(settings)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevTools]:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    port = free_port()
    profile = tmp_path_factory.mktemp("chromium")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", f"--remote-debugging-port={port}", "about:blank"]  # fmt: skip
    process = subprocess.Popen([CHROMIUM, *flags], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                tabs = httpx.get(f"http://127.0.0.1:{port}/json/list").json()
                tab = next(t for t in tabs if t.get("type") == "page")
                break
            except (httpx.HTTPError, StopIteration):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with connect(tab["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024) as socket:
            tools = DevTools(socket)
            tools.call("Page.enable")
            tools.call("Emulation.setDeviceMetricsOverride", width=1400, height=900, deviceScaleFactor=1, mobile=False)
            yield tools
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize("path", list(PAGES), ids=[p.replace("?", "-").replace("=", "-") or "home" for p in PAGES])
def test_every_page_draws_without_exception_or_error(platform: launcher.Platform, browser: DevTools, path: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    state = browser.open(f"{platform.urls['dashboard']}/{path}", PAGES[path])
    browser.screenshot(SHOTS / f"{path.replace('?', '-').replace('=', '-') or 'home'}.png", state["height"])
    assert state["exceptions"] == []
    assert state["errors"] == []
