"""The DCAT-AP.de RDF: what a harvester reads about a dataset and the catalogue."""

from __future__ import annotations

from rdflib import Graph, Literal, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, SKOS, XSD

from etl.conformance import check_graph
from etl.dcat import (
    DCATDE,
    GSP,
    LOCN,
    VCARD,
    Record,
    catalog_graph,
    catalog_iri,
    dataset_graph,
    package_distributions,
    registry_distributions,
    serialize,
)
from etl.metadata import resolve
from etl.registry import get_dataset, load_portal_config

BASE = "https://opendata.duesseldorf.de"
DS = URIRef(f"{BASE}/dataset/vornamen")
POLYGON = {
    "type": "Polygon",
    "coordinates": [[[6.68, 51.12], [6.94, 51.12], [6.94, 51.35], [6.68, 51.35], [6.68, 51.12]]],
}


def record(facts=None, **stamps) -> Record:
    dataset = get_dataset("vornamen")
    meta = resolve(dataset, load_portal_config(), facts, **stamps)
    return Record(meta, registry_distributions(dataset, meta))


def graph(facts=None, **stamps) -> Graph:
    return dataset_graph(record(facts, **stamps), load_portal_config())


def test_dataset_core_properties() -> None:
    g = graph()
    assert (DS, RDF.type, DCAT.Dataset) in g
    assert g.value(DS, DCTERMS.title) == Literal(
        "Vornamen von Neugeborenen in Düsseldorf", lang="de"
    )
    description = str(g.value(DS, DCTERMS.description))
    assert "Spalten:" in description and "- anzahl (integer):" in description
    assert set(g.objects(DS, DCAT.keyword)) == {
        Literal(k, lang="de") for k in ("Vornamen", "Geburten", "Standesamt", "Bevölkerung")
    }
    assert g.value(DS, DCAT.theme) == URIRef(
        "http://publications.europa.eu/resource/authority/data-theme/SOCI"
    )
    assert g.value(DS, DCTERMS.accrualPeriodicity) == URIRef(
        "http://publications.europa.eu/resource/authority/frequency/ANNUAL"
    )
    assert g.value(DS, DCAT.landingPage) == DS
    assert set(g.objects(DS, DCATDE.contributorID)) == {
        URIRef(BASE),
        URIRef("http://dcat-ap.de/def/contributors/openNRW"),
    }
    assert g.value(DS, DCATDE.politicalGeocodingLevelURI) == URIRef(
        "http://dcat-ap.de/def/politicalGeocoding/Level/municipality"
    )


def test_agents_are_typed_for_offline_checks() -> None:
    g = graph()
    publisher = g.value(DS, DCTERMS.publisher)
    assert publisher == URIRef("https://www.duesseldorf.de")
    assert {FOAF.Agent, FOAF.Organization} <= set(g.objects(publisher, RDF.type))
    assert g.value(publisher, FOAF.name) == Literal("Landeshauptstadt Düsseldorf", lang="de")
    contact = g.value(DS, DCAT.contactPoint)
    assert {VCARD.Kind, VCARD.Organization} <= set(g.objects(contact, RDF.type))
    assert g.value(contact, VCARD.fn) == Literal("Standesamt Düsseldorf", lang="de")
    assert g.value(contact, VCARD.hasEmail) == URIRef("mailto:standesamt@duesseldorf.de")
    maintainer = g.value(DS, DCATDE.maintainer)
    assert FOAF.Agent in set(g.objects(maintainer, RDF.type))


def test_vocabulary_terms_carry_type_and_scheme() -> None:
    g = graph()
    distribution = URIRef(f"{DS}#vornamen.csv")
    licence = g.value(distribution, DCTERMS.license)
    assert licence == URIRef("http://dcat-ap.de/def/licenses/dl-zero-de/2.0")
    assert (licence, RDF.type, DCTERMS.LicenseDocument) in g
    assert g.value(licence, SKOS.inScheme) == URIRef("http://dcat-ap.de/def/licenses")
    fmt = g.value(distribution, DCTERMS.format)
    assert fmt == URIRef("http://publications.europa.eu/resource/authority/file-type/CSV")
    assert (fmt, RDF.type, DCTERMS.MediaTypeOrExtent) in g
    assert g.value(fmt, SKOS.inScheme) == URIRef(
        "http://publications.europa.eu/resource/authority/file-type"
    )
    assert g.value(distribution, DCAT.mediaType) == URIRef(
        "https://www.iana.org/assignments/media-types/text/csv"
    )
    contributor = URIRef("http://dcat-ap.de/def/contributors/openNRW")
    assert g.value(contributor, SKOS.inScheme) == URIRef("http://dcat-ap.de/def/contributors")
    # the portal's own IRI is no term of the GovData list and gets no scheme
    assert g.value(URIRef(BASE), SKOS.inScheme) is None


def test_registry_only_distributions_point_to_the_landing_page() -> None:
    g = graph()
    distributions = set(g.objects(DS, DCAT.distribution))
    assert distributions == {URIRef(f"{DS}#vornamen.csv"), URIRef(f"{DS}#vornamen.json")}
    for node in distributions:
        assert g.value(node, DCAT.accessURL) == DS
        assert g.value(node, DCAT.downloadURL) is None
        assert g.value(node, DCATDE.licenseAttributionByText) is None  # zero licence


