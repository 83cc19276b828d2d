"""Scale-out path: the same DAGs on Airflow's CeleryExecutor.

A scheduler, a dag-processor, an api-server and two Celery workers run on loopback
with the test stack's PostgreSQL as metadata DB and ledger, and Redis as broker
(the machine's, or a private redis-server). Every dataset DAG is triggered at once;
each dataset must arrive on the portal exactly once, publish tasks must respect
the ``ckan`` pool, and the portal token must appear in no log, XCom, ledger row or
staged file.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from devstack.airflow import COMPONENTS, AirflowStack, celery_worker, start_airflow
from devstack.postgres import create_database, drop_database
from devstack.redis import ensure_redis
from etl.registry import load_registry
from tests.integration.conftest import show

DATASETS = sorted(load_registry())


@pytest.fixture(scope="module")
def celery_stack(portal_stack, tmp_path_factory) -> Iterator[tuple[AirflowStack, str]]:
    home = tmp_path_factory.mktemp("airflow-celery")
    suffix = uuid.uuid4().hex[:8]
    queue = f"harvest-test-{suffix}"  # a queue of our own on a possibly shared Redis
    metadata_name, ledger_name = f"airflow_test_{suffix}", f"harvest_ledger_{suffix}"
    metadata_url = create_database(portal_stack.postgres.url, metadata_name)
    ledger_url = create_database(portal_stack.postgres.url, ledger_name)
    redis = ensure_redis(home)
    components = {name: COMPONENTS[name] for name in ("api-server", "scheduler", "dag-processor")}
    components.update([celery_worker(1, queue), celery_worker(2, queue)])
    stack = start_airflow(
        home,
        portal_url=portal_stack.url,
        portal_token=portal_stack.editor_token,
        work_dir=home / "work",
        api_port=None,
        db_url=metadata_url,
        components=components,
        executor="CeleryExecutor",
        pool_slots=1,
        extra_env={
            "AIRFLOW__CELERY__BROKER_URL": redis.url(),
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata_url}",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
            "HARVEST_DB_URL": ledger_url,
            "AIRFLOW__CORE__PARALLELISM": "8",
        },
    )
    try:
        yield stack, ledger_url
    finally:
        stack.stop()
        redis.stop()
        drop_database(portal_stack.postgres.url, metadata_name)
        drop_database(portal_stack.postgres.url, ledger_name)


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def test_all_dags_at_once_on_two_celery_workers(celery_stack, portal_stack, anonymous) -> None:
    stack, ledger_url = celery_stack
    for dataset_id in DATASETS:
        stack.wait_for_dag(dataset_id)
    for dataset_id in DATASETS:
        stack.unpause(dataset_id)
        stack.trigger(dataset_id)

    deadline = time.monotonic() + 900
    runs: dict[str, list[dict]] = {}
    while time.monotonic() < deadline:
        runs = {d: stack.runs(d) for d in DATASETS}
        if all(
            r and all(run["state"] in ("success", "failed") for run in r) for r in runs.values()
        ):
            break
        time.sleep(3)
    states = {d: [run["state"] for run in r] for d, r in runs.items()}
    assert all(s and set(s) == {"success"} for s in states.values()), states

    publishes: list[tuple[datetime, datetime]] = []
    token = portal_stack.editor_token
    for dataset_id, dataset_runs in runs.items():
        for run in dataset_runs:
            for ti in stack.task_instances(dataset_id, run["dag_run_id"]):
                if ti["task_id"] == "publish":
                    assert ti["pool"] == "ckan"
                    publishes.append((_parse(ti["start_date"]), _parse(ti["end_date"])))
                    result = stack.xcom(dataset_id, run["dag_run_id"], "publish")
                    assert token not in json.dumps(result)
                    assert result["dataset"] == dataset_id
        # every dataset arrived exactly once: one package, each resource once
        package = show(anonymous, dataset_id)
        names = [r["name"] for r in package["resources"]]
        dataset = load_registry()[dataset_id]
        assert sorted(names) == sorted(r.resource_name(dataset_id) for r in dataset.resources)

    # the work was spread over both workers (each logs the task messages it received)
    received = {
        name: stack.log_file(name).read_text(encoding="utf-8").count("execute_workload[")
        for name in ("celery-worker-1", "celery-worker-2")
    }
    assert all(received.values()), received
    assert sum(received.values()) >= 4 * len(DATASETS)
    publishes.sort()
    for (_, end), (start, _) in itertools.pairwise(publishes):
        assert start >= end, "two publish tasks overlapped although the ckan pool has one slot"

    # the token is in no task log, no ledger row, no staged file
    for path in [*Path(stack.home, "logs").rglob("*"), *Path(stack.home, "work").rglob("*")]:
        if path.is_file():
            assert token not in path.read_text(encoding="utf-8", errors="replace"), path
    engine = create_engine(ledger_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM publish_attempts")).mappings().all()
        outputs = conn.execute(text("SELECT * FROM publish_outputs")).mappings().all()
    engine.dispose()
    assert {row["dataset"] for row in rows} == set(DATASETS)
    assert all(row["status"] == "success" for row in rows)
    assert token not in json.dumps([dict(r) for r in [*rows, *outputs]], default=str)
