"""Start and stop the whole local portal: CKAN 2.12, the Solr stand-in and PostgreSQL.

One *stack directory* holds one instance: ``ckan.ini``, logs, PID files, the stand-in's index
(``solr-index.json``), uploads (``storage/``), ``credentials.json`` and ``stack.json`` (ports
and URLs of the running instance). The demo uses ``<project>/.stack`` on ports 5000/8983;
tests use a temporary directory, free ports and their own database, so both run side by side.

    stack = start_portal(tmp_path, db_name="ckan_test_1234")
    try:
        ...  # stack.url, stack.editor_token, ...
    finally:
        stack.stop()
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from devstack import PROJECT_ROOT
from devstack import ckan as ckan_mod
from devstack.errors import StackError
from devstack.postgres import (
    PostgresServer,
    create_database,
    drop_database,
    resolve_postgres,
    stop_embedded,
    table_exists,
)
from devstack.processes import (
    LOOPBACK,
    file_lock,
    free_port,
    http_ok,
    owned_pid,
    pid_alive,
    port_open,
    spawn,
    terminate_group,
    wait_http_ok,
    write_pid,
)

log = logging.getLogger(__name__)

STATE_FILE = "stack.json"
CREDENTIALS_FILE = "credentials.json"
SOLR_INDEX_FILE = "solr-index.json"
SOLR_CORE = "ckan"


@dataclass
class PortalStack:
    """A running local portal.

    Attributes:
        url: CKAN's base URL, e.g. ``http://127.0.0.1:5000``.
        sysadmin_token: API token of :attr:`sysadmin_user` (``harvest_admin``).
        editor_token: API token of :attr:`editor_user` (``harvest_editor``), the user the
            pipeline publishes as; make it an editor with
            :func:`devstack.ckan.ensure_organization`.
        editor_user: the editor's user name.
        sysadmin_user: the sysadmin's user name.
        solr_url: the stand-in's core URL (CKAN's ``solr_url``).
        db_url: CKAN's database URL.
        stack_dir: the instance's directory.
        ckan_port: CKAN's port.
        solr_port: the stand-in's port.
        ckan_venv: CKAN's virtualenv.
        credentials_file: JSON file with both users' passwords and tokens (mode 0600).
        postgres: the database server.
        started: the components this object started and :meth:`stop` stops
            (``ckan``, ``solr``, ``postgres``); reused components are left running.
    """

    url: str
    sysadmin_token: str = field(repr=False)
    editor_token: str = field(repr=False)
    editor_user: str
    sysadmin_user: str
    solr_url: str
    db_url: str
    stack_dir: Path
    ckan_port: int
    solr_port: int
    ckan_venv: Path
    credentials_file: Path
    postgres: PostgresServer
    started: set[str] = field(default_factory=set)
    _children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)

    @property
    def ini(self) -> Path:
        """CKAN's config file."""
        return self.stack_dir / "ckan.ini"

    def ckan_running(self) -> bool:
        """Whether this stack's CKAN process is alive (it may still be starting)."""
        return ckan_mod.ckan_pid(self.stack_dir) is not None

    def kill_ckan(self, *, graceful: bool = False) -> None:
        """Stop only the CKAN process: SIGKILL (a crash) by default, SIGTERM if ``graceful``.

        The database, the stand-in and the config stay; :meth:`start_ckan` brings CKAN back.
        """
        ckan_mod.stop_server(self.stack_dir, hard=not graceful)
        self._reap("ckan")

    def start_ckan(self, timeout: float = 120.0) -> None:
        """Start the CKAN process again (same port, config and database) and wait for it.

        Raises:
            StackError: if CKAN does not answer within ``timeout`` seconds.
        """
        if self.ckan_running() and http_ok(_status_url(self.ckan_port)):
            return
        self._children["ckan"] = ckan_mod.start_server(
            self.ckan_venv, self.ini, self.ckan_port, timeout=timeout
        )
        self.started.add("ckan")

    def stop(self) -> None:
        """Stop what this object started (CKAN, the stand-in, an embedded PostgreSQL).

        Idempotent; components that were already running when it was created are left alone
        (``python -m devstack portal down`` stops those).
        """
        if "ckan" in self.started:
            ckan_mod.stop_server(self.stack_dir)
            self._reap("ckan")
        if "solr" in self.started:
            _stop_solr(self.stack_dir)
            self._reap("solr")
        if "postgres" in self.started:
            self.postgres.stop()
        self.started.clear()

    def _reap(self, name: str) -> None:
        # Our own children must be waited for, or they linger as zombies.
        child = self._children.pop(name, None)
        if child is not None:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                log.warning("%s (pid %d) has not exited after being stopped", name, child.pid)


