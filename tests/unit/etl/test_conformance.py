"""The DCAT-AP.de 2.0 gate (pySHACL with GovData's shapes): broken metadata is named in German."""

from __future__ import annotations

import time

import pytest

from etl import pipeline
from etl.conformance import check_dataset, check_graph, require_conformant
from etl.dcat import Record, dataset_graph, registry_distributions
from etl.errors import MetadataInvalid
from etl.metadata import resolve
from etl.registry import Dataset, FileFormat, PortalConfig, get_dataset, load_portal_config


def vornamen(**package: object) -> Dataset:
    dataset = get_dataset("vornamen")
    return dataset.model_copy(update={"package": dataset.package.model_copy(update=package)})


def portal(**changes: object) -> PortalConfig:
    return load_portal_config().model_copy(update=changes)


def without_default_licence() -> PortalConfig:
    config = load_portal_config()
    return portal(license=config.license.model_copy(update={"default": None}))


def messages(excinfo: pytest.ExceptionInfo[MetadataInvalid]) -> str:
    return "\n".join(excinfo.value.findings)


def test_registered_record_has_no_violation() -> None:
    report = check_dataset(get_dataset("vornamen"), facts={"temporal_start": "2021-01-01"})
    assert report.violations == []
    assert report.conforms


def test_record_of_rendered_files_has_no_violation(tmp_path) -> None:
    dataset = get_dataset("vornamen")
    tidy = pipeline.transform(dataset, pipeline.extract(dataset, pipeline.resolve_inputs(dataset)))
    files = pipeline.render(dataset, tidy, tmp_path)
    facts = {
        **pipeline.package_facts(dataset, tidy),
        "spatial": {"type": "Point", "coordinates": [6.78, 51.23]},
    }
    report = check_dataset(dataset, facts=facts, files=files)
    assert report.violations == [], [f.line() for f in report.violations]


def test_no_licence_is_refused_with_k31() -> None:
    with pytest.raises(MetadataInvalid) as caught:
        require_conformant(vornamen(license_id=None), config=without_default_licence())
    text = messages(caught)
    assert (
        "K31: dcat:Distribution: dct:license MUSS eine IRI aus http://dcat-ap.de/def/licenses/"
        in text
    )
    assert "https://opendata.duesseldorf.de/dataset/vornamen#vornamen.csv (dct:license)" in text
    assert caught.value.exit_code == 1
    assert "nichts wurde veröffentlicht" in str(caught.value)


def test_licence_outside_the_govdata_list_is_refused() -> None:
    with pytest.raises(MetadataInvalid) as caught:
        require_conformant(vornamen(license_id="cc-by-4.0"))
    assert "K31" in messages(caught)


def test_format_without_an_eu_file_type_is_refused_with_k32() -> None:
    config = load_portal_config()
    typo = FileFormat(iri="http://publications.europa.eu/resource/authority/file-type/CVS")
    with pytest.raises(MetadataInvalid) as caught:
        require_conformant(vornamen(), config=portal(formats={**config.formats, "CSV": typo}))
    text = messages(caught)
    # the shape's text has a double space; findings are whitespace-normalised
    assert "K32: dcat:Distribution: dct:format MUSS eine IRI aus dem EU Vokabular" in text
    assert (
        "vornamen.csv › dct:format <http://publications.europa.eu/resource/authority/file-type/CVS>"
        in text
    )


def test_format_missing_in_the_portal_defaults_is_refused() -> None:
    config = load_portal_config()
    formats = {code: fmt for code, fmt in config.formats.items() if code != "JSON"}
    with pytest.raises(MetadataInvalid) as caught:
        require_conformant(vornamen(), config=portal(formats=formats))
    assert "vornamen.json › dct:format" in messages(caught)
    assert "K32" in messages(caught)


def test_by_licence_without_attribution_text_is_refused_with_k35() -> None:
    config = load_portal_config()
    no_text = portal(license=config.license.model_copy(update={"attribution": None}))
    with pytest.raises(MetadataInvalid) as caught:
        require_conformant(vornamen(license_id="dl-by-de/2.0"), config=no_text)
    assert "K35: dcat:Distribution: Bei einer Lizenz mit Namensnennung MUSS" in messages(caught)
    # with the portal's default attribution the same licence is fine
    assert check_dataset(vornamen(license_id="dl-by-de/2.0")).conforms


def test_contributor_outside_the_govdata_list_is_refused_with_k12() -> None:
    # the pydantic model already refuses this in _portal.yaml; the shapes are the second net
    config = portal(contributor_ids=["https://opendata.duesseldorf.de"])
    with pytest.raises(MetadataInvalid) as caught:
        require_conformant(vornamen(), config=config)
    assert "K12&13: dcat:Dataset: dcatde:contributorID MUSS verwendet werden" in messages(caught)


def test_warnings_are_reported_but_do_not_refuse() -> None:
    report = check_dataset(get_dataset("vornamen"))
    # before the first publication the record has no issued date: a recommendation only
    assert [f.path for f in report.warnings] == ["dct:issued"]
    assert "Veröffentlichungsdatums empfohlen" in report.warnings[0].message
    assert report.conforms


def test_check_refuses_broken_metadata_before_rendering(tmp_path) -> None:
    dataset = vornamen(license_id="cc-by-4.0")
    out = tmp_path / "out"
    with pytest.raises(MetadataInvalid):
        pipeline.check(dataset, pipeline.resolve_inputs(get_dataset("vornamen")), out)
    assert not out.exists()


def test_one_dataset_validates_fast(harvest_report) -> None:
    dataset = get_dataset("vornamen")
    meta = resolve(dataset, load_portal_config(), {"temporal_start": "2021-01-01"})
    graph = dataset_graph(Record(meta, registry_distributions(dataset, meta)), load_portal_config())
    check_graph(graph)  # shapes parsed once per process
    started = time.perf_counter()
    runs = 10
    for _ in range(runs):
        report = check_graph(graph)
    per_dataset = (time.perf_counter() - started) / runs
    harvest_report(
        "SHACL per dataset record", f"{per_dataset * 1000:.0f} ms ({report.triples} triples)"
    )
    assert report.conforms
