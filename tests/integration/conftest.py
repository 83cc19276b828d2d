"""The real local stack for integration tests, started once per test session.

CKAN 2.12 (own venv), the Solr stand-in and PostgreSQL (the machine's server on
127.0.0.1:5432 when it answers, else an embedded one) in a temporary directory on
free ports with a database of its own, so a demo instance on the default ports is
left alone. The pipeline publishes as the *editor* user; the stack makes it an
editor of every organization the registry names.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ckanapi
import pytest

from devstack.airflow import airflow_env, run_airflow
from devstack.demo import ensure_registry_organizations
from devstack.portal import PortalStack, start_portal
from devstack.postgres import drop_database
from etl.portal import Portal
from tests.conftest import PROJECT


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def portal_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalStack]:
    db_name = f"ckan_test_{uuid.uuid4().hex[:10]}"
    stack = start_portal(tmp_path_factory.mktemp("portal"), db_name=db_name)
    try:
        ensure_registry_organizations(stack)
        yield stack
    finally:
        stack.stop()
        if not stack.postgres.embedded:
            drop_database(stack.postgres.url, db_name)


@pytest.fixture
def editor_portal(portal_stack: PortalStack) -> Iterator[Portal]:
    """The pipeline's client, as the editor user, with fresh call counters."""
    with Portal(portal_stack.url, portal_stack.editor_token) as portal:
        yield portal


@pytest.fixture(scope="session")
def anonymous(portal_stack: PortalStack) -> ckanapi.RemoteCKAN:
    """A visitor without token: what the public sees."""
    return ckanapi.RemoteCKAN(portal_stack.url, user_agent="harvest-tests")


def show(client: ckanapi.RemoteCKAN, name: str) -> dict[str, Any]:
    result: dict[str, Any] = client.call_action(
        "package_show", {"id": name}, requests_kwargs={"timeout": 30}
    )
    return result


def download(portal_stack: PortalStack, url: str) -> bytes:
    import requests

    response = requests.get(url, timeout=30)
    response.raise_for_status()
    return response.content


def harvest_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "etl.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=PROJECT,
        env={**os.environ, "COLUMNS": "200", **env},
    )


@pytest.fixture(scope="session")
def airflow_test_env(
    portal_stack: PortalStack, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """Environment for `airflow dags test` against the test portal (SQLite metadata DB)."""
    home = tmp_path_factory.mktemp("airflow")
    env = airflow_env(
        home,
        api_port=0,
        portal_url=portal_stack.url,
        portal_token=portal_stack.editor_token,
        work_dir=home / "work",
    )
    run_airflow(env, "db", "migrate")
    run_airflow(env, "pools", "set", "ckan", "2", "Concurrent writes to the CKAN portal")
    return env


def airflow_dags_test(
    env: dict[str, str], dag_id: str, conf: dict[str, Any] | None = None
) -> subprocess.CompletedProcess[str]:
    args = [str(Path(sys.executable).with_name("airflow")), "dags", "test", dag_id]
    if conf is not None:
        args += ["-c", json.dumps(conf)]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=900, cwd=PROJECT)


def newest_run_folder(env: dict[str, str], dag_id: str) -> Path:
    """The staging folder of the newest run of ``dag_id`` under the test's work dir."""
    runs = sorted(
        (Path(env["HARVEST_WORK_DIR"]) / "runs" / dag_id).iterdir(), key=lambda p: p.stat().st_mtime
    )
    return runs[-1]


def render_for(source, out: Path, files=None, *, publish_as=None):
    """Validated files of ``source``'s inputs, rendered for ``publish_as`` (default: itself)."""
    from etl import pipeline

    tidy = pipeline.transform(
        source, pipeline.extract(source, pipeline.resolve_inputs(source, files))
    )
    pipeline.validate(source, tidy)
    return pipeline.render(publish_as or source, tidy, out), pipeline.package_facts(source, tidy)


def renamed(dataset):
    """The same dataset under a unique package name, so tests do not depend on each other."""
    return dataset.model_copy(update={"id": f"{dataset.id}-{uuid.uuid4().hex[:6]}"})


@pytest.fixture
def private_registry(tmp_path: Path):
    """A registry with a copy of a dataset under a unique id, for CLI runs.

    Returns ``make(source_id) -> (new_id, env)``; ``env`` points the CLI at the copy,
    at the project's sample files and at a work dir (ledger, archive) of this test.
    """

    def make(source_id: str) -> tuple[str, dict[str, str]]:
        new_id = f"{source_id}-{uuid.uuid4().hex[:6]}"
        registry = tmp_path / "registry"
        suites = tmp_path / "expectations"
        registry.mkdir(exist_ok=True)
        suites.mkdir(exist_ok=True)
        shutil.copy(PROJECT / "registry" / "_portal.yaml", registry)
        text = (PROJECT / "registry" / f"{source_id}.yaml").read_text(encoding="utf-8")
        (registry / f"{new_id}.yaml").write_text(
            text.replace(f"id: {source_id}\n", f"id: {new_id}\n"), encoding="utf-8"
        )
        suite = json.loads(
            (PROJECT / "expectations" / f"{source_id}.json").read_text(encoding="utf-8")
        )
        suite["name"] = new_id
        (suites / f"{new_id}.json").write_text(json.dumps(suite), encoding="utf-8")
        env = {
            "HARVEST_REGISTRY": str(registry),
            "HARVEST_EXPECTATIONS": str(suites),
            "HARVEST_SOURCE_ROOT": str(PROJECT),
            "HARVEST_WORK_DIR": str(tmp_path / "work"),
        }
        return new_id, env

    return make
