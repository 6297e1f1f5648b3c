"""Every page of the dashboard in headless Chromium against the embedded platform, as `make up` starts it (the
session's ``embedded_platform``: synthetic data, a dataset and a LightGBM champion, so the decision pages show a real
decision, its explanation and a comparison).

Each page is opened over the DevTools protocol, waited for until its script has finished, screenshotted into
``docs/notes/wave-2/screenshots/`` (committed: a person looks at each) and checked for what a person sees: no
Streamlit exception or error, every chart with data, no raw identifier (``param_``, an engineered column's code,
``None``) in headings and tables, and the drift figures the page shows equal to the API's.
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
from tests.e2e.conftest import Running

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "notes" / "wave-2" / "screenshots"
RAW = (
    "param_",
    "EXT_SOURCES_MEAN",
    "EXT_SOURCES_MIN",
    "test_roc_auc",
    "roc auc",
    "out_of_fold",
    "None",
    "days before application",
    "jensenshannon",
    "wasserstein",
)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PAGES = {  # url path -> the page's title
    "": "Credit-scoring platform",
    "client": "Client decision",
    "client?client={client}": "Client decision",  # a client the champion decided (see `decided_client`)
    "monitoring": "Monitoring",
    "performance": "Performance",
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
    // what a person reads in headings, metrics and tables (data grids draw on a canvas: their cells are read from
    // the grid's accessible table)
    headings: [...document.querySelectorAll(
      'h1, h2, h3, [data-testid="stMetricLabel"], [data-testid="stMetricValue"]')].map(e => e.innerText),
    cells: [...document.querySelectorAll(['[data-testid="stDataFrame"] [role="gridcell"]',
      '[data-testid="stDataFrame"] [role="columnheader"]', '[data-testid="stTable"] td'].join(', '))]
      .map(e => e.innerText),
    // what a chart says in words: its title, axis titles and legend entries
    chart_texts: [...document.querySelectorAll(
      '[data-testid="stPlotlyChart"] .gtitle, [data-testid="stPlotlyChart"] .xtitle, '
      + '[data-testid="stPlotlyChart"] .ytitle, [data-testid="stPlotlyChart"] .legendtext')].map(e => e.textContent),
    // plotly charts without any trace holding data
    empty_charts: [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')]
      .filter(c => !(c.data || []).some(t => (t.x && t.x.length) || (t.y && t.y.length)
        || t.value !== undefined || (t.z && t.z.length)))
      .map(c => (c.layout && c.layout.title && c.layout.title.text) || 'untitled').length,
    metrics: Object.fromEntries([...document.querySelectorAll('[data-testid="stMetric"]')].map(m => [
      m.querySelector('[data-testid="stMetricLabel"]')?.innerText,
      m.querySelector('[data-testid="stMetricValue"]')?.innerText])),
    // elements still drawing: placeholders of lazily loaded elements, plotly charts without their SVG yet
    undrawn: document.querySelectorAll('[data-testid="stSkeleton"], [data-testid="stSkeletonElement"]').length
      + [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
          .filter(c => !c.querySelector('.main-svg')).length,
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

    def screenshot(self, path: Path, height: int, timeout_s: float = 60.0) -> dict[str, Any]:
        """Save a PNG of the page, tall enough for its content, once every element has drawn; the page's state.

        Charts and metrics are drawn lazily, those below the fold only once the taller window shows them: the
        capture waits until no placeholder and no chart without its SVG is left (the capture itself waits for
        nothing).
        """
        self.call("Emulation.setDeviceMetricsOverride", width=1400, height=max(900, min(height + 120, 6000)),
                  deviceScaleFactor=1, mobile=False)  # fmt: skip
        deadline = time.monotonic() + timeout_s
        time.sleep(0.5)
        while (state := self.state())["undrawn"] and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(0.5)  # the last chart's frame
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return state


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
def platform(embedded_platform: Running) -> launcher.Platform:
    warm_up(embedded_platform.platform)
    return embedded_platform.platform


@pytest.fixture(scope="module")
def decided_client(platform: launcher.Platform) -> int:
    """A client of the production applicants, decided once through the gateway as a lending application would."""
    api, headers = platform.urls["api"], {"X-API-Key": platform.keys["analyst"]}
    rows = httpx.get(f"{api}/v1/raw/tables/application_test/rows", params={"limit": 60}, headers=headers).json()
    sk_id = 0
    for application in rows["rows"]:  # a refusal, so the what-if is built around stated reasons
        deadline = time.monotonic() + 180  # the scoring service's first decisions wait for its consumer group to form
        while True:
            response = httpx.post(f"{api}/v1/scoring/decisions", json={"application": application},
                                  headers=headers, timeout=60)  # fmt: skip
            if response.status_code not in (503, 504) or time.monotonic() > deadline:
                break
            time.sleep(2.0)
        assert response.status_code == 200, response.text
        sk_id = application["SK_ID_CURR"]
        if response.json()["decision"] == "refused":
            break
    return sk_id


@pytest.fixture(scope="module")
def drift_report(platform: launcher.Platform) -> dict[str, Any]:
    """An on-demand drift report of the production part of the champion's own dataset, as the API gives it."""
    api, headers = platform.urls["api"], {"X-API-Key": platform.keys["analyst"]}
    job = httpx.post(f"{api}/v1/monitoring/reports", json={"part": "production"}, headers=headers, timeout=30)
    assert job.status_code == 202, job.text
    deadline = time.monotonic() + 600
    while (state := httpx.get(f"{api}/v1/jobs/{job.json()['job_id']}", headers=headers).json())["status"] not in (
        "succeeded", "failed"):  # fmt: skip
        assert time.monotonic() < deadline, state
        time.sleep(2.0)
    assert state["status"] == "succeeded", state
    reports = httpx.get(f"{api}/v1/monitoring/reports", headers=headers).json()
    found: dict[str, Any] = httpx.get(f"{api}/v1/monitoring/reports/{reports[0]['report_id']}", headers=headers).json()
    return found


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


