"""Starting, watching and stopping the platform's processes by PID file (never by name).

Each process writes ``<run>/<name>.json`` with its pid, its start time (to tell it from a later process that got
the same pid), its port and its log file. Stopping sends SIGTERM to the process group, then SIGKILL after a deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil


class PortBusyError(RuntimeError):
    """A port the platform needs is taken."""


class StartError(RuntimeError):
    """A process did not become healthy."""


@dataclass(frozen=True)
class ProcessRecord:
    """What a PID file holds."""

    name: str
    pid: int
    create_time: float
    port: int | None
    health_url: str | None
    log: str
    command: list[str]

    def process(self) -> psutil.Process | None:
        """The live process this record describes, or None (exited, or the pid was reused)."""
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.create_time) > 1.0 or proc.status() == psutil.STATUS_ZOMBIE:
                return None
        except psutil.Error:
            return None
        return proc


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts connections on the port, or it cannot be bound."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def ensure_ports_free(ports: Mapping[str, int]) -> None:
    """Fail fast, naming the setting to change, when a port is taken.

    Args:
        ports: setting name (environment variable) -> port.
    """
    busy = [f"{port} ({setting})" for setting, port in ports.items() if port_in_use(port)]
    if busy:
        raise PortBusyError(
            "port(s) already in use: " + ", ".join(busy) + ". Stop what uses them or choose other ports by setting "
            "these environment variables."
        )


def pid_file(run_dir: Path, name: str) -> Path:
    """The PID file of a process."""
    return run_dir / f"{name}.json"


def read_record(run_dir: Path, name: str) -> ProcessRecord | None:
    """The record of a process started by us, if any."""
    path = pid_file(run_dir, name)
    if not path.is_file():
        return None
    return ProcessRecord(**json.loads(path.read_text()))


def records(run_dir: Path) -> list[ProcessRecord]:
    """Every process record in the run folder, in start order."""
    found = [ProcessRecord(**json.loads(p.read_text())) for p in run_dir.glob("*.json") if p.name[0] != "."]
    return sorted(found, key=lambda r: r.create_time)


def spawn(
    name: str,
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    run_dir: Path,
    log_dir: Path,
    port: int | None = None,
    health_url: str | None = None,
    cwd: Path | None = None,
) -> ProcessRecord:
    """Start a process in its own session (it outlives the launcher), logging to ``<log_dir>/<name>.log``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            list(command),
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=cwd,
        )
    record = ProcessRecord(
        name=name,
        pid=proc.pid,
        create_time=psutil.Process(proc.pid).create_time(),
        port=port,
        health_url=health_url,
        log=str(log_path),
        command=list(command),
    )
    pid_file(run_dir, name).write_text(json.dumps(asdict(record), indent=2))
    return record


def http_ok(url: str, timeout_s: float = 2.0) -> bool:
    """True when the URL answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - our own local URLs
            return 200 <= int(resp.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def tcp_ok(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on the port."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1.0):
        return True
    return False


def tail(path: str | Path, lines: int = 25) -> str:
    """The last lines of a log file."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_until(record: ProcessRecord, check: Callable[[], bool], *, timeout_s: float, interval_s: float = 0.2) -> None:
    """Poll ``check`` until it passes; fail early, with the log's tail, when the process exits.

    Raises:
        StartError: when the process exits or the deadline passes.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        if record.process() is None:
            raise StartError(f"{record.name} exited during start-up. Last lines of {record.log}:\n{tail(record.log)}")
        time.sleep(interval_s)
    raise StartError(
        f"{record.name} was not healthy after {timeout_s:.0f} s. Last lines of {record.log}:\n{tail(record.log)}"
    )


def stop(batch: Sequence[ProcessRecord], run_dir: Path, *, timeout_s: float = 20.0) -> list[str]:
    """Stop processes we started, together: SIGTERM to each process group, SIGKILL after ``timeout_s``.

    Their PID files are removed. Returns the names of those that were still alive.
    """
    family: list[psutil.Process] = []
    alive_names: list[str] = []
    for record in batch:
        proc = record.process()
        if proc is None:
            continue
        alive_names.append(record.name)
        family += [proc, *proc.children(recursive=True)]
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(record.pid, signal.SIGTERM)
    for p in family:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _gone, left = psutil.wait_procs(family, timeout=timeout_s)
    for p in left:
        with contextlib.suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(left, timeout=5)
    for record in batch:
        pid_file(run_dir, record.name).unlink(missing_ok=True)
    return alive_names
