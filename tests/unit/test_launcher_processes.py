"""Processes of the embedded platform: port checks, PID files, process identity, health waits, stopping."""

import json
import socket
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from credit_local.processes import (
    PortBusyError,
    ProcessRecord,
    StartError,
    ensure_ports_free,
    free_port,
    port_in_use,
    read_record,
    records,
    spawn,
    stop,
    wait_healthy,
)

pytestmark = pytest.mark.unit

SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "run"
    yield folder
    stop(records(folder), folder, timeout_s=2)  # never leave a test process behind


def start(run: Path, name: str, command: list[str], **kwargs: object) -> ProcessRecord:
    return spawn(name, command, env={}, run_dir=run, log_dir=run.parent / "logs", **kwargs)  # type: ignore[arg-type]


def wait_for(path: Path, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def wait_for_text(path: Path, text: str, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in path.read_text():
        assert time.monotonic() < deadline, f"{text!r} never appeared in {path}"
        time.sleep(0.02)


def test_a_busy_port_fails_fast_naming_the_port_and_the_setting_to_change(listening: int) -> None:
    with pytest.raises(PortBusyError, match=f"{listening} \\(CREDIT_LOCAL_GATEWAY_PORT\\)") as caught:
        ensure_ports_free({"CREDIT_LOCAL_GATEWAY_PORT": listening, "CREDIT_LOCAL_KAFKA_PORT": free_port()})
    assert "CREDIT_LOCAL_KAFKA_PORT" not in str(caught.value)


def test_two_settings_on_the_same_port_are_refused() -> None:
    port = free_port()
    with pytest.raises(PortBusyError, match="CREDIT_LOCAL_MLFLOW_PORT and CREDIT_LOCAL_GATEWAY_PORT"):
        ensure_ports_free({"CREDIT_LOCAL_MLFLOW_PORT": port, "CREDIT_LOCAL_GATEWAY_PORT": port})


def test_a_free_port_is_free_and_a_listening_one_is_not(listening: int) -> None:
    assert port_in_use(listening)
    assert not port_in_use(free_port())


def test_spawned_process_is_recorded_in_its_pid_file_and_stopped_by_it(run: Path) -> None:
    record = start(run, "sleeper", SLEEP)
    assert (run / "sleeper.pid").is_file()
    assert read_record(run, "sleeper") == record
    assert record.process() is not None
    assert stop([record], run) == ["sleeper"]
    assert not psutil.pid_exists(record.pid) or record.process() is None
    assert records(run) == []


def test_the_log_gets_a_header_and_the_output_of_each_start(run: Path) -> None:
    record = start(run, "echo", [sys.executable, "-c", "print('hello from the child')"])
    wait_for_text(Path(record.log), "hello from the child")
    start(run, "echo", [sys.executable, "-c", "print('second start')"])
    wait_for_text(Path(record.log), "second start")
    text = Path(record.log).read_text()
    assert text.count("starting echo") == 2
    assert "hello from the child" in text


def test_a_reused_pid_is_not_taken_for_our_process(run: Path) -> None:
    record = start(run, "sleeper", SLEEP)
    path = run / "sleeper.pid"
    data = json.loads(path.read_text())
    data["create_time"] -= 3600  # as if the pid now belonged to another, later process
    path.write_text(json.dumps(data))
    forged = read_record(run, "sleeper")
    assert forged is not None
    assert forged.process() is None
    assert stop([forged], run) == []  # nothing signalled
    assert record.process() is not None


def test_an_unreadable_pid_file_is_ignored_not_acted_on(run: Path) -> None:
    run.mkdir(parents=True)
    (run / "broken.pid").write_text("{not json")
    (run / "foreign.pid").write_text(json.dumps({"pid": 1}))
    assert records(run) == []
    assert read_record(run, "broken") is None


def test_stop_sends_one_sigterm_so_a_graceful_shutdown_can_finish(run: Path, tmp_path: Path) -> None:
    done, ready = tmp_path / "done", tmp_path / "ready"
    script = textwrap.dedent(f"""
        import pathlib, signal, sys, time
        count = 0
        def on_term(*_):
            global count
            count += 1
        signal.signal(signal.SIGTERM, on_term)
        pathlib.Path({str(ready)!r}).touch()
        while count == 0:
            time.sleep(0.01)
        time.sleep(0.3)  # finishing the message in hand
        pathlib.Path({str(done)!r}).write_text(str(count))
        sys.exit(0)
    """)
    record = start(run, "graceful", [sys.executable, "-c", script])
    wait_for(ready)
    proc = psutil.Process(record.pid)
    assert stop([record], run, timeout_s=10) == ["graceful"]
    assert done.read_text() == "1"
    assert not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE


def test_a_process_that_ignores_sigterm_is_killed_after_the_deadline(run: Path, tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    script = (
        f"import pathlib, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        f"pathlib.Path({str(ready)!r}).touch(); time.sleep(60)"
    )
    record = start(run, "stubborn", [sys.executable, "-c", script])
    wait_for(ready)
    assert stop([record], run, timeout_s=0.5) == ["stubborn"]
    assert record.process() is None


def test_stop_reaches_the_children_left_by_a_leader_that_exited(run: Path, tmp_path: Path) -> None:
    child_pid = tmp_path / "child.pid"
    record = start(run, "leader", ["/bin/sh", "-c", f"/bin/sleep 60 & echo $! > {child_pid}; exit 0"])
    wait_for(child_pid)
    deadline = time.monotonic() + 10
    while record.process() is not None:  # the shell exits (and is reaped by us or by subprocess) right after
        assert time.monotonic() < deadline
        time.sleep(0.02)
    child = psutil.Process(int(child_pid.read_text()))
    assert record.process() is None
    assert child.is_running()
    assert stop([record], run, timeout_s=5) == ["leader"]
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE


def test_waiting_fails_at_once_naming_the_process_that_exited_with_its_log(run: Path) -> None:
    crashing = start(run, "crasher", [sys.executable, "-c", "import sys; print('boom: bad config'); sys.exit(3)"])
    sleeper = start(run, "sleeper", SLEEP, health_url=f"http://127.0.0.1:{free_port()}/health")
    started = time.monotonic()
    with pytest.raises(StartError, match=r"crasher exited during start-up(.|\n)*boom: bad config"):
        wait_healthy([sleeper, crashing], timeout_s=60)
    assert time.monotonic() - started < 30  # not the whole deadline


def test_waiting_gives_up_at_the_deadline_naming_the_processes_not_healthy(run: Path, listening: int) -> None:
    serving = start(run, "listener", SLEEP, port=listening)  # healthy: its port accepts connections
    silent = start(run, "silent", SLEEP, health_url=f"http://127.0.0.1:{free_port()}/health")
    seen: list[str] = []
    with pytest.raises(StartError, match="not healthy after 1 s: silent") as caught:
        wait_healthy([serving, silent], timeout_s=1, on_healthy=lambda r: seen.append(r.name))
    assert seen == ["listener"]
    assert "listener" not in str(caught.value).splitlines()[0]
