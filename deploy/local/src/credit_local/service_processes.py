"""How each process of the embedded platform is started: its command, its environment and its health URL."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from credit_local import infra
from credit_local.platform_home import WORKERS, Layout, LocalSettings
from credit_local.processes import ProcessRecord, spawn


def frontend_app() -> Path:
    """The dashboard's Streamlit script (located, not imported: importing it would draw the page)."""
    spec = importlib.util.find_spec("credit_frontend")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the credit-frontend package is not installed: run `make install`")
    return Path(spec.origin).parent / "app.py"


def service_env(layout: Layout, local: LocalSettings, keys: dict[str, str]) -> dict[str, str]:
    """The environment of every service process: this one's, plus where everything is."""
    no_proxy = ",".join(filter(None, (os.environ.get("NO_PROXY") or os.environ.get("no_proxy"), "127.0.0.1,localhost")))
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "NO_PROXY": no_proxy,  # everything of the embedded platform is on 127.0.0.1
        "no_proxy": no_proxy,
        "CREDIT_HOME": str(layout.home),
        "CREDIT_ENV": os.environ.get("CREDIT_ENV", "development"),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{local.kafka_port}",
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{local.mlflow_port}",
        "DATABASE_URL": layout.database_url,
        "GATEWAY_DEV_KEYS_FILE": str(layout.keys_file),
        "FRONTEND_GATEWAY_URL": f"http://127.0.0.1:{local.gateway_port}",
        "FRONTEND_API_KEY": keys["admin"],
        **{f"{name.upper()}_PORT": str(local.port_of(name)) for name in (*WORKERS, "gateway")},
    }


def service_commands(local: LocalSettings) -> dict[str, tuple[list[str], str]]:
    """Name -> (command, health URL) of each service process, in start order."""
    out: dict[str, tuple[list[str], str]] = {}
    for name in (*WORKERS, "gateway"):
        port = local.port_of(name)
        out[name] = ([sys.executable, "-m", f"{name}_service"], f"http://127.0.0.1:{port}/health")
    streamlit = [
        sys.executable, "-m", "streamlit", "run", str(frontend_app()),
        "--server.headless", "true", "--server.address", "127.0.0.1",
        "--server.port", str(local.frontend_port), "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    out["frontend"] = (streamlit, f"http://127.0.0.1:{local.frontend_port}/_stcore/health")
    return out


def spawn_mlflow(layout: Layout, local: LocalSettings) -> ProcessRecord:
    return infra.spawn_mlflow(
        local.mlflow_port,
        backend_uri=f"sqlite:///{layout.mlflow / 'mlflow.db'}",
        artifacts_destination=str(layout.mlflow / "artifacts"),
        run_dir=layout.run,
        log_dir=layout.logs,
    )


def spawn_service(layout: Layout, local: LocalSettings, keys: dict[str, str], name: str) -> ProcessRecord:
    command, health = service_commands(local)[name]
    env = service_env(layout, local, keys)
    return spawn(name, command, env=env, run_dir=layout.run, log_dir=layout.logs, port=local.port_of(name),
                 health_url=health)  # fmt: skip
