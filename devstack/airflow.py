"""Airflow 3.3 for the local stack: metadata DB, api-server, scheduler, dag-processor, triggerer.

Every process binds to 127.0.0.1 (the task-log servers are switched off with
``--skip-serve-logs``; logs are read from files on this one machine). The CKAN
Connection ``ckan_default`` and the harvest settings are passed by environment
only; nothing secret is written to ``airflow.cfg``.

The metadata database is SQLite in ``<stack>/airflow/airflow.db`` unless
``STACK_AIRFLOW_DB_URL`` names a PostgreSQL database.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from devstack import PROJECT_ROOT
from devstack.errors import StackError
from devstack.processes import (
    LOOPBACK,
    free_port,
    http_ok,
    log_tail,
    owned_pid,
    spawn,
    terminate_group,
    wait_http_ok,
    write_pid,
)

log = logging.getLogger(__name__)

COMPONENTS: dict[str, list[str]] = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}
DEFAULT_API_PORT = 8080
CKAN_POOL = "ckan"
"""Pool of the publish tasks: bounds concurrent writes to the portal."""


def celery_worker(number: int, queue: str, concurrency: int = 2) -> tuple[str, list[str]]:
    """A Celery worker component (name, airflow arguments) serving ``queue``."""
    return (
        f"celery-worker-{number}",
        [
            "celery",
            "worker",
            "--skip-serve-logs",
            "--celery-hostname",
            f"worker{number}@%h",
            "--queues",
            queue,
            "--concurrency",
            str(concurrency),
            "--without-gossip",
            "--without-mingle",
        ],
    )


def _airflow_bin() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def airflow_env(
    home: Path,
    *,
    api_port: int,
    portal_url: str,
    portal_token: str,
    work_dir: Path,
    db_url: str | None = None,
    executor: str = "LocalExecutor",
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment every Airflow process of the stack runs with."""
    scheme, rest = portal_url.split("://", 1)
    host, _, port = rest.rstrip("/").partition(":")
    connection = {
        "conn_type": "http",
        "host": host,
        "schema": scheme,
        "password": portal_token,
        **({"port": int(port)} if port else {}),
    }
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": executor,
        # 2 cores: the default parallelism (32) would spawn far too many workers
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": "Europe/Berlin",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url or f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__HOST": LOOPBACK,
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": f"http://{LOOPBACK}:{api_port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{LOOPBACK}:{api_port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": _secret(home, "jwt"),
        "AIRFLOW__API__SECRET_KEY": _secret(home, "api"),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_SEC": "5",
        "AIRFLOW_CONN_CKAN_DEFAULT": json.dumps(connection),
        # the api-server itself, for DAG-run notes (harvest_airflow.notes); no login:
        # the local stack runs the simple auth manager in all-admins mode
        "AIRFLOW_CONN_AIRFLOW_API": json.dumps(
            {"conn_type": "http", "host": LOOPBACK, "port": api_port, "schema": "http"}
        ),
        "HARVEST_WORK_DIR": str(work_dir),
        "PYTHONPATH": os.pathsep.join(
            [str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]
        ).rstrip(os.pathsep),
        "NO_PROXY": "127.0.0.1,localhost",
    }
    env.update(extra or {})
    return env


def _secret(home: Path, name: str) -> str:
    """A random secret kept in the Airflow home (0600), stable across restarts."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / f".{name}-secret"
    if not path.exists():
        path.write_text(os.urandom(48).hex())
        path.chmod(0o600)
    return path.read_text().strip()


def run_airflow(env: Mapping[str, str], *args: str, timeout: float = 300) -> str:
    """Run an ``airflow`` CLI command; returns its output.

    Raises:
        StackError: non-zero exit, with the output tail.
    """
    import subprocess

    result = subprocess.run(
        [_airflow_bin(), *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise StackError(f"airflow {' '.join(args)} failed (exit {result.returncode}):\n{tail}")
    return result.stdout


@dataclass
class AirflowStack:
    """A running local Airflow."""

    home: Path
    api_port: int
    env: dict[str, str] = field(repr=False)
    components: dict[str, list[str]] = field(default_factory=lambda: dict(COMPONENTS))

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.api_port}"

    def pid_file(self, component: str) -> Path:
        return self.home / f"{component}.pid"

    def log_file(self, component: str) -> Path:
        return self.home / f"{component}.log"

    def running(self, component: str) -> int | None:
        return _component_pid(self.pid_file(component))

    def stop(self) -> list[str]:
        """Stop every component this stack directory started (by PID)."""
        return stop_airflow(self.home)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Task instances of a run, with hostname, pool, start and end."""
        from urllib.parse import quote

        answer = self.api("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances")
        return list(answer["task_instances"])

    # ------------------------------------------------------------------ REST API

    def _token(self) -> str:
        # with SIMPLE_AUTH_MANAGER_ALL_ADMINS a GET hands out an admin token
        response = requests.get(f"{self.url}/auth/token", timeout=10)
        response.raise_for_status()
        return str(response.json()["access_token"])

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the REST API (``/api/v2/...``) and return the JSON answer."""
        response = requests.request(
            method,
            f"{self.url}/api/v2{path}",
            headers={"Authorization": f"Bearer {self._token()}"},
            timeout=30,
            **kwargs,
        )
        if response.status_code >= 400:
            raise StackError(
                f"Airflow API {method} {path}: HTTP {response.status_code} {response.text[:300]}"
            )
        return response.json() if response.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        """Wait until the dag-processor has parsed ``dag_id``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.api("GET", f"/dags/{dag_id}")
                return
            except StackError:
                time.sleep(1)
        raise StackError(
            f"DAG {dag_id} did not appear within {timeout:.0f} s. dag-processor log:\n"
            + log_tail(self.log_file("dag-processor"))
        )

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(
        self, dag_id: str, conf: dict[str, Any] | None = None, note: str | None = None
    ) -> str:
        """Trigger a manual run; returns its run id."""
        body: dict[str, Any] = {"logical_date": None, "conf": conf or {}}
        if note:
            body["note"] = note
        return str(self.api("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"])

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        return list(self.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 600) -> dict[str, Any]:
        """Wait until the run has finished; returns the run (state success or failed)."""
        deadline = time.monotonic() + timeout
        from urllib.parse import quote

        while time.monotonic() < deadline:
            run = self.api("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")
            if run["state"] in ("success", "failed"):
                return dict(run)
            time.sleep(2)
        raise StackError(f"run {run_id} of {dag_id} did not finish within {timeout:.0f} s")

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        """The return value of a task in a run."""
        from urllib.parse import quote

        entry = self.api(
            "GET",
            f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
            "/xcomEntries/return_value",
            params={"deserialize": "true"},
        )
        value = entry["value"]
        return json.loads(value) if isinstance(value, str) else value

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        from urllib.parse import quote

        answer = self.api("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances")
        return {t["task_id"]: t["state"] for t in answer["task_instances"]}


