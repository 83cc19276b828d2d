"""Process and port helpers shared by the stack components (Linux only: reads ``/proc``)."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import requests

from devstack.errors import StackError

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now (the kernel's choice for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = LOOPBACK, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid: int | None) -> bool:
    """Whether ``pid`` is a running process (zombies count as dead)."""
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state letter follows the parenthesised command name.
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def cmdline(pid: int) -> list[str]:
    """The command line of ``pid``, or ``[]`` if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def owned_pid(pid_file: Path, *markers: str) -> int | None:
    """The PID in ``pid_file`` if that process is alive and its command line has all markers.

    The markers guard against signalling an unrelated process that reused a stale PID.
    """
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if not pid_alive(pid):
        return None
    command = " ".join(cmdline(pid))
    return pid if all(marker in command for marker in markers) else None


def write_pid(pid_file: Path, pid: int) -> None:
    """Record a PID (plain text, one line)."""
    pid_file.write_text(f"{pid}\n")


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` has exited; ``False`` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.1)
    return not pid_alive(pid)


def terminate_group(pid: int, grace: float = 10.0, *, hard: bool = False) -> None:
    """Stop a process started with ``start_new_session=True`` and its children.

    Sends SIGTERM to the process group, then SIGKILL after ``grace`` seconds (at once
    with ``hard=True``). Children of a session leader share its process group, so the
    group signal also reaches worker processes the leader forked.
    """

    def send(sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)

    if not pid_alive(pid):
        return
    if not hard:
        send(signal.SIGTERM)
        if wait_gone(pid, grace):
            return
        log.warning("process %d ignored SIGTERM for %.0f s; sending SIGKILL", pid, grace)
    send(signal.SIGKILL)
    if not wait_gone(pid, 10):
        raise StackError(f"process {pid} survived SIGKILL")


def spawn(
    args: Sequence[str],
    log_file: Path,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-running process in its own session, output appended to ``log_file``."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as handle:
        return subprocess.Popen(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )


def log_tail(log_file: Path, lines: int = 40) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = log_file.read_text(errors="replace")
    except OSError:
        return f"(no log at {log_file})"
    return "\n".join(text.splitlines()[-lines:])


def wait_http_ok(
    url: str,
    *,
    timeout: float,
    what: str,
    log_file: Path,
    alive: Callable[[], bool] = lambda: True,
) -> None:
    """Poll ``url`` until it answers HTTP 200.

    Raises:
        StackError: if the process dies or the deadline passes; the message carries the
            tail of ``log_file``.
    """
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not alive():
            raise StackError(
                f"{what} exited during start-up. Last log lines ({log_file}):\n{log_tail(log_file)}"
            )
        try:
            response = requests.get(url, timeout=5)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        time.sleep(0.2)
    raise StackError(
        f"{what} did not answer {url} within {timeout:.0f} s ({last}). "
        f"Last log lines ({log_file}):\n{log_tail(log_file)}"
    )


def http_ok(url: str, timeout: float = 3.0) -> bool:
    """Whether ``url`` answers HTTP 200 right now."""
    try:
        return requests.get(url, timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


@contextlib.contextmanager
def file_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if needed) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another process to finish %s (%s)", what, path)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
