"""DCAT-AP.de 2.0 as RDF (rdflib): one dataset's record, or the whole catalogue.

Structure of the catalogue (``harvest catalog``)::

    <base>/catalog                 dcat:Catalog  title, description, publisher, homepage,
                                                 language, modified, dcat:dataset …
    <base>/dataset/<id>            dcat:Dataset  title, description (with the columns),
                                                 keywords, themes, publisher, contact point,
                                                 maintainer, contributorID, political
                                                 geocoding, spatial, temporal, frequency,
                                                 issued/modified, landing page, language
    <base>/dataset/<id>#<resource> dcat:Distribution  title, access/download URL, format,
                                                 media type, licence (+ attribution),
                                                 byte size, issued/modified

Referenced agents, licences, formats, themes, frequencies and geocoding terms are typed
in the output (``foaf:Agent``, ``vcard:Organization``, ``dct:LicenseDocument``,
``dct:MediaTypeOrExtent`` …), and vocabulary terms known to the snapshot
``etl/shapes/vocabularies.ttl`` carry their ``skos:inScheme`` and label, so the record
can be checked offline with the shapes (:mod:`etl.conformance`). IRIs derive from the
configured ``base_url`` and stay the same whether the record was built from the portal
or from the registry alone; URLs (landing page, access, download) are those of the portal
actually read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rdflib import BNode, Graph, Namespace, URIRef
from rdflib import Literal as RdfLiteral
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, SKOS, XSD

from etl.metadata import (
    Metadata,
    extras_of,
    facts_from_extras,
    resolve,
    utc_stamp,
)
from etl.registry import Dataset, PortalConfig

if TYPE_CHECKING:
    from etl.formats import RenderedFile
    from etl.portal import Portal

log = logging.getLogger(__name__)

SHAPES_DIR = Path(__file__).parent / "shapes"
VOCABULARIES = SHAPES_DIR / "vocabularies.ttl"

DCATDE = Namespace("http://dcat-ap.de/def/dcatde/")
LOCN = Namespace("http://www.w3.org/ns/locn#")
GSP = Namespace("http://www.opengis.net/ont/geosparql#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
IANA_MEDIA_TYPES = "https://www.iana.org/assignments/media-types/"

RdfFormat = Literal["turtle", "xml"]

# What is copied from the vocabulary snapshot for every referenced term.
_TERM_PREDICATES = (RDF.type, SKOS.inScheme, SKOS.prefLabel)


@lru_cache(maxsize=1)
def vocabularies() -> Graph:
    """The vocabulary snapshot (parsed once per process)."""
    return Graph().parse(VOCABULARIES, format="turtle")


def new_graph() -> Graph:
    """An empty graph with the usual DCAT-AP.de prefixes bound."""
    graph = Graph()
    for prefix, namespace in (
        ("dcat", DCAT),
        ("dct", DCTERMS),
        ("dcatde", DCATDE),
        ("foaf", FOAF),
        ("vcard", VCARD),
        ("skos", SKOS),
        ("locn", LOCN),
        ("gsp", GSP),
        ("xsd", XSD),
    ):
        graph.bind(prefix, namespace)
    return graph


@dataclass(frozen=True)
class Distribution:
    """One published file as DCAT sees it."""

    iri: str
    title: str
    format: str
    access_url: str
    download_url: str | None = None
    byte_size: int | None = None
    issued: str | None = None
    modified: str | None = None


@dataclass
class Record:
    """A dataset's metadata with its distributions."""

    meta: Metadata
    distributions: list[Distribution] = field(default_factory=list)


def _distribution_title(dataset: Dataset, name: str, fmt: str) -> str:
    resource = next(r for r in dataset.resources if r.resource_name(dataset.id) == name)
    return resource.description or f"{dataset.package.title} als {fmt}"


def distribution_iri(meta: Metadata, resource_name: str) -> str:
    """Stable distribution IRI: the dataset IRI with the resource name as fragment."""
    return f"{meta.iri}#{resource_name}"


def registry_distributions(dataset: Dataset, meta: Metadata) -> list[Distribution]:
    """Distributions known from the registry alone: the landing page is the access URL."""
    return [
        Distribution(
            iri=distribution_iri(meta, resource.resource_name(dataset.id)),
            title=_distribution_title(dataset, resource.resource_name(dataset.id), resource.format),
            format=resource.format,
            access_url=meta.landing_page,
        )
        for resource in dataset.resources
    ]


def file_distributions(
    dataset: Dataset, meta: Metadata, files: Sequence[RenderedFile]
) -> list[Distribution]:
    """Distributions of rendered files about to be published (sizes known, URLs not yet)."""
    return [
        Distribution(
            iri=distribution_iri(meta, file.resource),
            title=_distribution_title(dataset, file.resource, file.format),
            format=file.format,
            access_url=meta.landing_page,
            byte_size=file.size,
        )
        for file in files
    ]


