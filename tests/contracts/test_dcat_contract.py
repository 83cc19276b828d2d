"""DCAT-AP.de contract: the portal defaults validate and every registry entry yields a
record that GovData accepts (zero violations of the DCAT-AP.de 2.0 shapes)."""

from __future__ import annotations

import typing

import pytest
from rdflib import Graph, URIRef
from rdflib.namespace import SKOS

from etl.conformance import SHAPE_FILES, check_dataset, check_graph, shapes
from etl.dcat import SHAPES_DIR, build_catalog, vocabularies
from etl.metadata import DATA_THEMES, FREQUENCIES, LANGUAGES, license_iri
from etl.registry import (
    FrequencyCode,
    ThemeCode,
    load_portal_config,
    load_portal_file,
    load_registry,
    registry_dir,
)

IDS = sorted(load_registry())


def in_scheme(iri: str) -> bool:
    return vocabularies().value(URIRef(iri), SKOS.inScheme) is not None


def test_portal_defaults_file_validates() -> None:
    config = load_portal_file(registry_dir() / "_portal.yaml")
    assert config == load_portal_config()


def test_portal_defaults_use_known_vocabulary_terms() -> None:
    config = load_portal_config()
    assert config.license.default is not None
    assert in_scheme(license_iri(config.license.default))
    assert all(in_scheme(iri) for iri in config.political_geocoding.uris)
    assert all(in_scheme(f.iri) for f in config.formats.values())
    assert all(in_scheme(LANGUAGES + code) for code in config.languages)
    assert sum(in_scheme(iri) for iri in config.contributor_ids) == 1


def test_registry_codes_and_vocabulary_snapshot_agree() -> None:
    for code in typing.get_args(ThemeCode):
        assert in_scheme(DATA_THEMES + code), code
    for code in typing.get_args(FrequencyCode):
        assert in_scheme(FREQUENCIES + code), code


def test_shapes_are_the_documented_upstream_files() -> None:
    notes = (SHAPES_DIR / "README.md").read_text(encoding="utf-8")
    assert "2cc6629fc32b4a0ff0016a063e10066c87c7be2d" in notes and "CC BY 4.0" in notes
    for name in SHAPE_FILES:
        assert len(Graph().parse(SHAPES_DIR / name, format="turtle")), name
    # the GovData conventions are part of what is checked
    for shape in (
        "Konv12_13_contributorID_v_List",
        "Konv31_dct_license_v_List",
        "Konv36_dct_publisher_v_Min",
    ):
        assert (URIRef(f"http://dcat-ap.de/def/dcatde/{shape}"), None, None) in shapes()


@pytest.mark.parametrize("dataset_id", IDS)
def test_every_dataset_names_its_dcat_fields(dataset_id: str) -> None:
    dataset = load_registry()[dataset_id]
    config = load_portal_config()
    assert dataset.package.themes and dataset.package.frequency
    assert dataset.package.license_id or config.license.default
    for resource in dataset.resources:
        assert resource.format in config.formats, f"{resource.format} missing in _portal.yaml"


@pytest.mark.parametrize("dataset_id", IDS)
def test_every_dataset_record_conforms(dataset_id: str) -> None:
    report = check_dataset(load_registry()[dataset_id])
    assert report.violations == [], "\n".join(f.line() for f in report.violations)


def test_registry_catalogue_conforms() -> None:
    build = build_catalog(load_registry(), load_portal_config())
    assert [r.meta.dataset_id for r in build.records] == [
        i for i in IDS if load_registry()[i].release == "public"
    ]
    report = check_graph(build.graph)
    assert report.violations == [], "\n".join(f.line() for f in report.violations)
