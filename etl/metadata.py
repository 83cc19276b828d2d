"""A dataset's DCAT-AP.de metadata, resolved once from registry, portal defaults and data.

:func:`resolve` combines the registry entry, ``registry/_portal.yaml`` and the facts a
run derived from the data (``Tidy.notes["package"]``: spatial extent, temporal coverage)
into one :class:`Metadata`. Two outputs are built from it, so they cannot disagree:

* :func:`ckan_extras`: the package extras under the names the CKAN DCAT extensions read
  (ckanext-dcat: ``theme``, ``frequency``, ``temporal_start``/``temporal_end``,
  ``issued``/``modified``, ``language``, ``publisher_*``, ``spatial``; ckanext-dcatde:
  ``contributorID``, ``politicalGeocodingURI``, ``politicalGeocodingLevelURI``,
  ``geocodingText``), so a CKAN with those extensions (Open.NRW, GovData) serves the
  same DCAT-AP.de record that :mod:`etl.dcat` exports;
* the RDF record of :mod:`etl.dcat`.

``issued`` and ``modified`` are derived by :func:`lifecycle_stamps` from what the portal
already holds, never stamped per run: an unchanged dataset keeps its stamps, so a
republish costs no write.

Pure functions over small values: no network, no pandas, no rdflib.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from etl.registry import Dataset, PortalConfig

LICENSES = "http://dcat-ap.de/def/licenses/"
DATA_THEMES = "http://publications.europa.eu/resource/authority/data-theme/"
FREQUENCIES = "http://publications.europa.eu/resource/authority/frequency/"
LANGUAGES = "http://publications.europa.eu/resource/authority/language/"
GEOCODING_LEVELS = "http://dcat-ap.de/def/politicalGeocoding/Level/"
PUBLISHER_TYPES = "http://purl.org/adms/publishertype/"

ATTRIBUTION_LICENSES = frozenset(
    LICENSES + term
    for term in (
        "dl-by-de/1.0",
        "dl-by-de/2.0",
        "dl-by-nc-de/1.0",
        "cc-by",
        "cc-by/4.0",
        "cc-by-de/3.0",
        "cc-by-sa",
        "cc-by-sa/4.0",
        "cc-by-sa-de/3.0",
        "cc-by-nd",
        "cc-by-nd/3.0",
        "cc-by-nd/4.0",
        "cc-by-nc",
        "cc-by-nc/4.0",
        "cc-by-nc-de/3.0",
        "odby",
        "odbl",
    )
)
"""Licences of http://dcat-ap.de/def/licenses/ that oblige users to name the source
('Namensnennung'): their distributions carry ``dcatde:licenseAttributionByText``
(GovData convention K35)."""

STAMP_KEYS = ("issued", "modified")
FACT_KEYS_READ_BACK = ("spatial", "temporal_start", "temporal_end")
"""Extras that hold facts derived from data; the catalogue reads them back from the portal."""


def license_iri(value: str) -> str:
    """A licence as full IRI: a term such as ``dl-zero-de/2.0`` gets the DCAT-AP.de base."""
    value = value.strip()
    return value if value.startswith(("http://", "https://")) else LICENSES + value.strip("/")


def utc_stamp(value: dt.datetime | str | None) -> str | None:
    """``YYYY-MM-DDTHH:MM:SSZ`` in UTC, or None.

    CKAN returns naive UTC timestamps (``metadata_created``); an offset such as
    ``+01:00`` would break its search index for ``*_date`` keys, so every stamp the
    pipeline writes is UTC with ``Z`` and without fractions.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Agent:
    """A publisher or maintainer."""

    name: str
    iri: str | None = None
    type_iri: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Metadata:
    """Everything DCAT-AP.de says about one dataset (values resolved, IRIs absolute)."""

    dataset_id: str
    iri: str
    title: str
    description: str
    keywords: tuple[str, ...]
    themes: tuple[str, ...]
    frequency: str
    license: str | None
    attribution: str | None
    publisher: Agent
    maintainer: Agent
    contributor_ids: tuple[str, ...]
    geocoding_uris: tuple[str, ...]
    geocoding_level: str
    geocoding_text: str | None
    languages: tuple[str, ...]
    temporal_start: dt.date | None
    temporal_end: dt.date | None
    spatial: dict[str, Any] | None
    issued: str | None
    modified: str | None
    landing_page: str


def column_documentation(dataset: Dataset) -> str:
    """The columns as plain text (harvesters show ``dct:description`` as text, not Markdown)."""
    lines = ["Spalten:"]
    for column in dataset.columns:
        unit = f" ({column.unit})" if column.unit else ""
        text = " ".join(column.description.split())
        lines.append(f"- {column.name} ({column.type}): {text}{unit}")
    return "\n".join(lines)


def _date(value: Any) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _geometry(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) and "type" in value else None