def package_distributions(
    dataset: Dataset, meta: Metadata, package: Mapping[str, Any], portal_url: str
) -> list[Distribution]:
    """Distributions of the registry's resources as the portal holds them.

    Resources on the portal that the registry does not name are left out: the
    catalogue describes what the pipeline publishes.
    """
    by_name = {r.get("name"): r for r in package.get("resources") or []}
    distributions = []
    for resource in dataset.resources:
        name = resource.resource_name(dataset.id)
        found = by_name.get(name)
        if found is None:
            continue
        size = found.get("size")
        distributions.append(
            Distribution(
                iri=distribution_iri(meta, name),
                title=_distribution_title(dataset, name, resource.format),
                format=resource.format,
                access_url=f"{portal_url}/dataset/{package['name']}/resource/{found['id']}",
                download_url=found.get("url") or None,
                byte_size=int(size)
                if isinstance(size, int | str) and str(size).isdigit()
                else None,
                issued=utc_stamp(found.get("created")),
                modified=utc_stamp(found.get("last_modified") or found.get("created")),
            )
        )
    return distributions


# ------------------------------------------------------------------------ RDF


def _date_time(stamp: str) -> RdfLiteral:
    # keep the lexical form with Z (as in the CKAN extras); rdflib would write +00:00
    return RdfLiteral(stamp, datatype=XSD.dateTime, normalize=False)


def _term(graph: Graph, iri: str, *classes: URIRef) -> URIRef:
    """Reference a vocabulary term: typed, and with its scheme when the snapshot knows it."""
    node = URIRef(iri)
    for cls in classes:
        graph.add((node, RDF.type, cls))
    snapshot = vocabularies()
    for predicate in _TERM_PREDICATES:
        for value in snapshot.objects(node, predicate):
            graph.add((node, predicate, value))
    return node


def _bbox_wkt(geometry: Mapping[str, Any]) -> str | None:
    """The bounding box of a GeoJSON geometry as WKT polygon (lon/lat)."""
    points: list[tuple[float, float]] = []

    def walk(value: Any) -> None:
        if (
            isinstance(value, list | tuple)
            and len(value) >= 2
            and all(isinstance(v, int | float) for v in value[:2])
        ):
            points.append((float(value[0]), float(value[1])))
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(geometry.get("coordinates"))
    if not points:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    w, s, e, n = min(xs), min(ys), max(xs), max(ys)
    return f"POLYGON(({w} {s}, {e} {s}, {e} {n}, {w} {n}, {w} {s}))"


