"""The weekly-rhythm DAGs in Airflow (`airflow dags test`) against the local CKAN and a
real SMTP server: `harvest_release` makes a queued dataset public and reports an empty
queue on its next run; `harvest_freshness` runs and finds nothing overdue."""

from __future__ import annotations

from pathlib import Path

import ckanapi
import pytest

from tests.integration.conftest import airflow_dags_test, harvest_cli, show


def test_release_dag_releases_then_reports_an_empty_queue(
    airflow_test_env, private_registry, portal_stack, anonymous, smtp_server
) -> None:
    dataset_id, registry_env = private_registry("flaeche-stadtbezirke")
    path = Path(registry_env["HARVEST_REGISTRY"]) / f"{dataset_id}.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\nrelease: queued\n", encoding="utf-8")
    portal_env = {"CKAN_URL": portal_stack.url, "CKAN_API_TOKEN": portal_stack.editor_token}
    published = harvest_cli("publish", dataset_id, env={**registry_env, **portal_env})
    assert published.returncode == 0, published.stderr
    with pytest.raises(ckanapi.NotAuthorized):  # queued: private until released
        show(anonymous, dataset_id)

    # the DAG sees the private registry and shares the CLI's ledger (work dir)
    env = {**airflow_test_env, **registry_env, **smtp_server.env}
    first = airflow_dags_test(env, "harvest_release")
    output = first.stdout + first.stderr
    assert first.returncode == 0, output[-4000:]
    assert "DagRun failed" not in output
    assert f"Freigegeben: „Fläche der Stadtbezirke“ ({dataset_id}) ist öffentlich" in output
    assert "#openwednesday" in output  # the draft is in the task log
    assert portal_stack.editor_token not in output
    assert show(anonymous, dataset_id)["private"] is False
    [draft] = (Path(registry_env["HARVEST_WORK_DIR"]) / "ankuendigungen").glob(f"*_{dataset_id}.md")
    assert f"/dataset/{dataset_id}" in draft.read_text(encoding="utf-8")
    [mail] = smtp_server.to(smtp_server.env["HARVEST_TEAM_EMAIL"])
    assert "#openwednesday" in mail["Subject"]

    second = airflow_dags_test(env, "harvest_release")
    output = second.stdout + second.stderr
    assert second.returncode == 0, output[-4000:]
    assert "DagRun failed" not in output
    assert "Freigabe-Warteschlange leer: kein Datensatz freizugeben." in output
    assert len(smtp_server.messages) == 1  # an empty queue mails nobody

    fresh = airflow_dags_test(env, "harvest_freshness")
    output = fresh.stdout + fresh.stderr
    assert fresh.returncode == 0, output[-4000:]
    assert "DagRun failed" not in output
    assert "keine überfälligen Aktualisierungen (1 geprüft)" in output
