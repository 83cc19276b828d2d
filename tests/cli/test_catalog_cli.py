"""`harvest catalog` and the metadata gate of `harvest check`, as a user runs them."""

from __future__ import annotations

import shutil

import yaml
from rdflib import Graph, URIRef
from rdflib.namespace import DCAT, RDF

from tests.cli.test_harvest_cli import assert_no_traceback, harvest
from tests.conftest import PROJECT

DATASET = URIRef("https://opendata.duesseldorf.de/dataset/vornamen")


def test_catalog_from_the_registry_as_turtle_validates(tmp_path) -> None:
    out = tmp_path / "catalog.ttl"
    result = harvest("catalog", "--out", str(out), "--validate", "--registry-only")
    assert result.returncode == 0, result.stderr
    assert "source: registry" in result.stdout
    assert "konform – 0 Verstöße" in result.stdout
    graph = Graph().parse(out, format="turtle")
    assert (DATASET, RDF.type, DCAT.Dataset) in graph
    assert len(set(graph.objects(DATASET, DCAT.distribution))) == 2


def test_catalog_as_rdf_xml(tmp_path) -> None:
    out = tmp_path / "catalog.rdf"
    result = harvest("catalog", "--out", str(out), "--format", "xml", "--registry-only")
    assert result.returncode == 0, result.stderr
    assert out.read_bytes().startswith(b"<?xml")
    assert (DATASET, RDF.type, DCAT.Dataset) in Graph().parse(out, format="xml")


def test_unreachable_portal_falls_back_to_the_registry(tmp_path) -> None:
    out = tmp_path / "catalog.ttl"
    result = harvest("catalog", "--out", str(out), env={"CKAN_URL": "http://127.0.0.1:9"})
    assert result.returncode == 0, result.stderr
    assert "portal not reachable" in result.stderr
    assert "source: registry" in result.stdout
    assert out.exists()


def test_unknown_format_is_a_configuration_error(tmp_path) -> None:
    result = harvest("catalog", "--out", str(tmp_path / "c.json"), "--format", "json-ld")
    assert result.returncode == 4
    assert "use turtle or xml" in result.stderr


def broken_registry(tmp_path):
    """A copy of the registry where vornamen has no licence (and the portal no default)."""
    registry = tmp_path / "registry"
    shutil.copytree(PROJECT / "registry", registry)
    portal = yaml.safe_load((registry / "_portal.yaml").read_text(encoding="utf-8"))
    portal["license"]["default"] = None
    (registry / "_portal.yaml").write_text(yaml.safe_dump(portal), encoding="utf-8")
    entry = yaml.safe_load((registry / "vornamen.yaml").read_text(encoding="utf-8"))
    del entry["package"]["license_id"]
    (registry / "vornamen.yaml").write_text(yaml.safe_dump(entry), encoding="utf-8")
    return {"HARVEST_REGISTRY": str(registry)}


def test_catalog_validate_prints_violations_in_german_and_exits_1(tmp_path) -> None:
    env = broken_registry(tmp_path)
    result = harvest("catalog", "--out", str(tmp_path / "c.ttl"), "--validate", env=env)
    assert result.returncode == 1
    assert "vornamen#vornamen.csv (dct:license): K31: dcat:Distribution: dct:license MUSS" in (
        result.stderr
    )
    assert "2 Verstöße" in result.stderr
    assert_no_traceback(result)


def test_check_refuses_a_dataset_whose_record_breaks_the_shapes(tmp_path) -> None:
    env = broken_registry(tmp_path)
    out = tmp_path / "out"
    result = harvest("check", "vornamen", "--out", str(out), env=env)
    assert result.returncode == 1
    assert "vornamen: Metadaten nicht DCAT-AP.de-konform – 2 Verstöße" in result.stderr
    assert "K31: dcat:Distribution: dct:license MUSS eine IRI" in result.stderr
    assert not out.exists()
    assert_no_traceback(result)


def test_publish_refuses_before_contacting_the_portal(tmp_path) -> None:
    # the portal URL answers nothing: exit 1 (not 3) shows the gate came first
    env = {**broken_registry(tmp_path), "CKAN_URL": "http://127.0.0.1:9", "CKAN_API_TOKEN": "t"}
    result = harvest("publish", "vornamen", env=env)
    assert result.returncode == 1, result.stderr
    assert "K31" in result.stderr
    assert "not reachable" not in result.stderr


def test_help_lists_catalog() -> None:
    result = harvest("--help")
    assert "catalog" in result.stdout
