"""The whole local portal (devstack/portal.py): real CKAN 2.12, stand-in and PostgreSQL.

One stack for the module, started in a temporary directory on free ports with its own
database, so it runs next to a demo instance on the default ports. Every test uses its own
dataset names. The last test stops the stack and checks that no process is left.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ckanapi
import pytest
import requests

from devstack.ckan import ensure_organization
from devstack.portal import PortalStack, start_portal
from devstack.postgres import drop_database
from devstack.processes import cmdline, pid_alive, port_open

pytestmark = pytest.mark.integration

TIMEOUT = {"timeout": 30}
STARTUP: dict[str, float] = {}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalStack]:
    db_name = f"ckan_test_{uuid.uuid4().hex[:10]}"
    began = time.monotonic()
    portal = start_portal(tmp_path_factory.mktemp("portal"), db_name=db_name)
    STARTUP["start_portal"] = time.monotonic() - began
    yield portal
    portal.stop()
    if not portal.postgres.embedded:  # an embedded server's data goes with the temp dir
        drop_database(portal.postgres.url, db_name)


@pytest.fixture(scope="module")
def organization(stack: PortalStack) -> str:
    name = f"stadt-{uuid.uuid4().hex[:8]}"
    ensure_organization(
        stack.url, stack.sysadmin_token, name, "Landeshauptstadt Düsseldorf", [stack.editor_user]
    )
    return name


@pytest.fixture(scope="module")
def editor(stack: PortalStack, organization: str) -> ckanapi.RemoteCKAN:
    return ckanapi.RemoteCKAN(stack.url, apikey=stack.editor_token, user_agent="devstack-tests")


def call(client: ckanapi.RemoteCKAN, action: str, data: dict[str, Any], **kwargs: Any) -> Any:
    return client.call_action(action, data, requests_kwargs=TIMEOUT, **kwargs)


def search(stack: PortalStack, **query: Any) -> dict[str, Any]:
    """package_search as an anonymous visitor."""
    anonymous = ckanapi.RemoteCKAN(stack.url, user_agent="devstack-tests")
    return call(anonymous, "package_search", query)  # type: ignore[no-any-return]


def new_dataset(editor: ckanapi.RemoteCKAN, organization: str, **fields: Any) -> dict[str, Any]:
    name = f"{fields.pop('prefix', 'ds')}-{uuid.uuid4().hex[:8]}"
    data = {"name": name, "title": name, "owner_org": organization, **fields}
    return call(editor, "package_create", data)  # type: ignore[no-any-return]


def test_stack_is_separate_from_the_default_instance(
    stack: PortalStack, harvest_report: Any
) -> None:
    harvest_report("devstack start_portal (this session)", f"{STARTUP['start_portal']:.1f} s")
    assert stack.url.startswith("http://127.0.0.1:")
    assert stack.ckan_port != 5000 and stack.solr_port != 8983
    assert ".stack" not in str(stack.stack_dir)
    assert stack.credentials_file.stat().st_mode & 0o777 == 0o600
    status = requests.get(f"{stack.url}/api/3/action/status_show", timeout=30).json()
    assert status["result"]["ckan_version"] == "2.12.0"


def test_editor_is_editor_not_sysadmin(
    stack: PortalStack, editor: ckanapi.RemoteCKAN, organization: str
) -> None:
    user = call(editor, "user_show", {"id": stack.editor_user})
    capacity = call(
        editor,
        "organization_list_for_user",
        {"id": stack.editor_user, "permission": "create_dataset"},
    )
    again = ensure_organization(
        stack.url, stack.sysadmin_token, organization, "ignored", [stack.editor_user]
    )
    assert again["name"] == organization and again["title"] == "Landeshauptstadt Düsseldorf"
    assert user["sysadmin"] is False
    assert [o["name"] for o in capacity] == [organization]
    assert capacity[0]["capacity"] == "editor"
    with pytest.raises(ckanapi.NotAuthorized):
        call(editor, "organization_create", {"name": f"nope-{uuid.uuid4().hex[:6]}"})


def test_publish_with_upload_and_find_by_text_and_organization(
    stack: PortalStack, editor: ckanapi.RemoteCKAN, organization: str
) -> None:
    word = f"rheinpegel{uuid.uuid4().hex[:6]}"
    dataset = new_dataset(editor, organization, prefix="pegel", notes=f"Messwerte {word}")
    content = b"datum;pegel_cm\n2024-06-01;312\n"
    resource = call(
        editor,
        "resource_create",
        {"package_id": dataset["id"], "name": "pegel.csv", "format": "CSV"},
        files={"upload": ("pegel.csv", io.BytesIO(content))},
    )

    download = requests.get(resource["url"], timeout=30)
    by_text = search(stack, q=word)
    by_org = search(stack, fq=f'organization:"{organization}"', rows=1000)

    assert download.content == content
    assert [d["name"] for d in by_text["results"]] == [dataset["name"]]
    assert by_text["results"][0]["resources"][0]["format"] == "CSV"
    assert dataset["name"] in [d["name"] for d in by_org["results"]]
    assert search(stack, q=word, fq='organization:"some-other-org"')["count"] == 0


def test_tag_facet_counts(
    stack: PortalStack, editor: ckanapi.RemoteCKAN, organization: str
) -> None:
    marker = f"facet{uuid.uuid4().hex[:6]}"
    shared, only_one = f"{marker}-Bevölkerung", f"{marker}-Vornamen"
    new_dataset(editor, organization, tags=[{"name": shared}, {"name": only_one}])
    new_dataset(editor, organization, tags=[{"name": shared}])

    result = search(stack, fq=f'tags:"{shared}"', **{"facet.field": '["tags"]', "rows": 0})

    assert result["count"] == 2
    assert result["facets"]["tags"] == {shared: 2, only_one: 1}
    items = {i["name"]: i["count"] for i in result["search_facets"]["tags"]["items"]}
    assert items == {shared: 2, only_one: 1}


def test_dataset_page_lists_the_dataset(
    stack: PortalStack, editor: ckanapi.RemoteCKAN, organization: str
) -> None:
    title = f"Wahlergebnisse {uuid.uuid4().hex[:6]}"
    dataset = new_dataset(editor, organization, prefix="wahlen", title=title)

    listing = requests.get(f"{stack.url}/dataset/", timeout=30)
    organization_page = requests.get(f"{stack.url}/organization/{organization}", timeout=30)

    assert listing.status_code == 200
    assert f'href="/dataset/{dataset["name"]}"' in listing.text
    assert title in listing.text
    assert organization_page.status_code == 200
    assert title in organization_page.text


def test_package_patch_is_reflected_in_search(
    stack: PortalStack, editor: ckanapi.RemoteCKAN, organization: str
) -> None:
    before, after = f"alt{uuid.uuid4().hex[:6]}", f"neu{uuid.uuid4().hex[:6]}"
    dataset = new_dataset(editor, organization, notes=f"Beschreibung {before}")

    call(editor, "package_patch", {"id": dataset["id"], "notes": f"Beschreibung {after}"})

    assert search(stack, q=before)["count"] == 0
    assert [d["name"] for d in search(stack, q=after)["results"]] == [dataset["name"]]
    assert search(stack, q=after)["results"][0]["notes"] == f"Beschreibung {after}"


def test_ckan_can_be_killed_and_restarted(
    stack: PortalStack, editor: ckanapi.RemoteCKAN, organization: str
) -> None:
    dataset = new_dataset(editor, organization, prefix="ueberlebt")

    stack.kill_ckan()
    down = port_open(stack.ckan_port)
    stack.start_ckan()

    assert not down
    assert search(stack, q=f"name:{dataset['name']}")["count"] == 1


def test_stop_leaves_no_process_behind(stack: PortalStack) -> None:
    def processes_of_stack() -> list[int]:
        marker = str(stack.stack_dir)
        return [
            int(p.name)
            for p in Path("/proc").iterdir()
            if p.name.isdigit()
            and pid_alive(int(p.name))
            and marker in " ".join(cmdline(int(p.name)))
        ]

    assert processes_of_stack(), "the stack's CKAN and stand-in should be running before stop()"

    stack.stop()
    stack.stop()  # idempotent

    assert processes_of_stack() == []
    assert not port_open(stack.ckan_port)
    assert not port_open(stack.solr_port)
