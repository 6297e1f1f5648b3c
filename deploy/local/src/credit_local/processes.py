"""Starting, watching and stopping the platform's processes by PID file (never by name).

Each process gets ``<run>/<name>.pid``, a small JSON document with its pid, its start time (to tell it from a later
process that got the same pid), its port, its health URL and its log file. Stopping sends one SIGTERM to the
process group (a second one would cut a graceful shutdown short), then SIGKILL after a deadline.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

PID_SUFFIX = ".pid"
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # local health URLs never go through a proxy
CREATE_TIME_TOLERANCE_S = 1.0


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
        """The live process this record describes, or None (exited, or the pid now belongs to another process)."""
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.create_time) > CREATE_TIME_TOLERANCE_S:
                return None
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
        except psutil.Error:
            return None
        return proc


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when the port cannot be bound on ``host`` (something listens on it, or it is reserved)."""
    with socket.socket() as sock:
        # SO_REUSEADDR: a port only left in TIME_WAIT by a stopped process is free for a new listener
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def ensure_ports_free(ports: Mapping[str, int]) -> None:
    """Fail fast, naming each busy port and the setting that chooses it.

    Args:
        ports: setting (environment variable) -> port.

    Raises:
        PortBusyError: when a port is taken, or two settings name the same port.
    """
    by_port: dict[int, list[str]] = {}
    for setting, port in ports.items():
        by_port.setdefault(port, []).append(setting)
    shared = [f"{port} ({' and '.join(names)})" for port, names in by_port.items() if len(names) > 1]
    if shared:
        raise PortBusyError("the same port is configured twice: " + ", ".join(shared) + ". Give each its own port.")
    busy = [f"{port} ({setting})" for setting, port in ports.items() if port_in_use(port)]
    if busy:
        raise PortBusyError(
            "port(s) already in use on 127.0.0.1: " + ", ".join(busy) + ". Stop what uses them, or choose free "
            "ports by setting the environment variable(s) named in brackets."
        )


def pid_file(run_dir: Path, name: str) -> Path:
    """The PID file of a process."""
    return run_dir / f"{name}{PID_SUFFIX}"


