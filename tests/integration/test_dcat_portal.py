"""DCAT-AP.de on the real local CKAN: extras anyone can read, stamps that follow the
content, a harvestable catalogue whose download URLs resolve, and the DAG's gate."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil

import requests
import yaml
from rdflib import Graph, URIRef
from rdflib.namespace import DCAT, DCTERMS, XSD

from etl import pipeline
from etl.metadata import extras_of
from etl.registry import get_dataset, load_portal_config
from tests.conftest import PROJECT
from tests.integration.conftest import airflow_dags_test, harvest_cli, renamed, show
from tests.integration.conftest import render_for as rendered

UTC_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
T1 = dt.datetime(2025, 3, 7, 5, 0, tzinfo=dt.UTC)
T2, T3, T4, T5 = (T1 + dt.timedelta(days=d) for d in (7, 14, 21, 28))


def test_dcat_extras_are_public_and_a_republish_writes_nothing(
    editor_portal, anonymous, tmp_path
) -> None:
    source = get_dataset("vornamen")
    dataset = renamed(source)
    files, facts = rendered(source, tmp_path, publish_as=dataset)
    pipeline.publish(dataset, files, portal=editor_portal, facts=facts)

    package = show(anonymous, dataset.id)
    extras = extras_of(package)
    config = load_portal_config()
    assert package["license_id"] == "http://dcat-ap.de/def/licenses/dl-zero-de/2.0"
    assert json.loads(extras["theme"]) == [
        "http://publications.europa.eu/resource/authority/data-theme/SOCI"
    ]
    assert (
        extras["frequency"] == "http://publications.europa.eu/resource/authority/frequency/ANNUAL"
    )
    assert json.loads(extras["contributorID"]) == config.contributor_ids
    assert json.loads(extras["politicalGeocodingURI"]) == [
        "http://dcat-ap.de/def/politicalGeocoding/districtKey/05111"
    ]
    assert (
        extras["politicalGeocodingLevelURI"]
        == "http://dcat-ap.de/def/politicalGeocoding/Level/municipality"
    )
    assert extras["publisher_name"] == "Landeshauptstadt Düsseldorf"
    assert (extras["temporal_start"], extras["temporal_end"]) == (
        facts["temporal_start"],
        facts["temporal_end"],
    )
    assert UTC_Z.match(extras["issued"]) and extras["modified"] == extras["issued"]
    assert {r.get("licenseAttributionByText") or "" for r in package["resources"]} == {""}

    again = pipeline.publish(dataset, files, portal=editor_portal, facts=facts)
    assert (again.reads, again.writes, again.package_action) == (1, 0, "unchanged")
    assert extras_of(show(anonymous, dataset.id)) == extras


def test_issued_and_modified_follow_the_content_not_the_runs(
    editor_portal, anonymous, tmp_path
) -> None:
    source = get_dataset("vornamen")
    dataset = renamed(source)
    full, full_facts = rendered(source, tmp_path / "full", publish_as=dataset)

    def stamps() -> tuple[str, str]:
        extras = extras_of(show(anonymous, dataset.id))
        return extras["issued"], extras["modified"]

    pipeline.publish(dataset, full, portal=editor_portal, facts=full_facts, now=T1)
    assert stamps() == ("2025-03-07T05:00:00Z", "2025-03-07T05:00:00Z")

    unchanged = pipeline.publish(dataset, full, portal=editor_portal, facts=full_facts, now=T2)
    assert unchanged.writes == 0
    assert stamps() == ("2025-03-07T05:00:00Z", "2025-03-07T05:00:00Z")

    # a metadata edit is no content change
    retitled = dataset.model_copy(
        update={"package": dataset.package.model_copy(update={"title": "Vornamen (neu)"})}
    )
    edit = pipeline.publish(retitled, full, portal=editor_portal, facts=full_facts, now=T3)
    assert (edit.package_action, edit.writes) == ("updated", 1)
    assert stamps() == ("2025-03-07T05:00:00Z", "2025-03-07T05:00:00Z")

    fewer, fewer_facts = rendered(
        source, tmp_path / "fewer", pipeline.resolve_inputs(source)[:2], publish_as=dataset
    )
    new_content = pipeline.publish(retitled, fewer, portal=editor_portal, facts=fewer_facts, now=T4)
    assert [r.action for r in new_content.resources] == ["updated", "updated"]
    assert stamps() == ("2025-03-07T05:00:00Z", "2025-03-28T05:00:00Z")

    quiet = pipeline.publish(retitled, fewer, portal=editor_portal, facts=fewer_facts, now=T5)
    assert quiet.writes == 0
    assert stamps() == ("2025-03-07T05:00:00Z", "2025-03-28T05:00:00Z")


def test_attribution_of_a_by_licence_reaches_the_resources_and_is_cleared_again(
    editor_portal, anonymous, tmp_path
) -> None:
    source = get_dataset("vornamen")
    base = renamed(source)
    by = base.model_copy(
        update={"package": base.package.model_copy(update={"license_id": "dl-by-de/2.0"})}
    )
    files, facts = rendered(source, tmp_path, publish_as=by)
    pipeline.publish(by, files, portal=editor_portal, facts=facts)
    package = show(anonymous, by.id)
    assert package["license_id"] == "http://dcat-ap.de/def/licenses/dl-by-de/2.0"
    assert {r["licenseAttributionByText"] for r in package["resources"]} == {
        "Landeshauptstadt Düsseldorf"
    }
    assert pipeline.publish(by, files, portal=editor_portal, facts=facts).writes == 0

    # back to the zero licence: the text goes, and the next run is quiet again
    pipeline.publish(base, files, portal=editor_portal, facts=facts)
    package = show(anonymous, base.id)
    assert {r.get("licenseAttributionByText") or "" for r in package["resources"]} == {""}
    assert pipeline.publish(base, files, portal=editor_portal, facts=facts).writes == 0


def test_catalog_from_the_portal_has_download_urls_that_resolve(portal_stack, tmp_path) -> None:
    published = harvest_cli(
        "publish",
        "vornamen",
        env={"CKAN_URL": portal_stack.url, "CKAN_API_TOKEN": portal_stack.editor_token},
    )
    assert published.returncode == 0, published.stderr

    out = tmp_path / "catalog.ttl"
    # the public view: no token
    result = harvest_cli(
        "catalog", "--out", str(out), "--validate", env={"CKAN_URL": portal_stack.url}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"source: portal {portal_stack.url}" in result.stdout
    assert "konform – 0 Verstöße" in result.stdout

    graph = Graph().parse(out, format="turtle")
    dataset = URIRef("https://opendata.duesseldorf.de/dataset/vornamen")
    assert graph.value(dataset, DCAT.landingPage) == URIRef(f"{portal_stack.url}/dataset/vornamen")
    issued = graph.value(dataset, DCTERMS.issued)
    assert issued.datatype == XSD.dateTime and issued.value.utcoffset() == dt.timedelta(0)
    assert re.search(
        r'dct:issued "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"\^\^xsd:dateTime', out.read_text()
    )
    distributions = set(graph.objects(dataset, DCAT.distribution))
    assert len(distributions) == 2
    downloads = [graph.value(d, DCAT.downloadURL) for d in distributions]
    assert all(str(url).startswith(portal_stack.url) for url in downloads)
    for url in graph.objects(None, DCAT.downloadURL):
        response = requests.get(str(url), timeout=30)
        assert response.status_code == 200, url
    hashes = {r["url"]: r["hash"] for r in show_public(portal_stack.url, "vornamen")["resources"]}
    for url in downloads:
        content = requests.get(str(url), timeout=30).content
        assert hashes[str(url)] == "sha256:" + hashlib.sha256(content).hexdigest()
    for distribution in distributions:
        access = requests.get(str(graph.value(distribution, DCAT.accessURL)), timeout=30)
        assert access.status_code == 200


def show_public(url: str, name: str) -> dict:
    response = requests.get(f"{url}/api/3/action/package_show", params={"id": name}, timeout=30)
    response.raise_for_status()
    result: dict = response.json()["result"]
    return result


def test_dag_validate_task_refuses_broken_metadata(airflow_test_env, anonymous, tmp_path) -> None:
    registry = tmp_path / "registry"
    shutil.copytree(PROJECT / "registry", registry)
    entry = yaml.safe_load((registry / "vornamen.yaml").read_text(encoding="utf-8"))
    entry["package"]["license_id"] = "cc-by-4.0"  # not a term of the DCAT-AP.de licences
    (registry / "vornamen.yaml").write_text(yaml.safe_dump(entry), encoding="utf-8")
    before = _show_or_none(anonymous, "vornamen")

    result = airflow_dags_test({**airflow_test_env, "HARVEST_REGISTRY": str(registry)}, "vornamen")
    output = result.stdout + result.stderr
    assert "DagRun failed" in output
    assert (
        "K31: dcat:Distribution: dct:license MUSS eine IRI aus http://dcat-ap.de/def/licenses/"
        in (output)
    )
    after = _show_or_none(anonymous, "vornamen")
    if before is None:
        assert after is None
    else:
        assert after is not None and after["metadata_modified"] == before["metadata_modified"]


def _show_or_none(client, name: str) -> dict | None:
    import ckanapi

    try:
        return show(client, name)
    except ckanapi.NotFound:
        return None


def test_catalog_lists_only_what_the_public_sees(portal_stack, editor_portal, tmp_path) -> None:
    from etl.dcat import build_catalog
    from etl.portal import Portal

    source = get_dataset("vornamen")
    public = renamed(source)
    hidden = renamed(source).model_copy(update={"release": "queued"})
    for dataset in (public, hidden):
        files, facts = rendered(source, tmp_path / dataset.id, publish_as=dataset)
        pipeline.publish(dataset, files, portal=editor_portal, facts=facts)
    absent = renamed(source)

    # the registry may already call `hidden` public while the portal still keeps it private
    registry = {d.id: d for d in (public, hidden.model_copy(update={"release": "public"}), absent)}
    with Portal(portal_stack.url) as anonymous_portal:
        build = build_catalog(registry, load_portal_config(), portal=anonymous_portal)
    assert [r.meta.dataset_id for r in build.records] == [public.id]
    assert build.skipped == {
        hidden.id: "auf dem Portal nicht öffentlich",
        absent.id: f"nicht auf dem Portal {portal_stack.url}",
    }
    (record,) = build.records
    assert all(d.download_url for d in record.distributions)
