"""Publishing into the real local CKAN: create, read back, republish without writes."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from etl import pipeline
from etl.errors import PortalError
from etl.metadata import extras_of
from etl.portal import Portal
from etl.registry import get_dataset, load_registry
from tests.integration.conftest import download, harvest_cli, renamed, render_for, show


def test_cli_publish_creates_then_changes_nothing(portal_stack, anonymous, tmp_path) -> None:
    env = {"CKAN_URL": portal_stack.url, "CKAN_API_TOKEN": portal_stack.editor_token}
    first = harvest_cli("publish", "vornamen", env=env)
    assert first.returncode == 0, first.stderr
    second = harvest_cli("publish", "vornamen", env=env)
    assert second.returncode == 0, second.stderr
    assert "vornamen.csv: unchanged" in second.stdout
    assert "vornamen.json: unchanged" in second.stdout
    assert "package vornamen: unchanged" in second.stdout
    assert "(1 read / 0 write calls" in second.stdout
    for result in (first, second):
        assert portal_stack.editor_token not in result.stdout + result.stderr

    # content on the portal equals what `harvest check` renders
    check = harvest_cli("check", "vornamen", "--out", str(tmp_path), env={})
    assert check.returncode == 0
    package = show(anonymous, "vornamen")
    assert package["organization"]["name"] == "standesamt"
    assert {r["name"]: r["format"] for r in package["resources"]} == {
        "vornamen.csv": "CSV",
        "vornamen.json": "JSON",
    }
    for resource in package["resources"]:
        local = (tmp_path / resource["name"]).read_bytes()
        assert download(portal_stack, resource["url"]) == local
        assert resource["hash"] == "sha256:" + hashlib.sha256(local).hexdigest()


@pytest.mark.parametrize("dataset_id", sorted(load_registry()))
def test_every_dataset_publishes_and_republishes_without_writes(
    dataset_id, editor_portal, anonymous, portal_stack, tmp_path
) -> None:
    source = get_dataset(dataset_id)
    dataset = renamed(source)
    files, facts = render_for(source, tmp_path, publish_as=dataset)
    first = pipeline.publish(dataset, files, portal=editor_portal, facts=facts)
    assert first.package_action == "created"
    assert [r.action for r in first.resources] == ["created"] * len(files)

    second = pipeline.publish(dataset, files, portal=editor_portal, facts=facts)
    assert second.writes == 0
    assert second.reads == 1
    assert {r.action for r in second.resources} == {"unchanged"}
    assert second.package_action == "unchanged"

    package = show(anonymous, dataset.id)
    assert package["title"] == dataset.package.title
    assert sorted(t["name"] for t in package["tags"]) == sorted(set(dataset.package.tags))
    by_name = {r["name"]: r for r in package["resources"]}
    for file in files:
        assert by_name[file.resource]["hash"] == f"sha256:{file.sha256}"
        assert download(portal_stack, by_name[file.resource]["url"]) == Path(file.path).read_bytes()
        # the data dictionary documents every column for users
        for column in dataset.columns:
            assert f"`{column.name}`" in by_name[file.resource]["description"]


def test_changed_input_updates_only_what_changed(editor_portal, anonymous, tmp_path) -> None:
    source = get_dataset("vornamen")
    dataset = renamed(source)
    samples = pipeline.resolve_inputs(source)
    full, full_facts = render_for(source, tmp_path / "full", publish_as=dataset)
    first = dt.datetime(2025, 3, 7, 5, 0, tzinfo=dt.UTC)
    pipeline.publish(dataset, full, portal=editor_portal, facts=full_facts, now=first)
    before = show(anonymous, dataset.id)

    fewer, facts = render_for(source, tmp_path / "fewer", samples[:2], publish_as=dataset)
    later = first + dt.timedelta(days=7)
    result = pipeline.publish(dataset, fewer, portal=editor_portal, facts=facts, now=later)
    # the package changes only in what the new content implies: `modified` and the
    # temporal coverage of the fewer years. Writes: the package patch that carries
    # them and the incomplete mark, two uploads, the patch removing the mark.
    assert result.package_action == "updated"
    assert [r.action for r in result.resources] == ["updated", "updated"]
    assert result.writes == 4
    package = show(anonymous, dataset.id)
    assert len(package["resources"]) == 2  # patched in place, never duplicated
    assert "harvest_state" not in {e["key"] for e in package["extras"]}
    assert {r["hash"] for r in package["resources"]} == {f"sha256:{f.sha256}" for f in fewer}
    changed = {
        key
        for key in extras_of(package).keys() | extras_of(before).keys()
        if extras_of(package).get(key) != extras_of(before).get(key)
    }
    assert changed <= {"modified", "temporal_start", "temporal_end"}
    assert extras_of(package)["modified"] == "2025-03-14T05:00:00Z"
    assert extras_of(package)["issued"] == extras_of(before)["issued"]


def test_bad_token_is_a_clear_error_and_writes_nothing(
    portal_stack, editor_portal, anonymous, tmp_path
) -> None:
    source = get_dataset("vornamen")
    dataset = renamed(source)
    full, _ = render_for(source, tmp_path / "full", publish_as=dataset)
    pipeline.publish(dataset, full, portal=editor_portal)
    before = show(anonymous, dataset.id)

    changed, _ = render_for(
        source, tmp_path / "changed", pipeline.resolve_inputs(source)[:1], publish_as=dataset
    )
    with (
        Portal(portal_stack.url, "not-a-valid-token-4711") as bad,
        pytest.raises(PortalError, match="not authorized") as caught,
    ):
        pipeline.publish(dataset, changed, portal=bad)
    assert "not-a-valid-token-4711" not in str(caught.value)
    after = show(anonymous, dataset.id)
    assert after["metadata_modified"] == before["metadata_modified"]
    assert [r["hash"] for r in after["resources"]] == [r["hash"] for r in before["resources"]]


def test_cli_bad_token_exits_3_without_leaking_it(portal_stack) -> None:
    result = harvest_cli(
        "publish",
        "vornamen",
        "samples/vornamen/Vornamen_2022.csv",
        env={"CKAN_URL": portal_stack.url, "CKAN_API_TOKEN": "bogus-token-0815"},
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "not authorized" in result.stderr
    assert "bogus-token-0815" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_dry_run_plans_without_writing(portal_stack, anonymous) -> None:
    result = harvest_cli(
        "publish",
        "vornamen",
        "samples/vornamen/Vornamen_2022.csv",
        "--dry-run",
        env={"CKAN_URL": portal_stack.url, "CKAN_API_TOKEN": portal_stack.editor_token},
    )
    assert result.returncode == 0, result.stderr
    assert "plan (dry run)" in result.stdout
    assert " 0 write calls" in result.stdout


def test_portal_down_is_a_clear_error(tmp_path) -> None:
    with Portal("http://127.0.0.1:9", "x", max_attempts=2, backoff_seconds=0.05) as portal:
        files, _ = render_for(get_dataset("vornamen"), tmp_path)
        with pytest.raises(PortalError, match="not reachable"):
            pipeline.publish(get_dataset("vornamen"), files, portal=portal)
