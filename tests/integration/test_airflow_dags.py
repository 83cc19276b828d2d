"""Every dataset DAG runs end to end in Airflow (`airflow dags test`) against the local CKAN."""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest

from etl import pipeline
from etl.registry import get_dataset, load_registry
from tests.integration.conftest import airflow_dags_test, download, newest_run_folder, show


@pytest.mark.parametrize("dataset_id", sorted(load_registry()))
def test_dag_publishes_the_dataset(
    dataset_id, airflow_test_env, portal_stack, anonymous, tmp_path
) -> None:
    result = airflow_dags_test(airflow_test_env, dataset_id)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "DagRun failed" not in output
    assert portal_stack.editor_token not in output

    dataset = get_dataset(dataset_id)
    expected = pipeline.check(dataset, pipeline.resolve_inputs(dataset), tmp_path)
    package = show(anonymous, dataset_id)
    by_name = {r["name"]: r for r in package["resources"]}
    assert set(by_name) == {f.resource for f in expected.files}
    for file in expected.files:
        content = download(portal_stack, by_name[file.resource]["url"])
        assert hashlib.sha256(content).hexdigest() == file.sha256


def test_invalid_file_fails_validate_and_publishes_nothing(
    airflow_test_env, anonymous, tmp_path
) -> None:
    bad = tmp_path / f"vornamen_2020_weiblich_{uuid.uuid4().hex[:4]}.csv"
    bad.write_text("Name;Anzahl\nAnna;0\n", encoding="utf-8")
    before = show(anonymous, "vornamen") if _exists(anonymous, "vornamen") else None
    result = airflow_dags_test(airflow_test_env, "vornamen", {"files": [str(bad)]})
    assert "DagRun failed" in result.stdout + result.stderr
    # the validate task leaves its report in the run folder and renders nothing
    run = newest_run_folder(airflow_test_env, "vornamen")
    report = json.loads((run / "report.json").read_text(encoding="utf-8"))
    assert report["success"] is False
    assert [(p["file"], p["row"], p["column"], p["found"]) for p in report["problems"]] == [
        (bad.name, 2, "Anzahl", 0)  # the header as the department wrote it
    ]
    assert not (run / "out").exists()
    after = show(anonymous, "vornamen") if _exists(anonymous, "vornamen") else None
    if before is not None:
        assert after["metadata_modified"] == before["metadata_modified"]
        assert [r["hash"] for r in after["resources"]] == [r["hash"] for r in before["resources"]]
    else:
        assert after is None


def _exists(client, name: str) -> bool:
    import ckanapi

    try:
        show(client, name)
        return True
    except ckanapi.NotFound:
        return False
