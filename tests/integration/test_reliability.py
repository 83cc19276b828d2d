"""Faults survived on the real local stack: CKAN down or killed mid-run, HTTP 500 and
timeouts (fault proxy), the publishing process killed, two publishes at once; the
ledger records every attempt and rollback restores the previous version."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import ckanapi
import pytest

from etl import pipeline
from etl.errors import PortalError
from etl.ledger import Ledger
from etl.portal import Portal, PublishIncomplete
from etl.registry import get_dataset
from tests.conftest import PROJECT
from tests.integration.conftest import harvest_cli, renamed, render_for, show
from tests.integration.faultproxy import FaultProxy, Rule


def extras(package: dict) -> dict[str, str]:
    return {e["key"]: e["value"] for e in package.get("extras", [])}


def assert_converged(anonymous, dataset_id: str, files) -> None:
    """The package holds each file exactly once, with its hash, and no incomplete mark."""
    package = show(anonymous, dataset_id)
    names = [r["name"] for r in package["resources"]]
    assert sorted(names) == sorted(f.resource for f in files)  # no duplicates, none missing
    hashes = {r["name"]: r["hash"] for r in package["resources"]}
    assert hashes == {f.resource: f"sha256:{f.sha256}" for f in files}
    assert "harvest_state" not in extras(package)


@pytest.fixture
def ledger(tmp_path) -> Ledger:
    return Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}", archive_dir=tmp_path / "archive")


@pytest.fixture
def vornamen():
    source = get_dataset("vornamen")
    return source, renamed(source)


def test_ckan_down_before_publish_writes_nothing_and_a_later_run_converges(
    portal_stack, anonymous, ledger, vornamen, tmp_path
) -> None:
    source, dataset = vornamen
    files, _ = render_for(source, tmp_path, publish_as=dataset)
    portal_stack.kill_ckan()
    try:
        with Portal(portal_stack.url, portal_stack.editor_token, backoff_seconds=0.1) as portal:
            with pytest.raises(PortalError, match="not reachable"):
                pipeline.publish_recorded(
                    dataset, files, portal=portal, ledger=ledger, run_id="down-1"
                )
            assert portal.stats.write_calls == 0
    finally:
        portal_stack.start_ckan()
    [attempt] = ledger.history(dataset.id)
    assert attempt.status == "failed" and "not reachable" in (attempt.error or "")
    with pytest.raises(ckanapi.NotFound):
        show(anonymous, dataset.id)

    with Portal(portal_stack.url, portal_stack.editor_token) as portal:
        pipeline.publish_recorded(dataset, files, portal=portal, ledger=ledger, run_id="down-2")
    assert_converged(anonymous, dataset.id, files)
    assert [a.status for a in ledger.history(dataset.id)] == ["success", "failed"]


def test_ckan_killed_between_two_uploads_then_next_run_completes(
    portal_stack, anonymous, ledger, vornamen, tmp_path
) -> None:
    source, dataset = vornamen
    files, _ = render_for(source, tmp_path, publish_as=dataset)
    second = files[1].resource

    def kill_before_second_upload(message: str) -> None:
        if message.startswith(f"uploading {second}"):
            portal_stack.kill_ckan()

    try:
        with (
            Portal(portal_stack.url, portal_stack.editor_token, backoff_seconds=0.1) as portal,
            pytest.raises(PublishIncomplete) as caught,
        ):
            pipeline.publish_recorded(
                dataset,
                files,
                portal=portal,
                ledger=ledger,
                run_id="kill-1",
                progress=kill_before_second_upload,
            )
    finally:
        portal_stack.start_ckan()
    assert [r.action for r in caught.value.result.resources] == ["created", "failed"]
    half = show(anonymous, dataset.id)
    assert extras(half)["harvest_state"] == "incomplete"  # visible on the portal
    assert [r["name"] for r in half["resources"]] == [files[0].resource]

    with Portal(portal_stack.url, portal_stack.editor_token) as portal:
        result = pipeline.publish_recorded(
            dataset, files, portal=portal, ledger=ledger, run_id="kill-2"
        )
    assert [r.action for r in result.resources] == ["unchanged", "created"]
    assert_converged(anonymous, dataset.id, files)
    failed, ok = ledger.history(dataset.id)[::-1]
    assert (failed.status, ok.status) == ("failed", "success")
    assert {o.resource: o.action for o in failed.outputs} == {
        files[0].resource: "created",
        second: "failed",
    }


def test_http_500_on_reads_is_retried_and_on_create_is_not(
    portal_stack, anonymous, ledger, vornamen, tmp_path
) -> None:
    source, dataset = vornamen
    files, _ = render_for(source, tmp_path, publish_as=dataset)
    with FaultProxy(portal_stack.url) as proxy:
        proxy.add(Rule("/package_show", times=2, status=500))
        proxy.add(Rule("/resource_create", times=1, status=500))
        with Portal(proxy.url, portal_stack.editor_token, backoff_seconds=0.05) as portal:
            with pytest.raises(PublishIncomplete, match="HTTP 500"):
                pipeline.publish_recorded(
                    dataset, files, portal=portal, ledger=ledger, run_id="500-1"
                )
            # package_show answered 500 twice and was retried; resource_create was not
            assert portal.stats.retries == 2
            assert portal.stats.writes["resource_create"] == 1
            answers = [s for _, path, s in proxy.seen if "package_show" in path]
            assert answers == [500, 500, 404]  # 404: the package does not exist yet
        with Portal(proxy.url, portal_stack.editor_token) as portal:
            pipeline.publish_recorded(dataset, files, portal=portal, ledger=ledger, run_id="500-2")
    assert_converged(anonymous, dataset.id, files)


def test_timeout_on_patch_is_retried_and_idempotent(
    portal_stack, anonymous, ledger, vornamen, tmp_path
) -> None:
    source, dataset = vornamen
    old, _ = render_for(source, tmp_path / "old", publish_as=dataset)
    new, _ = render_for(
        source, tmp_path / "new", pipeline.resolve_inputs(source)[:1], publish_as=dataset
    )
    with Portal(portal_stack.url, portal_stack.editor_token) as portal:
        pipeline.publish(dataset, old, portal=portal)
    with FaultProxy(portal_stack.url) as proxy:
        # the first resource_patch answers after the client gave up; CKAN still applies it
        proxy.add(Rule("/resource_patch", times=1, delay=3.0))
        with Portal(
            proxy.url, portal_stack.editor_token, timeout=(5, 1.5), backoff_seconds=0.05
        ) as portal:
            result = pipeline.publish_recorded(
                dataset, new, portal=portal, ledger=ledger, run_id="slow"
            )
            assert portal.stats.retries >= 1
    assert [r.action for r in result.resources] == ["updated", "updated"]
    time.sleep(2)  # let the delayed request land too
    assert_converged(anonymous, dataset.id, new)


def test_timeout_on_create_never_duplicates_a_resource(
    portal_stack, anonymous, ledger, vornamen, tmp_path
) -> None:
    source, dataset = vornamen
    files, _ = render_for(source, tmp_path, publish_as=dataset)
    with FaultProxy(portal_stack.url) as proxy:
        # answered too late: the client fails, CKAN creates the resource anyway
        proxy.add(Rule("/resource_create", times=1, delay=3.0))
        with (
            Portal(
                proxy.url, portal_stack.editor_token, timeout=(5, 1.5), backoff_seconds=0.05
            ) as portal,
            pytest.raises(PublishIncomplete, match="no answer"),
        ):
            pipeline.publish_recorded(dataset, files, portal=portal, ledger=ledger, run_id="t-1")
        time.sleep(3)
    with Portal(portal_stack.url, portal_stack.editor_token) as portal:
        result = pipeline.publish_recorded(
            dataset, files, portal=portal, ledger=ledger, run_id="t-2"
        )
    assert result.resources[0].action == "unchanged"  # found by name, not created again
    assert_converged(anonymous, dataset.id, files)


def test_publishing_process_killed_mid_run_then_rerun_converges(
    portal_stack, anonymous, private_registry, tmp_path
) -> None:
    dataset_id, env = private_registry("vornamen")
    with FaultProxy(portal_stack.url) as proxy:
        # hold the second upload until the process is killed; it never reaches CKAN
        hold = Rule("/resource_create", times=1, delay=60, drop=True)
        first_passes = Rule("/resource_create", times=1)
        proxy.add(first_passes)
        proxy.add(hold)
        process = subprocess.Popen(
            [sys.executable, "-m", "etl.cli", "publish", dataset_id],
            cwd=PROJECT,
            env={
                **os.environ,
                **env,
                "CKAN_URL": proxy.url,
                "CKAN_API_TOKEN": portal_stack.editor_token,
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 120
        while hold.times and time.monotonic() < deadline:
            time.sleep(0.2)
        assert hold.times == 0, "the second upload never started"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    half = show(anonymous, dataset_id)
    assert extras(half)["harvest_state"] == "incomplete"
    assert len(half["resources"]) == 1

    rerun = harvest_cli(
        "publish",
        dataset_id,
        env={**env, "CKAN_URL": portal_stack.url, "CKAN_API_TOKEN": portal_stack.editor_token},
    )
    assert rerun.returncode == 0, rerun.stderr
    package = show(anonymous, dataset_id)
    assert sorted(r["name"] for r in package["resources"]) == [
        f"{dataset_id}.csv",
        f"{dataset_id}.json",
    ]
    assert "harvest_state" not in extras(package)


def test_two_publishes_at_once_serialize_without_duplicates(
    portal_stack, anonymous, private_registry
) -> None:
    dataset_id, env = private_registry("vornamen")
    full_env = {
        **os.environ,
        **env,
        "CKAN_URL": portal_stack.url,
        "CKAN_API_TOKEN": portal_stack.editor_token,
        "COLUMNS": "200",
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "etl.cli", "publish", dataset_id],
            cwd=PROJECT,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    reports = sorted(out for out, _ in outputs)
    assert sum(f"{dataset_id}.csv: created" in r for r in reports) == 1
    assert sum(f"{dataset_id}.csv: unchanged" in r for r in reports) == 1
    package = show(anonymous, dataset_id)
    assert sorted(r["name"] for r in package["resources"]) == [
        f"{dataset_id}.csv",
        f"{dataset_id}.json",
    ]


def test_history_and_rollback_through_the_cli(portal_stack, anonymous, private_registry) -> None:
    dataset_id, env = private_registry("vornamen")
    env = {**env, "CKAN_URL": portal_stack.url, "CKAN_API_TOKEN": portal_stack.editor_token}
    samples = sorted(str(p) for p in (PROJECT / "samples" / "vornamen").glob("*.csv"))
    assert harvest_cli("publish", dataset_id, env=env).returncode == 0  # all years
    v1 = {r["name"]: r["hash"] for r in show(anonymous, dataset_id)["resources"]}
    assert harvest_cli("publish", dataset_id, samples[0], env=env).returncode == 0  # one file
    invalid = Path(env["HARVEST_WORK_DIR"]).parent / "v_2020.csv"
    invalid.write_text("Vorname;Anzahl;Geschlecht\nAnna;0;w\n", encoding="utf-8")
    assert harvest_cli("publish", dataset_id, str(invalid), env=env).returncode == 1
    assert {r["name"]: r["hash"] for r in show(anonymous, dataset_id)["resources"]} != v1

    rolled = harvest_cli("rollback", dataset_id, env=env)
    assert rolled.returncode == 0, rolled.stderr
    assert "rolled back" in rolled.stdout
    assert {r["name"]: r["hash"] for r in show(anonymous, dataset_id)["resources"]} == v1
    assert "harvest_state" not in extras(show(anonymous, dataset_id))

    history = harvest_cli("history", dataset_id, "--json", env=env)
    assert history.returncode == 0
    import json

    attempts = json.loads(history.stdout)
    assert [(a["kind"], a["status"]) for a in attempts] == [
        ("rollback", "success"),
        ("publish", "invalid"),
        ("publish", "success"),
        ("publish", "success"),
    ]
    assert attempts[0]["source_attempt"] == attempts[3]["id"]
    assert attempts[1]["validation"]["examples"][0]["found"] == 0
    assert {o["action"] for o in attempts[0]["outputs"]} == {"updated"}
    assert attempts[3]["inputs"][0]["sha256"]
    for attempt in attempts:
        assert portal_stack.editor_token not in json.dumps(attempt)
