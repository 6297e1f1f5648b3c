import json
import socket
import sys
from pathlib import Path

import pytest

from credit_local import launcher
from credit_local.processes import PortBusyError, ensure_ports_free, free_port, read_record, records, spawn, stop
from credit_shared.settings import PlatformSettings

pytestmark = pytest.mark.unit


def test_a_busy_port_fails_fast_naming_the_setting_to_change() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortBusyError, match=f"{port} \\(CREDIT_LOCAL_GATEWAY_PORT\\)"):
            ensure_ports_free({"CREDIT_LOCAL_GATEWAY_PORT": port, "CREDIT_LOCAL_KAFKA_PORT": free_port()})


def test_spawned_process_is_recorded_and_stopped_by_its_pid_file(tmp_path: Path) -> None:
    run, logs = tmp_path / "run", tmp_path / "logs"
    record = spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], env={}, run_dir=run, log_dir=logs)
    assert read_record(run, "sleeper") == record
    assert record.process() is not None
    assert stop([record], run) == ["sleeper"]
    assert record.process() is None
    assert records(run) == []


def test_a_reused_pid_is_not_taken_for_our_process(tmp_path: Path) -> None:
    run, logs = tmp_path / "run", tmp_path / "logs"
    record = spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], env={}, run_dir=run, log_dir=logs)
    path = run / "sleeper.json"
    data = json.loads(path.read_text())
    data["create_time"] -= 3600  # as if the pid now belonged to another, newer process
    path.write_text(json.dumps(data))
    forged = read_record(run, "sleeper")
    assert forged is not None
    assert forged.process() is None
    assert stop([forged], run) == []  # nothing killed
    assert record.process() is not None
    stop([record], run)


def test_development_keys_are_created_once_per_role_and_private(tmp_path: Path) -> None:
    layout = launcher.Layout(tmp_path)
    keys = launcher.dev_keys(layout)
    assert set(keys) == {"viewer", "analyst", "admin"}
    assert launcher.dev_keys(layout) == keys
    assert layout.keys_file.stat().st_mode & 0o777 == 0o600


def test_up_refuses_busy_ports_before_starting_anything(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        local = launcher.LocalSettings(gateway_port=busy)
        with pytest.raises(PortBusyError, match="CREDIT_LOCAL_GATEWAY_PORT"):
            launcher.up(PlatformSettings(home=tmp_path), local)
    assert not (tmp_path / "run").exists() or records(tmp_path / "run") == []


def test_status_and_down_of_a_platform_never_started_are_empty(tmp_path: Path) -> None:
    assert launcher.status(PlatformSettings(home=tmp_path)) == []
    assert launcher.down(PlatformSettings(home=tmp_path)) == []
