"""Publishing many datasets at once (`etl.sync`, `harvest sync`) against the real CKAN:
one search read decides that unchanged datasets need nothing, changes are written in
parallel, and a stale read can never lead to a duplicate resource."""

from __future__ import annotations

import re

from etl.portal import Portal
from etl.portal import publish as publish_one
from etl.registry import get_dataset
from etl.sync import SyncItem, prefetch, sync
from tests.conftest import PROJECT
from tests.integration.conftest import harvest_cli, renamed, render_for, show

SOURCES = ("vornamen", "flaeche-stadtbezirke", "stadtbezirke", "sirenenstandorte")


def _items(tmp_path) -> list[SyncItem]:
    items = []
    for source_id in SOURCES:
        source = get_dataset(source_id)
        dataset = renamed(source)
        files, facts = render_for(source, tmp_path / dataset.id, publish_as=dataset)
        items.append(SyncItem(dataset, files, facts))
    return items


def test_sync_creates_in_parallel_then_costs_one_read_and_no_write(
    portal_stack, anonymous, tmp_path
) -> None:
    items = _items(tmp_path)
    with Portal(portal_stack.url, portal_stack.editor_token) as portal:
        first = sync(items, portal=portal, workers=3)
        again = sync(items, portal=portal, workers=3)

    assert first.failures == {}
    assert {r.dataset for r in first.results} == {i.dataset.id for i in items}
    assert set(first.actions()) == {"created"}
    assert first.bytes_uploaded == sum(f.size for i in items for f in i.files)

    assert again.failures == {}
    assert dict(again.writes) == {}
    assert dict(again.reads) == {"package_search": 1}
    assert set(again.actions()) == {"unchanged"}
    assert again.bytes_uploaded == 0
    for item in items:  # what the public sees: every file once, with its hash
        package = show(anonymous, item.dataset.id)
        assert sorted((r["name"], r["hash"]) for r in package["resources"]) == sorted(
            (f.resource, f"sha256:{f.sha256}") for f in item.files
        )


def test_a_stale_search_result_is_read_again_before_writing(
    editor_portal, anonymous, tmp_path
) -> None:
    source = get_dataset("vornamen")
    dataset = renamed(source)
    full, facts = render_for(source, tmp_path / "full", publish_as=dataset)
    publish_one(dataset, full, portal=editor_portal, facts=facts)
    stale = prefetch(editor_portal, [dataset.id])[dataset.id]

    # another run publishes other content after the search was made
    years = sorted((PROJECT / "samples" / "vornamen").glob("*.csv"))
    fewer, fewer_facts = render_for(source, tmp_path / "fewer", years[:1], publish_as=dataset)
    publish_one(dataset, fewer, portal=editor_portal, facts=fewer_facts)

    # publishing that same content with the stale state: it is read again, nothing written
    before = editor_portal.stats.write_calls
    result = publish_one(dataset, fewer, portal=editor_portal, facts=fewer_facts, current=stale)
    assert editor_portal.stats.write_calls == before
    assert {r.action for r in result.resources} == {"unchanged"}
    package = show(anonymous, dataset.id)
    assert len(package["resources"]) == len(fewer)
    assert sorted(r["hash"] for r in package["resources"]) == sorted(
        f"sha256:{f.sha256}" for f in fewer
    )


def test_harvest_sync_publishes_every_registry_dataset_then_writes_nothing(
    portal_stack, private_registry, anonymous
) -> None:
    first_id, env = private_registry("vornamen")
    second_id, env = private_registry("flaeche-stadtbezirke")
    env = {**env, "CKAN_URL": portal_stack.url, "CKAN_API_TOKEN": portal_stack.editor_token}

    created = harvest_cli("sync", "--workers", "2", env=env)
    assert created.returncode == 0, created.stderr
    assert "2 dataset(s) published, 2 changed" in created.stdout
    for dataset_id in (first_id, second_id):
        assert show(anonymous, dataset_id)["resources"]

    again = harvest_cli("sync", env=env)
    assert again.returncode == 0, again.stderr
    assert re.search(r"2 dataset\(s\) published, 0 changed; 1 read / 0 write calls", again.stdout)

    history = harvest_cli("history", first_id, "--json", env=env)
    import json

    assert [a["status"] for a in json.loads(history.stdout)] == ["success", "success"]


def test_harvest_sync_goes_on_past_a_broken_dataset_and_exits_with_its_code(
    portal_stack, private_registry, anonymous, tmp_path
) -> None:
    good_id, env = private_registry("flaeche-stadtbezirke")
    bad_id, env = private_registry("vornamen")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "Vornamen_2021_weiblich.csv").write_text("Name;Anzahl\nAnna;0\n", encoding="utf-8")
    registry = tmp_path / "registry" / f"{bad_id}.yaml"
    text = registry.read_text(encoding="utf-8")
    registry.write_text(
        re.sub(r"paths:\n(\s+- .*\n)+", f"paths:\n    - {broken}/*.csv\n", text, count=1),
        encoding="utf-8",
    )
    env = {**env, "CKAN_URL": portal_stack.url, "CKAN_API_TOKEN": portal_stack.editor_token}

    run = harvest_cli("sync", env=env)
    assert run.returncode == 1, run.stdout + run.stderr
    assert bad_id in run.stderr
    assert "1 dataset(s) published, 1 changed" in run.stdout
    assert show(anonymous, good_id)["resources"]
