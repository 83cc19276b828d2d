"""DAG-run notes: the dropped file and its outcome, shown on the run in the Airflow UI.

A task cannot set its run's note through the task SDK (the execution API only reads
it), so the note is set through Airflow's public REST API
(``PATCH /api/v2/dags/{dag_id}/dagRuns/{run_id}``), with the Connection
``airflow_api``: ``host`` (or a full URL in ``host``), ``schema``, ``port``, and
``login``/``password`` of an API user allowed to edit DAG runs. Without ``login`` the
token is fetched without credentials, which only the simple auth manager's
all-admins mode (the local stack) allows.

Setting the note is best effort: the outcome is also in the task log and the task's
XCom, so a missing Connection or an unreachable API server logs a warning and never
fails the task.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from airflow.sdk import BaseHook

log = logging.getLogger(__name__)

CONN_ID = "airflow_api"
MAX_NOTE = 1000
"""Airflow's limit for a note."""


def _base_url(conn_id: str) -> tuple[str, str | None, str | None]:
    conn = BaseHook.get_connection(conn_id)
    host = (conn.host or "").rstrip("/")
    if "://" not in host:
        port = f":{conn.port}" if conn.port else ""
        host = f"{conn.schema or 'http'}://{host}{port}"
    return host, conn.login or None, conn.password or None


def set_run_note(dag_id: str, run_id: str, note: str, *, conn_id: str = CONN_ID) -> bool:
    """Set the note of a DAG run; False (and a warning) if that is not possible."""
    import requests

    try:
        base, login, password = _base_url(conn_id)
    except Exception as exc:  # no such Connection: notes are optional
        log.warning("run note not set (Connection %s: %s): %s", conn_id, exc, note)
        return False
    try:
        if login:
            answer = requests.post(
                f"{base}/auth/token",
                json={"username": login, "password": password or ""},
                timeout=10,
            )
        else:
            answer = requests.get(f"{base}/auth/token", timeout=10)
        answer.raise_for_status()
        token = answer.json()["access_token"]
        response = requests.patch(
            f"{base}/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}",
            params={"update_mask": "note"},
            json={"note": note[:MAX_NOTE]},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        response.raise_for_status()
    except (requests.RequestException, KeyError, ValueError) as exc:
        log.warning("run note not set (%s): %s", type(exc).__name__, note)
        return False
    log.info("run note: %s", note)
    return True
