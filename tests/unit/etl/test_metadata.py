"""DCAT-AP.de metadata: registry over portal defaults, CKAN extras, issued/modified."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from etl.metadata import (
    ATTRIBUTION_LICENSES,
    ckan_extras,
    facts_from_extras,
    license_iri,
    lifecycle_stamps,
    resolve,
    utc_stamp,
)
from etl.portal import _package_differences, package_fields
from etl.registry import Dataset, Spatial, get_dataset, load_portal_config

T0 = dt.datetime(2025, 3, 7, 5, 0, 0, tzinfo=dt.UTC)
T1 = dt.datetime(2026, 1, 2, 6, 30, 15, 123456, tzinfo=dt.UTC)


def vornamen(**package: object) -> Dataset:
    dataset = get_dataset("vornamen")
    return dataset.model_copy(update={"package": dataset.package.model_copy(update=package)})


def test_license_terms_become_dcat_ap_de_iris() -> None:
    assert license_iri("dl-zero-de/2.0") == "http://dcat-ap.de/def/licenses/dl-zero-de/2.0"
    assert license_iri(" dl-by-de/2.0/ ") == "http://dcat-ap.de/def/licenses/dl-by-de/2.0"
    iri = "http://dcat-ap.de/def/licenses/cc-by/4.0"
    assert license_iri(iri) == iri


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # CKAN's naive UTC timestamps (metadata_created) are UTC
        ("2025-03-07T05:00:00.654321", "2025-03-07T05:00:00Z"),
        # an offset would break CKAN's index; it is converted, never kept
        ("2025-03-07T06:00:00+01:00", "2025-03-07T05:00:00Z"),
        ("2025-03-07T05:00:00Z", "2025-03-07T05:00:00Z"),
        (
            dt.datetime(2025, 3, 7, 6, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            "2025-03-07T05:00:00Z",
        ),
        ("", None),
        (None, None),
        ("kein Datum", None),
    ],
)
def test_stamps_are_utc_with_z(value, expected) -> None:
    assert utc_stamp(value) == expected


def test_portal_defaults_fill_what_the_registry_leaves_open() -> None:
    portal = load_portal_config()
    meta = resolve(vornamen(license_id=None), portal)
    assert meta.license == "http://dcat-ap.de/def/licenses/" + str(portal.license.default)
    assert meta.publisher.name == "Landeshauptstadt Düsseldorf"
    assert meta.publisher.type_iri == "http://purl.org/adms/publishertype/LocalAuthority"
    assert meta.contributor_ids == (
        "https://opendata.duesseldorf.de",
        "http://dcat-ap.de/def/contributors/openNRW",
    )
    assert meta.geocoding_uris == ("http://dcat-ap.de/def/politicalGeocoding/districtKey/05111",)
    assert meta.geocoding_level == "http://dcat-ap.de/def/politicalGeocoding/Level/municipality"
    assert meta.themes == ("http://publications.europa.eu/resource/authority/data-theme/SOCI",)
    assert meta.frequency == "http://publications.europa.eu/resource/authority/frequency/ANNUAL"
    assert meta.iri == meta.landing_page == "https://opendata.duesseldorf.de/dataset/vornamen"
    # the description carries the column documentation as plain text
    assert "Spalten:\n- jahr (integer): Jahr der Beurkundung der Geburt." in meta.description


def test_attribution_only_for_licences_with_attribution() -> None:
    portal = load_portal_config()
    assert resolve(vornamen(license_id="dl-zero-de/2.0"), portal).attribution is None
    by = resolve(vornamen(license_id="dl-by-de/2.0"), portal)
    assert by.license in ATTRIBUTION_LICENSES
    assert by.attribution == portal.license.attribution == "Landeshauptstadt Düsseldorf"
    own = resolve(
        vornamen(license_id="cc-by/4.0", license_attribution="Stadt D., Standesamt"), portal
    )
    assert own.attribution == "Stadt D., Standesamt"


def test_dataset_spatial_overrides_the_city_default() -> None:
    spatial = Spatial(
        political_geocoding=["http://dcat-ap.de/def/politicalGeocoding/municipalityKey/05111000"],
        level="municipality",
        description="Stadtbezirk 3",
    )
    meta = resolve(vornamen(spatial=spatial), load_portal_config())
    assert meta.geocoding_uris == (
        "http://dcat-ap.de/def/politicalGeocoding/municipalityKey/05111000",
    )
    assert ckan_extras(meta)["geocodingText"] == '["Stadtbezirk 3"]'


def test_data_facts_override_and_complete_the_record() -> None:
    polygon = {
        "type": "Polygon",
        "coordinates": [[[6.7, 51.1], [6.9, 51.1], [6.9, 51.3], [6.7, 51.1]]],
    }
    facts = {"temporal_start": "2021-01-01", "temporal_end": "2023-12-31", "spatial": polygon}
    meta = resolve(vornamen(), load_portal_config(), facts)
    assert (meta.temporal_start, meta.temporal_end) == (dt.date(2021, 1, 1), dt.date(2023, 12, 31))
    assert meta.spatial == polygon
    # read back from CKAN extras (strings), the same facts give the same record
    extras = ckan_extras(meta)
    assert resolve(vornamen(), load_portal_config(), facts_from_extras(extras)) == meta


def test_ckan_extras_use_the_dcat_extension_names() -> None:
    meta = resolve(
        vornamen(),
        load_portal_config(),
        {"temporal_start": "2021-01-01"},
        issued="2025-03-07T05:00:00Z",
    )
    extras = ckan_extras(meta)
    assert set(extras) == {
        "theme",
        "frequency",
        "language",
        "publisher_name",
        "publisher_uri",
        "publisher_type",
        "contributorID",
        "politicalGeocodingURI",
        "politicalGeocodingLevelURI",
        "temporal_start",
        "issued",
    }
    assert all(isinstance(v, str) for v in extras.values())
    assert json.loads(extras["contributorID"]) == list(meta.contributor_ids)
    assert json.loads(extras["theme"]) == list(meta.themes)
    assert extras["temporal_start"] == "2021-01-01"


def package(extras: dict[str, str] | None = None, **fields: object) -> dict[str, object]:
    return {
        "metadata_created": "2024-05-01T10:00:00.5",
        "extras": [{"key": k, "value": v} for k, v in (extras or {}).items()],
        "resources": [],
        **fields,
    }


def test_new_package_is_issued_and_modified_now() -> None:
    stamps = lifecycle_stamps(None, content_changed=True, resource_names=["a.csv"], now=T1)
    assert stamps == {"issued": "2026-01-02T06:30:15Z", "modified": "2026-01-02T06:30:15Z"}


def test_unchanged_content_keeps_both_stamps() -> None:
    current = package({"issued": "2025-03-07T05:00:00Z", "modified": "2025-06-01T05:00:00Z"})
    stamps = lifecycle_stamps(current, content_changed=False, resource_names=["a.csv"], now=T1)
    assert stamps == {"issued": "2025-03-07T05:00:00Z", "modified": "2025-06-01T05:00:00Z"}


def test_new_content_moves_only_modified() -> None:
    current = package({"issued": "2025-03-07T05:00:00Z", "modified": "2025-06-01T05:00:00Z"})
    stamps = lifecycle_stamps(current, content_changed=True, resource_names=["a.csv"], now=T1)
    assert stamps == {"issued": "2025-03-07T05:00:00Z", "modified": "2026-01-02T06:30:15Z"}


def test_package_published_before_the_stamps_takes_them_from_ckan() -> None:
    current = package(
        resources=[
            {
                "name": "a.csv",
                "created": "2024-05-01T10:00:01",
                "last_modified": "2024-09-30T08:00:00",
            },
            {"name": "b.json", "created": "2024-05-01T10:00:02", "last_modified": None},
            # a resource the registry does not know says nothing about our content
            {"name": "hand-made.pdf", "created": "2025-12-24T12:00:00"},
        ]
    )
    stamps = lifecycle_stamps(
        current, content_changed=False, resource_names=["a.csv", "b.json"], now=T1
    )
    assert stamps == {"issued": "2024-05-01T10:00:00Z", "modified": "2024-09-30T08:00:00Z"}


def test_package_fields_round_trip_without_differences() -> None:
    """What CKAN stores from package_fields compares equal: a republish writes nothing."""
    dataset = vornamen()
    facts = {"temporal_start": "2021-01-01", "temporal_end": "2023-12-31", "rows": 3}
    stamps = {"issued": utc_stamp(T0) or "", "modified": utc_stamp(T0) or ""}
    desired = package_fields(dataset, facts, stamps=stamps)
    stored = {**desired, "tags": [{"name": t["name"], "id": "x"} for t in desired["tags"]]}
    assert _package_differences(stored, desired) == []
    assert desired["license_id"] == "http://dcat-ap.de/def/licenses/dl-zero-de/2.0"
    extras = {e["key"]: e["value"] for e in desired["extras"]}
    assert extras["issued"] == extras["modified"] == "2025-03-07T05:00:00Z"
    assert extras["rows"] == "3"  # other data facts still travel as extras
    later = package_fields(dataset, facts, stamps={**stamps, "modified": utc_stamp(T1) or ""})
    assert _package_differences(stored, later) == ["extras"]


def test_temporal_coverage_comes_from_the_data_of_the_run() -> None:
    from etl import pipeline

    dataset = get_dataset("vornamen")
    tidy = pipeline.transform(dataset, pipeline.extract(dataset, pipeline.resolve_inputs(dataset)))
    facts = pipeline.package_facts(dataset, tidy)
    years = sorted(set(tidy.frame["jahr"]))
    assert facts["temporal_start"] == f"{years[0]}-01-01"
    assert facts["temporal_end"] == f"{years[-1]}-12-31"
