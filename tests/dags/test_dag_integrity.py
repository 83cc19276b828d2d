"""DAG integrity: every registry entry is a DAG, parsing is fast and side-effect free."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from etl.registry import load_registry
from tests.conftest import PROJECT

HERE = PROJECT / "tests" / "dags"


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("airflow-home")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # a database nobody listens on: any DB access while parsing would fail loudly
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://nobody@127.0.0.1:9/none",
    }
    result = subprocess.run(
        [sys.executable, str(HERE / "parse_guarded.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=PROJECT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_no_import_errors(parsed) -> None:
    assert parsed["import_errors"] == {}


def test_dag_ids_equal_registry_ids(parsed) -> None:
    # operational DAGs are named harvest_*; dataset ids cannot contain '_'
    dataset_dags = {d for d in parsed["dags"] if not d.startswith("harvest_")}
    assert dataset_dags == set(load_registry())


def test_parsing_touches_no_connection_variable_network_or_db(parsed) -> None:
    assert parsed["touched"] == []


def test_parsing_imports_no_heavy_libraries(parsed) -> None:
    assert parsed["heavy_imports"] == []


@pytest.mark.parametrize("dataset_id", sorted(load_registry()))
def test_dataset_dag_settings(parsed, dataset_id: str) -> None:
    dataset = load_registry()[dataset_id]
    dag = parsed["dags"][dataset_id]
    assert dag["owner"] == dataset.owner
    assert {"harvest", dataset.family, dataset.organization.name} <= set(dag["tags"])
    assert dag["max_active_runs"] == 1
    assert dag["catchup"] is False
    assert dag["doc_md"]
    assert dag["tasks"] == ["extract", "transform", "validate", "publish"]
    assert dag["retries"] == [dataset.retries]
    assert dag["retry_delay"] == [dataset.retry_delay_minutes * 60.0]
    if dataset.schedule:
        assert dataset.schedule in dag["schedule"] and "Europe/Berlin" in dag["schedule"]


OPERATIONAL = {
    # dag id: (cron in Europe/Berlin, tasks)
    "harvest_dropzone": ("*/15 * * * *", ["set_aside_unknown"]),
    "harvest_release": ("0 8 * * 3", ["release"]),
    "harvest_freshness": ("0 7 * * *", ["report_overdue"]),
}


def test_operational_dags_are_exactly_these(parsed) -> None:
    assert {d for d in parsed["dags"] if d.startswith("harvest_")} == set(OPERATIONAL)


@pytest.mark.parametrize("dag_id", sorted(OPERATIONAL))
def test_operational_dag_settings(parsed, dag_id: str) -> None:
    cron, tasks = OPERATIONAL[dag_id]
    dag = parsed["dags"][dag_id]
    assert dag["owner"] == "opendata"
    assert "harvest" in dag["tags"]
    assert dag["doc_md"]
    assert dag["retries"] and min(dag["retries"]) >= 1
    assert dag["catchup"] is False and dag["max_active_runs"] == 1
    assert f"expression='{cron}'" in dag["schedule"]
    assert "timezone='Europe/Berlin'" in dag["schedule"]
    assert dag["tasks"] == tasks


def test_parse_time_is_reported(parsed, harvest_report) -> None:
    harvest_report(
        "DAG folder parse",
        f"{parsed['seconds'] * 1000:.0f} ms total; per file: "
        + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in parsed["per_file"].items()),
    )
    assert parsed["per_file"]  # every DAG file was parsed and timed