def add_dataset(graph: Graph, record: Record, portal: PortalConfig) -> URIRef:
    """Add one dataset with its distributions and referenced nodes to ``graph``."""
    meta = record.meta
    ds = URIRef(meta.iri)
    graph.add((ds, RDF.type, DCAT.Dataset))
    graph.add((ds, DCTERMS.identifier, RdfLiteral(meta.iri)))
    graph.add((ds, DCTERMS.title, RdfLiteral(meta.title, lang="de")))
    graph.add((ds, DCTERMS.description, RdfLiteral(meta.description, lang="de")))
    for keyword in meta.keywords:
        graph.add((ds, DCAT.keyword, RdfLiteral(keyword, lang="de")))
    for theme in meta.themes:
        graph.add((ds, DCAT.theme, _term(graph, theme, SKOS.Concept)))
    graph.add((ds, DCTERMS.accrualPeriodicity, _term(graph, meta.frequency, DCTERMS.Frequency)))
    for language in meta.languages:
        graph.add((ds, DCTERMS.language, _term(graph, language, DCTERMS.LinguisticSystem)))
    graph.add((ds, DCAT.landingPage, URIRef(meta.landing_page)))

    publisher = URIRef(meta.publisher.iri) if meta.publisher.iri else BNode()
    graph.add((ds, DCTERMS.publisher, publisher))
    graph.add((publisher, RDF.type, FOAF.Agent))
    graph.add((publisher, RDF.type, FOAF.Organization))
    graph.add((publisher, FOAF.name, RdfLiteral(meta.publisher.name, lang="de")))
    if meta.publisher.type_iri:
        graph.add((publisher, DCTERMS.type, _term(graph, meta.publisher.type_iri, SKOS.Concept)))

    # contact point (vcard, convention K01) and maintainer (dcatde) are the department
    contact = BNode(f"contact-{meta.dataset_id}")
    graph.add((ds, DCAT.contactPoint, contact))
    graph.add((contact, RDF.type, VCARD.Kind))
    graph.add((contact, RDF.type, VCARD.Organization))
    graph.add((contact, VCARD.fn, RdfLiteral(meta.maintainer.name, lang="de")))
    if meta.maintainer.email:
        graph.add((contact, VCARD.hasEmail, URIRef(f"mailto:{meta.maintainer.email}")))
    maintainer = BNode(f"maintainer-{meta.dataset_id}")
    graph.add((ds, DCATDE.maintainer, maintainer))
    graph.add((maintainer, RDF.type, FOAF.Agent))
    graph.add((maintainer, RDF.type, FOAF.Organization))
    graph.add((maintainer, FOAF.name, RdfLiteral(meta.maintainer.name, lang="de")))
    if meta.maintainer.email:
        graph.add((maintainer, FOAF.mbox, URIRef(f"mailto:{meta.maintainer.email}")))

    for contributor in meta.contributor_ids:
        graph.add((ds, DCATDE.contributorID, _term(graph, contributor)))
    for geocoding in meta.geocoding_uris:
        node = _term(graph, geocoding)
        graph.add((ds, DCATDE.politicalGeocodingURI, node))
        # the same IRI as dct:spatial: what plain DCAT-AP harvesters understand
        graph.add((ds, DCTERMS.spatial, node))
    graph.add((ds, DCATDE.politicalGeocodingLevelURI, _term(graph, meta.geocoding_level)))
    if meta.geocoding_text:
        graph.add((ds, DCATDE.geocodingDescription, RdfLiteral(meta.geocoding_text, lang="de")))
    if meta.spatial:
        location = BNode(f"location-{meta.dataset_id}")
        graph.add((ds, DCTERMS.spatial, location))
        graph.add((location, RDF.type, DCTERMS.Location))
        graph.add(
            (
                location,
                LOCN.geometry,
                RdfLiteral(json.dumps(meta.spatial, sort_keys=True), datatype=GSP.geoJSONLiteral),
            )
        )
        bbox = _bbox_wkt(meta.spatial)
        if bbox:
            graph.add((location, DCAT.bbox, RdfLiteral(bbox, datatype=GSP.wktLiteral)))
    if meta.temporal_start or meta.temporal_end:
        period = BNode(f"period-{meta.dataset_id}")
        graph.add((ds, DCTERMS.temporal, period))
        graph.add((period, RDF.type, DCTERMS.PeriodOfTime))
        if meta.temporal_start:
            graph.add((period, DCAT.startDate, RdfLiteral(meta.temporal_start)))
        if meta.temporal_end:
            graph.add((period, DCAT.endDate, RdfLiteral(meta.temporal_end)))
    if meta.issued:
        graph.add((ds, DCTERMS.issued, _date_time(meta.issued)))
    if meta.modified:
        graph.add((ds, DCTERMS.modified, _date_time(meta.modified)))

    for distribution in record.distributions:
        _add_distribution(graph, ds, distribution, meta, portal)
    return ds


def _add_distribution(
    graph: Graph, ds: URIRef, distribution: Distribution, meta: Metadata, portal: PortalConfig
) -> None:
    node = URIRef(distribution.iri)
    graph.add((ds, DCAT.distribution, node))
    graph.add((node, RDF.type, DCAT.Distribution))
    graph.add((node, DCTERMS.title, RdfLiteral(distribution.title, lang="de")))
    graph.add((node, DCAT.accessURL, URIRef(distribution.access_url)))
    if distribution.download_url:
        graph.add((node, DCAT.downloadURL, URIRef(distribution.download_url)))
    fmt = portal.formats.get(distribution.format)
    if fmt is not None:
        graph.add((node, DCTERMS.format, _term(graph, fmt.iri, DCTERMS.MediaTypeOrExtent)))
        if fmt.media_type:
            media_type = URIRef(IANA_MEDIA_TYPES + fmt.media_type)
            graph.add((node, DCAT.mediaType, media_type))
            graph.add((media_type, RDF.type, DCTERMS.MediaType))
    else:
        # no IRI configured: say what the format is called; the shapes (K32) refuse it
        unknown = BNode(f"format-{meta.dataset_id}-{distribution.format}")
        graph.add((node, DCTERMS.format, unknown))
        graph.add((unknown, RDF.type, DCTERMS.MediaTypeOrExtent))
        graph.add((unknown, SKOS.prefLabel, RdfLiteral(distribution.format)))
    if meta.license:
        graph.add((node, DCTERMS.license, _term(graph, meta.license, DCTERMS.LicenseDocument)))
    if meta.attribution:
        graph.add((node, DCATDE.licenseAttributionByText, RdfLiteral(meta.attribution, lang="de")))
    if distribution.byte_size is not None:
        # from the lexical form: an int value would be an ill-typed xsd:decimal for pySHACL
        size = RdfLiteral(str(distribution.byte_size), datatype=XSD.decimal)
        graph.add((node, DCAT.byteSize, size))
    if distribution.issued:
        graph.add((node, DCTERMS.issued, _date_time(distribution.issued)))
    if distribution.modified:
        graph.add((node, DCTERMS.modified, _date_time(distribution.modified)))