def _load(path: Path) -> ProcessRecord | None:
    try:
        return ProcessRecord(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as exc:  # half-written or foreign file: never act on it
        log.warning("ignoring unreadable PID file %s: %s", path, exc)
        return None


def read_record(run_dir: Path, name: str) -> ProcessRecord | None:
    """The record of a process started by us, if any."""
    path = pid_file(run_dir, name)
    return _load(path) if path.is_file() else None


def records(run_dir: Path) -> list[ProcessRecord]:
    """Every readable process record in the run folder, in start order."""
    if not run_dir.is_dir():
        return []
    found = [r for p in run_dir.glob(f"*{PID_SUFFIX}") if (r := _load(p)) is not None]
    return sorted(found, key=lambda r: r.create_time)


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    partial.replace(path)


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
    """Start a process in its own session (it outlives the launcher) and write its PID file.

    Output goes to ``<log_dir>/<name>.log``, appended after a header line naming the start.

    Returns:
        The record written to ``<run_dir>/<name>.pid``.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as out:
        started = datetime.now(UTC).isoformat(timespec="seconds")
        out.write(f"\n===== {started} starting {name}: {' '.join(command)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            list(command),
            env=dict(env),
            stdout=out,
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
    _write_atomically(pid_file(run_dir, name), json.dumps(asdict(record), indent=2))
    return record


def http_ok(url: str, timeout_s: float = 1.0) -> bool:
    """True when the URL answers 2xx within ``timeout_s``."""
    try:
        with _DIRECT.open(url, timeout=timeout_s) as resp:
            return 200 <= int(resp.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def tcp_ok(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on the port."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1.0):
        return True
    return False


def healthy(record: ProcessRecord) -> bool:
    """True when the process is ours, alive, and answers its health URL (or, without one, accepts connections)."""
    if record.process() is None:
        return False
    if record.health_url:
        return http_ok(record.health_url)
    return record.port is not None and tcp_ok(record.port)


def tail(path: str | Path, lines: int = 25) -> str:
    """The last lines of a log file (empty when it cannot be read)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _exited(record: ProcessRecord) -> StartError:
    return StartError(f"{record.name} exited during start-up. Last lines of {record.log}:\n{tail(record.log)}")


def wait_until(record: ProcessRecord, check: Callable[[], bool], *, timeout_s: float, interval_s: float = 0.2) -> None:
    """Poll ``check`` until it passes; fail early, with the log's tail, when the process exits.

    Raises:
        StartError: when the process exits or the deadline passes.
    """
    deadline = time.monotonic() + timeout_s
    while not check():
        if record.process() is None:
            raise _exited(record)
        if time.monotonic() > deadline:
            raise StartError(
                f"{record.name} was not healthy after {timeout_s:.0f} s. Last lines of {record.log}:\n"
                f"{tail(record.log)}"
            )
        time.sleep(interval_s)


def wait_healthy(
    batch: Iterable[ProcessRecord],
    *,
    timeout_s: float,
    on_healthy: Callable[[ProcessRecord], None] | None = None,
    interval_s: float = 0.25,
) -> None:
    """Wait until every process of ``batch`` is healthy, under one overall deadline.

    Args:
        batch: the processes to watch (see :func:`healthy`).
        timeout_s: the overall deadline.
        on_healthy: called once per process as it becomes healthy (progress).
        interval_s: the polling interval.

    Raises:
        StartError: as soon as one process exits, or when the deadline passes, naming the process(es) and showing
            the tail of their logs.
    """
    pending = list(batch)
    deadline = time.monotonic() + timeout_s
    while pending:
        for record in list(pending):
            if healthy(record):
                pending.remove(record)
                if on_healthy is not None:
                    on_healthy(record)
            elif record.process() is None:
                raise _exited(record)
        if not pending:
            return
        if time.monotonic() > deadline:
            details = "\n".join(f"--- last lines of {r.log}:\n{tail(r.log, 15)}" for r in pending)
            names = ", ".join(r.name for r in pending)
            raise StartError(f"not healthy after {timeout_s:.0f} s: {names}\n{details}")
        time.sleep(interval_s)


def stop(batch: Sequence[ProcessRecord], run_dir: Path, *, timeout_s: float = 20.0) -> list[str]:
    """Stop processes we started, together: one SIGTERM to each process group, SIGKILL after ``timeout_s``.

    Only processes whose pid and start time match their record are signalled. Their PID files are removed.

    Returns:
        The names of the processes that were still running.
    """
    family: list[psutil.Process] = []
    alive: list[str] = []
    for record in batch:
        proc = record.process()
        members = [proc, *_children(proc)] if proc is not None else _orphans(record)
        if not members:
            continue
        alive.append(record.name)
        family += members
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(record.pid, signal.SIGTERM)  # the session leader's group: it and the children it forked
        for member in members[1:]:  # a child that left the group (its own session) still gets one SIGTERM
            with contextlib.suppress(psutil.Error, OSError):
                if os.getpgid(member.pid) != record.pid:
                    member.terminate()
    _gone, left = psutil.wait_procs(family, timeout=timeout_s)
    for proc in left:
        log.warning("process %s did not stop within %.0f s: killing it", proc.pid, timeout_s)
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(left, timeout=5)
    for record in batch:
        pid_file(run_dir, record.name).unlink(missing_ok=True)
    return alive


def _orphans(record: ProcessRecord) -> list[psutil.Process]:
    """Members of the group of a leader that is gone (say, a worker process of a crashed server).

    The kernel does not reuse a pid while it names a live process group, so a process in group ``record.pid`` that
    started after the leader is one of ours.
    """
    try:
        leader = psutil.Process(record.pid)
        if abs(leader.create_time() - record.create_time) > CREATE_TIME_TOLERANCE_S:
            return []  # the pid is another process's now, so no group of ours can still exist
    except psutil.ZombieProcess:
        return []  # cannot tell whose zombie it is: do not guess
    except psutil.NoSuchProcess:
        pass
    except psutil.Error:
        return []
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if (
                os.getpgid(proc.pid) == record.pid
                and proc.create_time() >= record.create_time - CREATE_TIME_TOLERANCE_S
                and proc.status() != psutil.STATUS_ZOMBIE  # already dead, waiting for its parent
            ):
                found.append(proc)
    return found


def _children(proc: psutil.Process) -> list[psutil.Process]:
    with contextlib.suppress(psutil.Error):
        return list(proc.children(recursive=True))
    return []
