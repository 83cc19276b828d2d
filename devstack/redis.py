"""Redis for the local stack: the machine's server on 127.0.0.1:6379, or one we start.

Used as Celery broker in the scale-out test and by CKAN (optional). Where no server
answers, ``redis-server`` (Debian package) is started on a free loopback port,
without persistence, and stopped by PID.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from devstack.errors import StackError
from devstack.processes import (
    LOOPBACK,
    free_port,
    owned_pid,
    port_open,
    spawn,
    terminate_group,
    wait_gone,
    write_pid,
)

DEFAULT_PORT = 6379


@dataclass
class RedisServer:
    """A Redis server; ``pid`` is set when this stack started it."""

    port: int
    pid: int | None
    stack_dir: Path

    def url(self, db: int = 0) -> str:
        return f"redis://{LOOPBACK}:{self.port}/{db}"

    def stop(self) -> None:
        """Stop the server if this stack started it."""
        if self.pid:
            terminate_group(self.pid, grace=5)
            wait_gone(self.pid, 5)
            (self.stack_dir / "redis.pid").unlink(missing_ok=True)
            self.pid = None


def ensure_redis(stack_dir: Path) -> RedisServer:
    """The machine's Redis if it answers, else a private ``redis-server``.

    Raises:
        StackError: no Redis answers and ``redis-server`` is not installed.
    """
    if port_open(DEFAULT_PORT):
        return RedisServer(DEFAULT_PORT, None, stack_dir)
    pid_file = stack_dir / "redis.pid"
    pid = owned_pid(pid_file, "redis-server")
    port_file = stack_dir / "redis.port"
    if pid and port_file.exists():
        return RedisServer(int(port_file.read_text()), pid, stack_dir)
    binary = shutil.which("redis-server")
    if binary is None:
        raise StackError(
            "no Redis answers on 127.0.0.1:6379 and redis-server is not installed "
            "(Debian: apt-get install --no-upgrade redis-server)"
        )
    port = free_port()
    stack_dir.mkdir(parents=True, exist_ok=True)
    process = spawn(
        [
            binary,
            "--bind",
            LOOPBACK,
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(stack_dir),
        ],
        stack_dir / "redis.log",
    )
    write_pid(pid_file, process.pid)
    port_file.write_text(str(port))
    for _ in range(100):
        if port_open(port):
            return RedisServer(port, process.pid, stack_dir)
        import time

        time.sleep(0.1)
    raise StackError(f"redis-server did not start on port {port}; see {stack_dir / 'redis.log'}")