def resolve(
    dataset: Dataset,
    portal: PortalConfig,
    facts: Mapping[str, Any] | None = None,
    *,
    issued: str | None = None,
    modified: str | None = None,
    landing_page: str | None = None,
) -> Metadata:
    """The dataset's metadata: registry values over portal defaults, plus data facts.

    Args:
        facts: package facts derived from the data (``spatial`` as GeoJSON,
            ``temporal_start``/``temporal_end`` as ISO dates); they override the
            registry's fixed temporal coverage.
        issued, modified: UTC stamps (see :func:`lifecycle_stamps`); None when unknown.
        landing_page: the dataset's page; default ``<base_url>/dataset/<id>``.
    """
    facts = facts or {}
    package = dataset.package
    license_value = package.license_id or portal.license.default
    licence = license_iri(license_value) if license_value else None
    attribution = None
    if licence in ATTRIBUTION_LICENSES:
        attribution = package.license_attribution or portal.license.attribution
    spatial = package.spatial
    temporal = package.temporal
    start = _date(facts.get("temporal_start")) or (temporal.start if temporal else None)
    end = _date(facts.get("temporal_end")) or (temporal.end if temporal else None)
    publisher = portal.publisher
    return Metadata(
        dataset_id=dataset.id,
        iri=f"{portal.base_url}/dataset/{dataset.id}",
        title=package.title,
        description=f"{' '.join(package.description.split())}\n\n{column_documentation(dataset)}",
        keywords=tuple(sorted(set(package.tags))),
        themes=tuple(DATA_THEMES + code for code in package.themes),
        frequency=FREQUENCIES + package.frequency,
        license=licence,
        attribution=attribution,
        publisher=Agent(
            name=publisher.name,
            iri=publisher.iri,
            type_iri=PUBLISHER_TYPES + publisher.type if publisher.type else None,
        ),
        maintainer=Agent(name=package.maintainer, email=package.maintainer_email),
        contributor_ids=tuple(portal.contributor_ids),
        geocoding_uris=tuple(
            (spatial.political_geocoding if spatial and spatial.political_geocoding else None)
            or portal.political_geocoding.uris
        ),
        geocoding_level=GEOCODING_LEVELS
        + ((spatial.level if spatial else None) or portal.political_geocoding.level),
        geocoding_text=spatial.description if spatial else None,
        languages=tuple(LANGUAGES + code for code in portal.languages),
        temporal_start=start,
        temporal_end=end,
        spatial=_geometry(facts.get("spatial")),
        issued=issued,
        modified=modified,
        landing_page=landing_page or f"{portal.base_url}/dataset/{dataset.id}",
    )


def _json(values: Iterable[str]) -> str:
    return json.dumps(list(values), ensure_ascii=False)


def ckan_extras(meta: Metadata) -> dict[str, str]:
    """The package extras (strings) in the shape of ckanext-dcat and ckanext-dcatde.

    List-valued fields are JSON arrays, as both extensions store them.
    """
    extras: dict[str, str | None] = {
        "theme": _json(meta.themes),
        "frequency": meta.frequency,
        "language": _json(meta.languages),
        "publisher_name": meta.publisher.name,
        "publisher_uri": meta.publisher.iri,
        "publisher_type": meta.publisher.type_iri,
        "contributorID": _json(meta.contributor_ids),
        "politicalGeocodingURI": _json(meta.geocoding_uris),
        "politicalGeocodingLevelURI": meta.geocoding_level,
        "geocodingText": _json([meta.geocoding_text]) if meta.geocoding_text else None,
        "temporal_start": meta.temporal_start.isoformat() if meta.temporal_start else None,
        "temporal_end": meta.temporal_end.isoformat() if meta.temporal_end else None,
        "spatial": json.dumps(meta.spatial, sort_keys=True) if meta.spatial else None,
        "issued": meta.issued,
        "modified": meta.modified,
    }
    return {key: value for key, value in extras.items() if value is not None}


def extras_of(package: Mapping[str, Any]) -> dict[str, str]:
    """A CKAN package's extras as a dict (CKAN returns a list of key/value pairs)."""
    return {str(e["key"]): str(e["value"]) for e in package.get("extras") or []}


def facts_from_extras(extras: Mapping[str, str]) -> dict[str, Any]:
    """The data-derived facts a published package carries (for the catalogue export)."""
    return {key: extras[key] for key in FACT_KEYS_READ_BACK if extras.get(key)}


def lifecycle_stamps(
    current: Mapping[str, Any] | None,
    *,
    content_changed: bool,
    resource_names: Iterable[str],
    now: dt.datetime,
) -> dict[str, str]:
    """``issued`` and ``modified`` of the package, derived from what the portal holds.

    * ``issued``: the first publication, i.e. kept once set; a package published before
      the pipeline wrote it takes CKAN's ``metadata_created``; a new package: ``now``.
    * ``modified``: the last change of a resource's *content*: ``now`` when a file is
      uploaded in this run (new resource or other hash), else kept; without a stored
      value, the newest ``last_modified``/``created`` of the dataset's resources.

    Metadata edits (title, description) change neither, and an unchanged run returns
    exactly what the portal holds, so it writes nothing.

    Args:
        current: the package as ``package_show`` returned it (None: not yet published).
        content_changed: whether this run uploads at least one file.
        resource_names: the stable names of the dataset's resources.
        now: the run's clock (UTC).
    """
    stamp = utc_stamp(now)
    assert stamp is not None
    if current is None:
        return {"issued": stamp, "modified": stamp}
    extras = extras_of(current)
    issued = extras.get("issued") or utc_stamp(current.get("metadata_created")) or stamp
    if content_changed:
        return {"issued": issued, "modified": stamp}
    names = set(resource_names)
    uploads = [
        utc_stamp(r.get("last_modified") or r.get("created"))
        for r in current.get("resources") or []
        if r.get("name") in names
    ]
    known = sorted(u for u in uploads if u)
    modified = extras.get("modified") or (known[-1] if known else None) or issued
    return {"issued": issued, "modified": modified}