def start_airflow(
    home: Path,
    *,
    portal_url: str,
    portal_token: str,
    work_dir: Path,
    api_port: int | None = DEFAULT_API_PORT,
    db_url: str | None = None,
    components: Mapping[str, list[str]] | None = None,
    executor: str = "LocalExecutor",
    pool_slots: int = 4,
    extra_env: Mapping[str, str] | None = None,
) -> AirflowStack:
    """Migrate the metadata DB, create the ``ckan`` pool and start the components.

    Running components of the same home are reused. ``components`` maps a name to
    its ``airflow`` arguments (default: api-server, scheduler, dag-processor,
    triggerer); add :func:`celery_worker` entries with ``executor="CeleryExecutor"``.

    Raises:
        StackError: a component did not come up; the message carries its log tail.
    """
    home.mkdir(parents=True, exist_ok=True)
    state_file = home / "stack.json"
    if api_port is None:
        previous = json.loads(state_file.read_text()) if state_file.exists() else {}
        api_port = previous.get("api_port") or free_port()
    assert api_port is not None
    db_url = db_url or os.environ.get("STACK_AIRFLOW_DB_URL") or None
    env = airflow_env(
        home,
        api_port=api_port,
        portal_url=portal_url,
        portal_token=portal_token,
        work_dir=work_dir,
        db_url=db_url,
        executor=executor,
        extra=extra_env,
    )
    wanted = dict(components or COMPONENTS)
    stack = AirflowStack(home=home, api_port=api_port, env=env, components=wanted)
    if not all(stack.running(c) for c in wanted):
        log.info(
            "migrating the Airflow metadata database (%s)", "PostgreSQL" if db_url else "SQLite"
        )
        run_airflow(env, "db", "migrate")
        run_airflow(
            env, "pools", "set", CKAN_POOL, str(pool_slots), "Concurrent writes to the CKAN portal"
        )
    started: list[int] = []
    try:
        for component, arguments in wanted.items():
            if stack.running(component):
                continue
            process = spawn(
                [_airflow_bin(), *arguments], stack.log_file(component), cwd=home, env=env
            )
            started.append(process.pid)
            write_pid(stack.pid_file(component), process.pid)
            log.info("started airflow %s (pid %d)", component, process.pid)
        state_file.write_text(json.dumps({"api_port": api_port, "components": wanted}))
        if "api-server" in wanted:
            wait_http_ok(
                f"{stack.url}/api/v2/monitor/health",
                timeout=120,
                what="airflow api-server",
                log_file=stack.log_file("api-server"),
                alive=lambda: stack.running("api-server") is not None,
            )
        time.sleep(1)
        for component in wanted:
            if not stack.running(component):
                raise StackError(
                    f"airflow {component} exited during start-up. Last log lines:\n"
                    + log_tail(stack.log_file(component))
                )
    except BaseException:
        # leave nothing half-started behind (tests must not leak processes)
        for pid in started:
            terminate_group(pid, grace=10)
        raise
    return stack


def _component_pid(pid_file: Path) -> int | None:
    """The PID in ``pid_file`` if it is still one of our Airflow processes.

    setproctitle renames them ("airflow api_server", "celeryd: worker1@host…"), so
    only the program family is matched, not the full command.
    """
    return owned_pid(pid_file, "airflow") or owned_pid(pid_file, "celery")


def stop_airflow(home: Path) -> list[str]:
    """Stop the components recorded in ``home`` (by PID, process group)."""
    stopped = []
    state_file = home / "stack.json"
    recorded = (
        json.loads(state_file.read_text()).get("components", {}) if state_file.exists() else {}
    )
    for component in dict.fromkeys([*COMPONENTS, *recorded]):
        pid = _component_pid(home / f"{component}.pid")
        if pid:
            terminate_group(pid, grace=20)
            stopped.append(f"airflow {component}")
        (home / f"{component}.pid").unlink(missing_ok=True)
    return stopped


def airflow_healthy(home: Path) -> bool:
    """Whether the api-server of ``home`` answers."""
    state_file = home / "stack.json"
    if not state_file.exists():
        return False
    port = json.loads(state_file.read_text()).get("api_port")
    return bool(port) and http_ok(f"http://{LOOPBACK}:{port}/api/v2/monitor/health")
