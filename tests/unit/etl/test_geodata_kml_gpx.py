"""Geodata: KML, KMZ and GPX inputs, and content that does not match its ending."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from etl import pipeline
from etl.errors import InputError
from etl.registry import Dataset, get_dataset
from etl.sources import geodata
from tests.corpus import build


@pytest.fixture(scope="module")
def sirenen() -> Dataset:
    return get_dataset("sirenenstandorte")


def tidy_of(dataset: Dataset, path: Path):
    tidy = pipeline.transform(dataset, pipeline.extract(dataset, [path]))
    return tidy


def test_kml_and_kmz_give_the_same_table_as_geojson(sirenen, tmp_path) -> None:
    rows = build.sirens()
    (tmp_path / "s.geojson").write_text(build.sirens_geojson(rows), encoding="utf-8")
    (tmp_path / "s.kml").write_text(build.sirens_kml(rows), encoding="utf-8")
    with zipfile.ZipFile(tmp_path / "s.kmz", "w") as archive:
        archive.writestr("doc.kml", build.sirens_kml(rows))
    tables = {}
    for name in ("s.geojson", "s.kml", "s.kmz"):
        tidy = tidy_of(sirenen, tmp_path / name)
        assert tidy.problems == []
        tables[name] = tidy.published_frame().drop(columns="geometry").to_dict("records")
    assert tables["s.kml"] == tables["s.geojson"] == tables["s.kmz"]
    assert tables["s.kml"][0]["kennung"] == "S-0101"  # from the Placemark's <name>


def test_gpx_waypoints_are_read_and_extensions_match_without_prefix(sirenen, tmp_path) -> None:
    path = tmp_path / "s.gpx"
    path.write_text(build.sirens_gpx(build.sirens()), encoding="utf-8")
    [raw] = pipeline.extract(sirenen, [path])
    assert (raw.driver, raw.layer) == ("GPX", "waypoints")
    tidy = pipeline.transform(sirenen, [raw])
    # kennung from <name>, standort from <extensions>; stadtbezirk and baujahr are
    # missing in this GPX, so the attribute check names them
    [problem] = tidy.problems
    assert problem.check == "Attribute"
    assert problem.column == "stadtbezirk, baujahr"


def test_content_that_does_not_match_the_ending_never_reaches_gdal(sirenen, tmp_path) -> None:
    path = tmp_path / "Sirenen.geojson"
    path.write_text(build.VRT, encoding="utf-8")
    with pytest.raises(InputError, match=r"der Inhalt passt nicht zur Endung \.geojson") as caught:
        geodata.read_layer(path, sirenen.source)
    assert "root:" not in caught.value.message


def test_a_plain_shapefile_with_an_xxe_metadata_file_is_refused(tmp_path) -> None:
    dataset = get_dataset("stadtbezirke")
    with zipfile.ZipFile(build.SAMPLE_DISTRICTS) as archive:
        archive.extractall(tmp_path)
    metadata = tmp_path / "Stadtbezirke_EPSG25832.shp.xml"
    metadata.write_text(f'<?xml version="1.0"?>\n{build.XXE}<metadata>&xxe;</metadata>\n')
    with pytest.raises(InputError, match=r"shp\.xml: enthält eine DTD/Entity-Definition"):
        geodata.read_layer(tmp_path / "Stadtbezirke_EPSG25832.shp", dataset.source)
    metadata.unlink()
    assert geodata.read_layer(tmp_path / "Stadtbezirke_EPSG25832.shp", dataset.source).layer


def test_the_driver_must_be_the_one_of_the_ending(sirenen, tmp_path) -> None:
    # a JSON object that GDAL reads as ESRI JSON, not GeoJSON
    path = tmp_path / "Sirenen.json"
    path.write_text(
        '{"geometryType": "esriGeometryPoint", "spatialReference": {"wkid": 4326}, '
        '"fields": [], "features": [{"attributes": {}, "geometry": {"x": 6.8, "y": 51.2}}]}'
    )
    with pytest.raises(InputError, match="GDAL liest die Datei als ESRIJSON, erwartet GeoJSON"):
        geodata.read_layer(path, sirenen.source)
