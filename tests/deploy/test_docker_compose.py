"""docker-compose.yml cannot run here (no Docker engine); check it statically.

Parses the file as Compose does (YAML anchors and merge keys), then checks that
references between services, volumes, files and environment are consistent.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.conftest import PROJECT

COMPOSE = yaml.safe_load((PROJECT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES = COMPOSE["services"]
AIRFLOW = [name for name in SERVICES if name.startswith("airflow-")]
VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")


def test_all_parts_of_the_deployment_are_there() -> None:
    assert {
        "postgres",
        "redis",
        "solr",
        "ckan",
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker",
    } <= set(SERVICES)


def test_depends_on_names_existing_services() -> None:
    for name, service in SERVICES.items():
        for dependency in service.get("depends_on", {}) or {}:
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"


def test_named_volumes_are_declared_and_used() -> None:
    declared = set(COMPOSE.get("volumes") or {})
    used = set()
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/", "$")):
                if source.startswith("."):
                    assert (PROJECT / source).exists(), f"{name}: bind mount {source} missing"
                continue
            assert source in declared, f"{name}: volume {source} not declared"
            used.add(source)
    assert used == declared


def test_airflow_services_share_one_celery_configuration() -> None:
    environments = [SERVICES[name]["environment"] for name in AIRFLOW]
    assert all(env == environments[0] for env in environments)
    env = environments[0]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:")
    assert "@postgres:5432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert "@postgres:5432/airflow" in env["AIRFLOW__CELERY__RESULT_BACKEND"]
    init_sql = (PROJECT / "deploy" / "postgres-init.sql").read_text(encoding="utf-8")
    assert "@postgres:5432/harvest" in env["HARVEST_DB_URL"]  # one ledger for all workers
    for database in ("airflow", "ckan", "ckan_datastore", "harvest"):
        assert f"CREATE DATABASE {database};" in init_sql


def test_ckan_connection_points_at_the_ckan_service() -> None:
    env = SERVICES["airflow-worker"]["environment"]
    connection = json.loads(VARIABLE.sub("x", env["AIRFLOW_CONN_CKAN_DEFAULT"]))
    assert connection["host"] == "ckan" and connection["port"] == 5000
    ckan = SERVICES["ckan"]["environment"]
    assert ckan["CKAN_SOLR_URL"].startswith("http://solr:8983/")
    assert "@postgres:5432/ckan" in ckan["CKAN_SQLALCHEMY_URL"]
    assert ckan["CKAN_REDIS_URL"].startswith("redis://redis:")


def test_paths_in_the_image_match_the_dockerfile() -> None:
    dockerfile = (PROJECT / SERVICES["airflow-worker"]["build"]["dockerfile"]).read_text(
        encoding="utf-8"
    )
    env = SERVICES["airflow-worker"]["environment"]
    for key, folder in (
        ("AIRFLOW__CORE__DAGS_FOLDER", "dags"),
        ("HARVEST_REGISTRY", "registry"),
        ("HARVEST_EXPECTATIONS", "expectations"),
    ):
        assert env[key] == f"/opt/harvest/{folder}"
        assert f"COPY --chown=airflow:root {folder} ./{folder}" in dockerfile
    assert "WORKDIR /opt/harvest" in dockerfile
    assert "uv.lock" in dockerfile


def test_published_ports_bind_loopback_only() -> None:
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on all interfaces"


@pytest.mark.parametrize(
    "variable", sorted(set(VARIABLE.findall((PROJECT / "docker-compose.yml").read_text())))
)
def test_every_variable_is_documented_in_env_example(variable: str) -> None:
    example = (PROJECT / ".env.example").read_text(encoding="utf-8")
    assert re.search(rf"^{variable}=", example, re.MULTILINE), f"{variable} missing in .env.example"


def test_no_secret_values_in_the_compose_file() -> None:
    text = (PROJECT / "docker-compose.yml").read_text(encoding="utf-8")
    assert not re.search(r"(PASSWORD|TOKEN|SECRET)[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9]{8,}", text)