def _status_url(port: int) -> str:
    return f"http://{LOOPBACK}:{port}/api/3/action/status_show"


def _solr_url(port: int) -> str:
    return f"http://{LOOPBACK}:{port}/solr/{SOLR_CORE}"


def _previous_or_free_port(previous: int | None) -> int:
    # Keep an instance's URLs stable across restarts when its old port is still free.
    return previous if previous and not port_open(previous) else free_port()


def _read_state(stack_dir: Path) -> dict[str, Any]:
    try:
        state = json.loads((stack_dir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _write_state(stack_dir: Path, state: dict[str, Any]) -> None:
    (stack_dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- the stand-in


def _solr_pid(stack_dir: Path) -> int | None:
    return owned_pid(stack_dir / "solr.pid", "devstack.solr", str(stack_dir / SOLR_INDEX_FILE))


def _start_solr(stack_dir: Path, port: int, timeout: float = 30.0) -> subprocess.Popen[bytes]:
    if port_open(port):
        raise StackError(
            f"cannot start the Solr stand-in: port {port} on {LOOPBACK} is already in use"
        )
    log_file = stack_dir / "solr.log"
    command = [
        sys.executable,
        "-m",
        "devstack.solr",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--core",
        SOLR_CORE,
        "--data",
        str(stack_dir / SOLR_INDEX_FILE),
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
    )
    process = spawn(command, log_file, cwd=PROJECT_ROOT, env=env)
    write_pid(stack_dir / "solr.pid", process.pid)
    try:
        wait_http_ok(
            f"{_solr_url(port)}/admin/ping",
            timeout=timeout,
            what="the Solr stand-in",
            log_file=log_file,
            alive=lambda: process.poll() is None,
        )
    except StackError:
        terminate_group(process.pid, grace=5)
        process.wait(timeout=10)
        raise
    log.info("Solr stand-in serves %s (pid %d)", _solr_url(port), process.pid)
    return process


def _stop_solr(stack_dir: Path) -> bool:
    pid = _solr_pid(stack_dir)
    if pid is None:
        return False
    terminate_group(pid)  # SIGTERM: the stand-in writes its index before exiting
    log.info("stopped the Solr stand-in (pid %d)", pid)
    return True


def _clear_solr(solr_url: str) -> None:
    response = requests.post(
        f"{solr_url}/update?commit=true",
        data=b"<delete><query>*:*</query></delete>",
        headers={"Content-Type": "text/xml"},
        timeout=30,
    )
    response.raise_for_status()


# --------------------------------------------------------------------------- start and stop


def start_portal(
    stack_dir: Path,
    *,
    ckan_port: int | None = None,
    solr_port: int | None = None,
    db_name: str = "ckan",
    fresh_db: bool = False,
    ckan_venv: Path | None = None,
    pg_embedded: bool | None = None,
    ckan_options: dict[str, str] | None = None,
    timeout: float = 120.0,
) -> PortalStack:
    """Provision and start the portal in ``stack_dir``, reusing whatever already runs there.

    Idempotent: a healthy CKAN and stand-in of the same directory are reused (unless other
    ports are requested or the configuration changed); missing pieces are started.

    Args:
        stack_dir: the instance's directory (created if needed).
        ckan_port: CKAN's port; ``None`` keeps the running instance's port or picks a free one.
        solr_port: the stand-in's port; ``None`` as for ``ckan_port``.
        db_name: CKAN's database (created if missing); also the instance's ``ckan.site_id``
            unless it is ``ckan`` (site id ``default``).
        fresh_db: drop and recreate the database and empty the search index first.
        ckan_venv: CKAN's virtualenv (default ``<project>/.stack/ckan-venv``, shared).
        pg_embedded: force/forbid the embedded PostgreSQL (see :mod:`devstack.postgres`).
        ckan_options: extra ``ckan.ini`` options (e.g. ``{"ckan.plugins": "activity"}``).
        timeout: seconds to wait for CKAN to answer.

    Returns:
        The running stack; call :meth:`PortalStack.stop` when done.

    Raises:
        StackError: if a component cannot be provisioned or started; components started by
            this call are stopped again before it is raised.
    """
    stack_dir = stack_dir.resolve()
    stack_dir.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    started: set[str] = set()
    children: dict[str, subprocess.Popen[bytes]] = {}
    with file_lock(stack_dir / ".lock", "starting the stack"):
        try:
            stack = _start(
                stack_dir,
                ckan_port,
                solr_port,
                db_name,
                fresh_db,
                ckan_venv,
                pg_embedded,
                ckan_options or {},
                timeout,
                started,
                children,
            )
        except BaseException:
            # Leave nothing half-started behind (tests must not leak processes).
            if "ckan" in started:
                ckan_mod.stop_server(stack_dir, hard=True)
            if "solr" in started:
                _stop_solr(stack_dir)
            for child in children.values():
                child.wait(timeout=15)
            if "postgres" in started:
                stop_embedded(stack_dir / "postgres")
            raise
    log.info(
        "portal ready at %s in %.1f s (started: %s; database %s on %s PostgreSQL)",
        stack.url,
        time.monotonic() - began,
        ", ".join(sorted(stack.started)) or "nothing, all reused",
        db_name,
        "embedded" if stack.postgres.embedded else "external",
    )
    return stack


def _start(
    stack_dir: Path,
    ckan_port: int | None,
    solr_port: int | None,
    db_name: str,
    fresh_db: bool,
    ckan_venv: Path | None,
    pg_embedded: bool | None,
    ckan_options: dict[str, str],
    timeout: float,
    started: set[str],
    children: dict[str, subprocess.Popen[bytes]],
) -> PortalStack:
    state = _read_state(stack_dir)
    venv = ckan_mod.ensure_ckan_venv(ckan_venv or ckan_mod.DEFAULT_VENV)

    postgres = resolve_postgres(stack_dir, embedded=pg_embedded)
    if postgres.started:
        started.add("postgres")
    if fresh_db:
        # CKAN holds connections and caches; it must not outlive its database.
        ckan_mod.stop_server(stack_dir)
        drop_database(postgres.url, db_name)
    db_url = create_database(postgres.url, db_name)
    db_ready = table_exists(db_url, "package")

    # The stand-in: reuse a healthy one of this directory, else start one.
    index_file = stack_dir / SOLR_INDEX_FILE
    reuse_solr = (
        _solr_pid(stack_dir) is not None
        and solr_port in (None, state.get("solr_port"))
        and http_ok(f"{_solr_url(state.get('solr_port', 0))}/admin/ping")
    )
    index_missing = False
    if reuse_solr:
        solr_port = int(state["solr_port"])
        if fresh_db:
            _clear_solr(_solr_url(solr_port))
    else:
        _stop_solr(stack_dir)
        if fresh_db:
            index_file.unlink(missing_ok=True)
        index_missing = not index_file.exists()
        solr_port = solr_port or _previous_or_free_port(state.get("solr_port"))
        children["solr"] = _start_solr(stack_dir, solr_port)
        started.add("solr")

    # CKAN's config; a running CKAN is reused only if its port and config stay the same.
    running = ckan_mod.ckan_pid(stack_dir) is not None
    if running and ckan_port not in (None, state.get("ckan_port")):
        ckan_mod.stop_server(stack_dir)
        running = False
    port = (
        int(state["ckan_port"])
        if running
        else (ckan_port or _previous_or_free_port(state.get("ckan_port")))
    )
    site_id = "default" if db_name == "ckan" else db_name
    ini = stack_dir / "ckan.ini"
    changed = ckan_mod.write_config(
        venv,
        ini,
        db_url=db_url,
        port=port,
        solr_url=_solr_url(solr_port),
        site_id=site_id,
        extra=ckan_options,
    )
    if running and (changed or not http_ok(_status_url(port))):
        ckan_mod.stop_server(stack_dir)
        running = False

    if not db_ready:
        ckan_mod.init_db(venv, ini)
    elif index_missing:
        # The database has datasets but the stand-in lost its index file.
        ckan_mod.rebuild_search_index(venv, ini)

    if not running:
        children["ckan"] = ckan_mod.start_server(venv, ini, port, timeout=timeout)
        started.add("ckan")
    url = f"http://{LOOPBACK}:{port}"

    credentials_file = stack_dir / CREDENTIALS_FILE
    credentials = ckan_mod.Credentials.load(credentials_file)
    if credentials is None or not (
        ckan_mod.token_valid(url, credentials.sysadmin_user, credentials.sysadmin_token)
        and ckan_mod.token_valid(url, credentials.editor_user, credentials.editor_token)
    ):
        log.info(
            "creating CKAN users %s and %s with API tokens",
            ckan_mod.SYSADMIN_USER,
            ckan_mod.EDITOR_USER,
        )
        credentials = ckan_mod.ensure_users(venv, ini, credentials)
        credentials.save(credentials_file)

    _write_state(
        stack_dir,
        {
            "url": url,
            "ckan_port": port,
            "solr_port": solr_port,
            "solr_url": _solr_url(solr_port),
            "db_name": db_name,
            "db_url": db_url,
            "ckan_venv": str(venv),
            "postgres": {"embedded": postgres.embedded, "data_dir": str(postgres.data_dir or "")},
            "credentials_file": str(credentials_file),
        },
    )
    return PortalStack(
        url=url,
        sysadmin_token=credentials.sysadmin_token,
        editor_token=credentials.editor_token,
        editor_user=credentials.editor_user,
        sysadmin_user=credentials.sysadmin_user,
        solr_url=_solr_url(solr_port),
        db_url=db_url,
        stack_dir=stack_dir,
        ckan_port=port,
        solr_port=solr_port,
        ckan_venv=venv,
        credentials_file=credentials_file,
        postgres=postgres,
        started=set(started),
        _children=children,
    )


def stop_portal(stack_dir: Path) -> list[str]:
    """Stop everything running from ``stack_dir``, whoever started it (``portal down``).

    Returns:
        The components that were running and have been stopped.
    """
    stack_dir = stack_dir.resolve()
    stopped: list[str] = []
    with file_lock(stack_dir / ".lock", "stopping the stack"):
        if ckan_mod.stop_server(stack_dir):
            stopped.append("ckan")
        if _stop_solr(stack_dir):
            stopped.append("solr")
        if (stack_dir / "postgres").is_dir() and stop_embedded(stack_dir / "postgres"):
            stopped.append("postgres")
    return stopped


def portal_status(stack_dir: Path) -> dict[str, Any]:
    """Describe the instance of ``stack_dir``: URLs and whether each component answers."""
    stack_dir = stack_dir.resolve()
    state = _read_state(stack_dir)
    ckan_pid = ckan_mod.ckan_pid(stack_dir)
    solr_pid = _solr_pid(stack_dir)
    postmaster = stack_dir / "postgres" / "postmaster.pid"
    pg_pid = int(postmaster.read_text().split()[0]) if postmaster.exists() else None
    return {
        "stack_dir": str(stack_dir),
        "url": state.get("url"),
        "ckan": {
            "pid": ckan_pid,
            "healthy": bool(ckan_pid) and http_ok(_status_url(state.get("ckan_port", 0))),
        },
        "solr": {
            "pid": solr_pid,
            "url": state.get("solr_url"),
            "healthy": bool(solr_pid) and http_ok(f"{state.get('solr_url')}/admin/ping"),
        },
        "postgres": {
            "embedded": bool(state.get("postgres", {}).get("embedded")),
            "pid": pg_pid if pid_alive(pg_pid) else None,
            "db_name": state.get("db_name"),
        },
        "credentials_file": state.get("credentials_file"),
    }
