"""The main job on a local machine: portal + Airflow up, the ``vornamen`` DAG run, URLs printed.

Idempotent: running it again reuses the running stack and triggers another run,
which finds nothing changed and writes nothing to the portal.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any

from devstack import DEFAULT_STACK_DIR, PROJECT_ROOT
from devstack.airflow import AirflowStack, airflow_healthy, start_airflow, stop_airflow
from devstack.ckan import ensure_ckan_venv, ensure_organization
from devstack.errors import StackError
from devstack.portal import PortalStack, portal_status, start_portal, stop_portal

log = logging.getLogger(__name__)

DEMO_DATASET = "vornamen"


def install() -> None:
    """Build CKAN's own virtual environment (its dependencies conflict with Airflow's)."""
    venv = ensure_ckan_venv()
    log.info("CKAN environment ready: %s", venv)


def ensure_registry_organizations(stack: PortalStack) -> list[str]:
    """Create every organization the registry names and make the pipeline's user its editor.

    On the real portal this is the administrators' job; the pipeline only publishes as
    an editor.
    """
    from etl.registry import load_registry

    names = []
    seen: set[str] = set()
    for dataset in load_registry().values():
        org = dataset.organization
        if org.name in seen:
            continue
        seen.add(org.name)
        ensure_organization(
            stack.url, stack.sysadmin_token, org.name, org.title, editors=[stack.editor_user]
        )
        names.append(org.name)
    return names


def demo_db_name(stack_dir: Path) -> str:
    """CKAN's database of a checkout's demo: one per stack directory.

    Two checkouts on one machine share the PostgreSQL server but not their upload
    folders, so they must not share a CKAN database either.
    """
    return "ckan_demo_" + hashlib.sha256(str(stack_dir.resolve()).encode()).hexdigest()[:8]


def start_all(stack_dir: Path = DEFAULT_STACK_DIR) -> tuple[PortalStack, AirflowStack]:
    """Portal on 5000 (stand-in 8983), Airflow api-server on 8080, all on 127.0.0.1.

    A stack directory without uploads gets a fresh CKAN database: a database left by
    an earlier checkout at the same path would point at files that no longer exist.
    """
    fresh = not (stack_dir / "storage").exists()
    portal = start_portal(
        stack_dir,
        ckan_port=5000,
        solr_port=8983,
        db_name=demo_db_name(stack_dir),
        fresh_db=fresh,
    )
    orgs = ensure_registry_organizations(portal)
    log.info("organizations with %s as editor: %s", portal.editor_user, ", ".join(orgs))
    airflow = start_airflow(
        stack_dir / "airflow",
        portal_url=portal.url,
        portal_token=portal.editor_token,
        work_dir=PROJECT_ROOT / ".work",
        api_port=8080,
    )
    log.info("Airflow ready at %s", airflow.url)
    return portal, airflow


def run_demo(stack_dir: Path = DEFAULT_STACK_DIR, *, timeout: float = 900) -> int:
    """Start everything, run the demo DAG, print where to look. Returns the exit code."""
    portal, airflow = start_all(stack_dir)
    airflow.wait_for_dag(DEMO_DATASET)
    before = {run["dag_run_id"] for run in airflow.runs(DEMO_DATASET)}
    # unpausing a DAG whose last scheduled time has passed also queues that run;
    # runs are serialized by max_active_runs=1
    airflow.unpause(DEMO_DATASET)
    run_id = airflow.trigger(DEMO_DATASET, note="make demo: bundled sample files")
    log.info("triggered %s run %s; waiting for it", DEMO_DATASET, run_id)
    deadline = time.monotonic() + timeout
    outcome: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        pending = [
            run
            for run in airflow.runs(DEMO_DATASET)
            if run["dag_run_id"] not in before and run["dag_run_id"] not in outcome
        ]
        for run in pending:
            if run["state"] in ("success", "failed"):
                outcome[run["dag_run_id"]] = run
        if run_id in outcome and not [
            r for r in pending if r["state"] not in ("success", "failed")
        ]:
            break
        time.sleep(2)
    else:
        raise StackError(f"the {DEMO_DATASET} run did not finish within {timeout:.0f} s")

    failed = False
    for rid, run in sorted(outcome.items(), key=lambda item: item[1].get("start_date") or ""):
        log.info("run %s: %s", rid, run["state"])
        if run["state"] != "success":
            failed = True
            for task, state in airflow.task_states(DEMO_DATASET, rid).items():
                log.info("    %-10s %s", task, state)
            continue
        result = airflow.xcom(DEMO_DATASET, rid, "publish")
        log.info("    package %s: %s", result["dataset"], result["package_action"])
        for resource in result["resources"]:
            log.info("    %-16s %s", resource["resource"], resource["action"])
        log.info("    (%d read / %d write calls to the portal)", result["reads"], result["writes"])

    log.info("")
    log.info("CKAN dataset:  %s/dataset/%s", portal.url, DEMO_DATASET)
    log.info("CKAN API:      %s/api/3/action/package_show?id=%s", portal.url, DEMO_DATASET)
    log.info("Airflow UI:    %s/dags/%s  (no login needed locally)", airflow.url, DEMO_DATASET)
    drop_root = airflow.env.get("HARVEST_DROPZONE") or str(
        Path(airflow.env["HARVEST_WORK_DIR"]) / "dropzone"
    )
    log.info(
        "drop folder:   %s/%s/  (a file dropped there is published; README)",
        drop_root,
        DEMO_DATASET,
    )
    log.info("tokens:        %s (mode 0600)", portal.credentials_file)
    log.info("logs:          %s, %s", stack_dir / "ckan.log", stack_dir / "airflow")
    log.info("stop it all:   make down")
    return 1 if failed else 0


def stop_all(stack_dir: Path = DEFAULT_STACK_DIR) -> list[str]:
    """Stop Airflow, then the portal (everything started from ``stack_dir``)."""
    return stop_airflow(stack_dir / "airflow") + stop_portal(stack_dir)


def status(stack_dir: Path = DEFAULT_STACK_DIR) -> int:
    """Print what runs; 0 when portal and Airflow are healthy, else 3."""
    portal = portal_status(stack_dir)
    portal_ok = bool(portal["ckan"]["healthy"] and portal["solr"]["healthy"])
    airflow_ok = airflow_healthy(stack_dir / "airflow")
    log.info("CKAN:     %s (%s)", portal["url"] or "-", "healthy" if portal_ok else "not running")
    log.info("Airflow:  %s", "healthy" if airflow_ok else "not running")
    return 0 if portal_ok and airflow_ok else 3