def dataset_graph(record: Record, portal: PortalConfig) -> Graph:
    """The DCAT-AP.de record of one dataset (what the pre-publish check validates)."""
    graph = new_graph()
    add_dataset(graph, record, portal)
    return graph


def catalog_iri(portal: PortalConfig) -> str:
    return f"{portal.base_url}/catalog"


def catalog_graph(records: Iterable[Record], portal: PortalConfig) -> Graph:
    """The whole catalogue: ``dcat:Catalog`` with every record."""
    graph = new_graph()
    catalog = URIRef(catalog_iri(portal))
    graph.add((catalog, RDF.type, DCAT.Catalog))
    graph.add((catalog, DCTERMS.title, RdfLiteral(portal.catalog.title, lang="de")))
    graph.add((catalog, DCTERMS.description, RdfLiteral(portal.catalog.description, lang="de")))
    graph.add((catalog, FOAF.homepage, URIRef(portal.homepage)))
    publisher = URIRef(portal.publisher.iri)
    graph.add((catalog, DCTERMS.publisher, publisher))
    for code in portal.languages:
        language = _term(
            graph,
            f"http://publications.europa.eu/resource/authority/language/{code}",
            DCTERMS.LinguisticSystem,
        )
        graph.add((catalog, DCTERMS.language, language))
    modified: list[str] = []
    for record in records:
        graph.add((catalog, DCAT.dataset, add_dataset(graph, record, portal)))
        if record.meta.modified:
            modified.append(record.meta.modified)
    if modified:
        graph.add((catalog, DCTERMS.modified, _date_time(max(modified))))
    return graph


def serialize(graph: Graph, fmt: RdfFormat = "turtle") -> bytes:
    """Turtle or RDF/XML, UTF-8."""
    return graph.serialize(format=fmt, encoding="utf-8")


# ------------------------------------------------------------------------ catalogue


@dataclass
class CatalogBuild:
    """What :func:`build_catalog` produced and where its facts came from."""

    graph: Graph
    records: list[Record]
    source: str
    """``portal <url>`` or ``registry``."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Dataset id -> why it is not in the catalogue."""


def build_catalog(
    datasets: Mapping[str, Dataset],
    config: PortalConfig,
    *,
    portal: Portal | None = None,
) -> CatalogBuild:
    """The harvestable catalogue of ``datasets``.

    With a reachable ``portal`` the records take the published state: resource URLs,
    sizes, ``issued``/``modified`` and the data facts (spatial extent, temporal
    coverage) stored as extras; datasets not (or not publicly) on the portal are
    skipped, so a harvester never gets a link that does not resolve. Without a portal
    the records come from the registry alone: access URLs are the configured landing
    pages, and facts only the data knows are missing.

    Datasets whose release is ``queued`` are never listed (they are not public yet).

    Raises:
        PortalError: the portal failed while being read.
    """
    import ckanapi

    from etl.errors import PortalNotAuthorized

    records: list[Record] = []
    skipped: dict[str, str] = {}
    for dataset_id, dataset in datasets.items():
        if dataset.release == "queued":
            skipped[dataset_id] = "Freigabe steht aus (release: queued)"
            continue
        if portal is None:
            meta = resolve(dataset, config)
            records.append(Record(meta, registry_distributions(dataset, meta)))
            continue
        try:
            package: dict[str, Any] = portal.call("package_show", {"id": dataset_id})
        except ckanapi.NotFound:
            skipped[dataset_id] = f"nicht auf dem Portal {portal.url}"
            continue
        except PortalNotAuthorized:
            # CKAN answers 403 to anonymous reads of a private dataset
            skipped[dataset_id] = "auf dem Portal nicht öffentlich"
            continue
        if package.get("private"):
            skipped[dataset_id] = "auf dem Portal nicht öffentlich"
            continue
        extras = extras_of(package)
        meta = resolve(
            dataset,
            config,
            facts_from_extras(extras),
            issued=extras.get("issued") or utc_stamp(package.get("metadata_created")),
            modified=extras.get("modified"),
            landing_page=f"{portal.url}/dataset/{package['name']}",
        )
        records.append(Record(meta, package_distributions(dataset, meta, package, portal.url)))
    return CatalogBuild(
        graph=catalog_graph(records, config),
        records=records,
        source=f"portal {portal.url}" if portal is not None else "registry",
        skipped=skipped,
    )