def shot_name(path: str) -> str:
    """The test id and screenshot name of a page: ``home``, ``client``, ``client-decided`` ..."""
    page, _, query = path.partition("?")
    return (page or "home") + ("-decided" if query else "")


@pytest.mark.parametrize("path", list(PAGES), ids=[shot_name(p) for p in PAGES])
def test_every_page_draws_what_a_person_can_read(
    platform: launcher.Platform, decided_client: int, drift_report: dict[str, Any], browser: DevTools, path: str
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    url = f"{platform.urls['dashboard']}/{path.format(client=decided_client)}"
    state = browser.open(url, PAGES[path])
    drawn = browser.screenshot(SHOTS / f"{shot_name(path)}.png", state["height"])
    assert state["exceptions"] == []
    assert state["errors"] == []
    assert drawn["undrawn"] == 0, f"{drawn['undrawn']} element(s) of {path or 'home'} never finished drawing"
    assert drawn["empty_charts"] == 0, f"{drawn['empty_charts']} chart(s) of {path or 'home'} have no data"
    readable = [*drawn["headings"], *drawn["cells"], *drawn["chart_texts"]]
    raw = [text for text in readable for token in RAW if token in text and not text.startswith("-")]
    assert raw == [], f"raw identifiers on {path or 'home'}: {raw[:10]}"
    if path == "monitoring":  # the report the page opens on is the newest: the on-demand one
        shown = drawn["metrics"].get("Drifted model inputs")
        assert shown == f"{drift_report['summary']['drifted']:,} of {drift_report['summary']['columns']:,}"
        assert drift_report["summary"]["html_columns"] == drift_report["summary"]["columns"]  # the HTML's counts


def test_the_production_part_of_the_training_dataset_raises_no_alert(drift_report: dict[str, Any]) -> None:
    assert drift_report["severity"] == "green", drift_report["summary"].get("weighted_drift_share")