def test_temporal_spatial_and_stamps() -> None:
    facts = {"temporal_start": "2021-01-01", "temporal_end": "2023-12-31", "spatial": POLYGON}
    g = graph(facts, issued="2025-03-07T05:00:00Z", modified="2026-01-02T06:30:15Z")
    period = g.value(DS, DCTERMS.temporal)
    assert (period, RDF.type, DCTERMS.PeriodOfTime) in g
    assert g.value(period, DCAT.startDate) == Literal("2021-01-01", datatype=XSD.date)
    assert g.value(period, DCAT.endDate) == Literal("2023-12-31", datatype=XSD.date)
    spatial = set(g.objects(DS, DCTERMS.spatial))
    assert URIRef("http://dcat-ap.de/def/politicalGeocoding/districtKey/05111") in spatial
    (location,) = [s for s in spatial if (s, RDF.type, DCTERMS.Location) in g]
    assert g.value(location, LOCN.geometry).datatype == GSP.geoJSONLiteral
    assert str(g.value(location, DCAT.bbox)) == (
        "POLYGON((6.68 51.12, 6.94 51.12, 6.94 51.35, 6.68 51.35, 6.68 51.12))"
    )
    assert str(g.value(DS, DCTERMS.issued)) == "2025-03-07T05:00:00Z"
    assert g.value(DS, DCTERMS.modified).datatype == XSD.dateTime


def test_attribution_text_for_a_by_licence() -> None:
    dataset = get_dataset("vornamen")
    dataset = dataset.model_copy(
        update={"package": dataset.package.model_copy(update={"license_id": "dl-by-de/2.0"})}
    )
    meta = resolve(dataset, load_portal_config())
    g = dataset_graph(Record(meta, registry_distributions(dataset, meta)), load_portal_config())
    for node in g.objects(DS, DCAT.distribution):
        assert g.value(node, DCATDE.licenseAttributionByText) == Literal(
            "Landeshauptstadt Düsseldorf", lang="de"
        )


def test_portal_distributions_use_the_portal_urls_and_keep_stable_iris() -> None:
    dataset = get_dataset("vornamen")
    portal_url = "http://127.0.0.1:5000"
    meta = resolve(dataset, load_portal_config(), landing_page=f"{portal_url}/dataset/vornamen")
    package = {
        "name": "vornamen",
        "resources": [
            {
                "id": "r-1",
                "name": "vornamen.csv",
                "url": f"{portal_url}/dataset/p-1/resource/r-1/download/vornamen.csv",
                "size": 1234,
                "created": "2025-03-07T05:00:01.5",
                "last_modified": "2025-06-01T05:00:00",
            },
            {"id": "r-9", "name": "handmade.pdf", "url": f"{portal_url}/x.pdf"},
        ],
    }
    (csv,) = package_distributions(dataset, meta, package, portal_url)
    assert csv.iri == f"{DS}#vornamen.csv"  # the same IRI as without the portal
    assert csv.access_url == f"{portal_url}/dataset/vornamen/resource/r-1"
    assert csv.download_url == f"{portal_url}/dataset/p-1/resource/r-1/download/vornamen.csv"
    assert (csv.byte_size, csv.issued, csv.modified) == (
        1234,
        "2025-03-07T05:00:01Z",
        "2025-06-01T05:00:00Z",
    )
    g = dataset_graph(Record(meta, [csv]), load_portal_config())
    node = URIRef(csv.iri)
    assert g.value(node, DCAT.byteSize) == Literal("1234", datatype=XSD.decimal)
    assert g.value(DS, DCAT.landingPage) == URIRef(f"{portal_url}/dataset/vornamen")
    # what the portal adds (sizes, dates, URLs) keeps the record conformant
    assert check_graph(g).violations == []


def test_catalog_lists_every_record_and_serializes_both_ways() -> None:
    config = load_portal_config()
    g = catalog_graph(
        [record(issued="2025-03-07T05:00:00Z", modified="2026-01-02T06:30:15Z")], config
    )
    catalog = URIRef(catalog_iri(config))
    assert (catalog, RDF.type, DCAT.Catalog) in g
    assert g.value(catalog, DCTERMS.title) == Literal("Open Data Düsseldorf", lang="de")
    assert g.value(catalog, DCTERMS.publisher) == URIRef("https://www.duesseldorf.de")
    assert g.value(catalog, FOAF.homepage) == URIRef(BASE)
    assert set(g.objects(catalog, DCAT.dataset)) == {DS}
    assert str(g.value(catalog, DCTERMS.modified)) == "2026-01-02T06:30:15Z"
    text = serialize(g, "turtle")
    assert b'"2026-01-02T06:30:15Z"^^xsd:dateTime' in text  # UTC with Z, as in CKAN
    turtle = Graph().parse(data=text, format="turtle")
    xml = Graph().parse(data=serialize(g, "xml"), format="xml")
    assert len(turtle) == len(xml) == len(g)
    assert isomorphic(turtle, xml)
