"""Published geodata files, parsed back: coordinates, umlauts, precision, stable bytes."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sqlite3
import zipfile
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import shapely
from defusedxml import ElementTree

from etl import pipeline
from etl.errors import ConfigError
from etl.formats import render
from etl.geoformats import GPKG_TIMESTAMP, ZIP_TIMESTAMP
from etl.ledger import Ledger
from etl.registry import Resource, get_dataset
from tests.conftest import PROJECT

KML = "{http://www.opengis.net/kml/2.2}"
GPX = "{http://www.topografix.com/GPX/1/1}"
CITY = (6.66, 51.10, 6.97, 51.37)


def in_city(lon: float, lat: float) -> bool:
    return CITY[0] <= lon <= CITY[2] and CITY[1] <= lat <= CITY[3]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, dict[str, Path]]:
    """Both datasets checked from their bundled samples, each rendered twice."""
    out: dict[str, dict[str, Path]] = {}
    for dataset_id in ("stadtbezirke", "sirenenstandorte"):
        dataset = get_dataset(dataset_id)
        paths = pipeline.resolve_inputs(dataset)
        first = pipeline.check(dataset, paths, tmp_path_factory.mktemp(dataset_id))
        second = pipeline.check(dataset, paths, tmp_path_factory.mktemp(dataset_id))
        assert [f.sha256 for f in first.files] == [f.sha256 for f in second.files]
        out[dataset_id] = {f.format: Path(f.path) for f in first.files}
    return out


def test_every_registered_format_is_rendered(built) -> None:
    assert sorted(built["stadtbezirke"]) == ["CSV", "GEOJSON", "GPKG", "KML", "KMZ"]
    assert sorted(built["sirenenstandorte"]) == ["CSV", "GEOJSON", "GPKG", "GPX", "KML", "KMZ"]
    assert built["stadtbezirke"]["GEOJSON"].name == "stadtbezirke.geojson"
    assert built["sirenenstandorte"]["GPX"].name == "sirenenstandorte.gpx"


def test_geojson_is_rfc7946(built) -> None:
    text = built["stadtbezirke"]["GEOJSON"].read_text(encoding="utf-8")
    assert not text.startswith("\ufeff")
    collection = json.loads(text)
    assert collection["type"] == "FeatureCollection"
    assert "crs" not in collection
    assert "Flingern Süd, Flingern Nord, Düsseltal" in text  # UTF-8, not \u-escaped
    numbers = re.findall(r"-?\d+\.\d+", text.split('"features"')[1])
    assert max(len(n.split(".")[1]) for n in numbers) == 7
    for feature in collection["features"]:
        polygon = shapely.geometry.shape(feature["geometry"])
        assert polygon.is_valid
        assert polygon.exterior.is_ccw  # right-hand rule
        lon, lat = shapely.get_coordinates(polygon)[0]
        assert in_city(lon, lat)  # lon first
    points = json.loads(built["sirenenstandorte"]["GEOJSON"].read_text(encoding="utf-8"))
    assert len(points["features"]) == 82
    assert all(f["geometry"]["type"] == "Point" for f in points["features"])
    assert all(in_city(*f["geometry"]["coordinates"]) for f in points["features"])


def test_kml_has_names_attributes_and_lon_lat(built) -> None:
    root = ElementTree.parse(built["stadtbezirke"]["KML"]).getroot()
    placemarks = root.findall(f".//{KML}Placemark")
    assert [p.findtext(f"{KML}name") for p in placemarks] == [
        f"Stadtbezirk {n}" for n in range(1, 11)
    ]
    second = {d.get("name"): d.text for d in placemarks[1].iter(f"{KML}SimpleData")}
    assert second == {"nummer": "02", "stadtteile": "Flingern Süd, Flingern Nord, Düsseltal"}
    coordinates = placemarks[0].findtext(f".//{KML}coordinates").split()
    lon, lat = map(float, coordinates[0].split(","))
    assert in_city(lon, lat)
    assert max(len(c.split(".")[1]) for pair in coordinates for c in pair.split(",")) <= 7


def test_kmz_is_the_kml_zipped_with_a_fixed_date(built) -> None:
    with zipfile.ZipFile(built["stadtbezirke"]["KMZ"]) as archive:
        [entry] = archive.infolist()
        content = archive.read(entry)
    assert entry.filename == "doc.kml"
    assert entry.date_time == ZIP_TIMESTAMP
    assert entry.compress_type == zipfile.ZIP_DEFLATED
    assert content == built["stadtbezirke"]["KML"].read_bytes()


def test_gpx_waypoints_for_the_sirens(built) -> None:
    root = ElementTree.parse(built["sirenenstandorte"]["GPX"]).getroot()
    assert root.tag == f"{GPX}gpx" and root.get("version") == "1.1"
    waypoints = root.findall(f"{GPX}wpt")
    assert len(waypoints) == 82
    assert all(in_city(float(w.get("lon")), float(w.get("lat"))) for w in waypoints)
    assert [w.findtext(f"{GPX}name") for w in waypoints[:2]] == ["S-0101", "S-0102"]
    places = {e.text for e in root.iter("{http://osgeo.org/gdal}standort")}
    assert "Dach Bürgerhaus" in places


def test_gpx_of_polygons_is_a_registry_mistake(tmp_path) -> None:
    dataset = get_dataset("stadtbezirke")
    frame = gpd.GeoDataFrame(
        {"nummer": ["01"], "name": ["x"], "stadtteile": ["y"]},
        geometry=[shapely.box(6.7, 51.2, 6.8, 51.3)],
        crs="EPSG:4326",
    )
    gpx = dataset.model_copy(update={"resources": [Resource(format="GPX")]})
    with pytest.raises(ConfigError, match="GPX holds points and lines only"):
        render(gpx, frame, tmp_path)


def test_geopackage_is_etrs89_utm32_and_matches_the_delivery(built, tmp_path) -> None:
    path = built["stadtbezirke"]["GPKG"]
    info = pyogrio.read_info(path)
    assert info["crs"] == "EPSG:25832"
    assert info["layer_name"] == "stadtbezirke"
    published = pyogrio.read_dataframe(path)
    assert list(published.columns) == ["nummer", "name", "stadtteile", "geometry"]
    assert published["stadtteile"].iloc[3].endswith("Lörick, Niederkassel")
    with zipfile.ZipFile(PROJECT / "samples/stadtbezirke/Stadtbezirke_EPSG25832.zip") as archive:
        archive.extractall(tmp_path)
    delivered = pyogrio.read_dataframe(tmp_path / "Stadtbezirke_EPSG25832.shp", encoding="cp1252")
    for ours, theirs in zip(published.geometry, delivered.geometry, strict=True):
        # 25832 → WGS84 → 25832 and millimetre rounding: back on the centimetre grid
        assert shapely.equals_exact(ours, theirs, tolerance=0.0015)
    with sqlite3.connect(path) as db:
        [(stamp,)] = db.execute("SELECT last_change FROM gpkg_contents").fetchall()
    assert stamp == GPKG_TIMESTAMP


def test_csv_carries_wkt_for_polygons_and_lon_lat_for_points(built) -> None:
    raw = built["stadtbezirke"]["CSV"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfnummer;name;stadtteile;wkt\r\n")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert len(rows) == 10
    geojson = gpd.read_file(built["stadtbezirke"]["GEOJSON"])
    for row, geometry in zip(rows, geojson.geometry, strict=True):
        polygon = shapely.from_wkt(row["wkt"])
        assert polygon.is_valid
        assert shapely.normalize(polygon).equals_exact(shapely.normalize(geometry), 2e-7)
    points = list(
        csv.DictReader(
            io.StringIO(built["sirenenstandorte"]["CSV"].read_text(encoding="utf-8-sig")),
            delimiter=";",
        )
    )
    assert list(points[0]) == [
        "kennung",
        "standort",
        "stadtbezirk",
        "sirenentyp",
        "baujahr",
        "longitude",
        "latitude",
    ]
    assert all(in_city(float(p["longitude"]), float(p["latitude"])) for p in points)
    assert max(len(p["latitude"].split(".")[1]) for p in points) <= 7


def test_rendering_does_not_depend_on_the_clock_or_the_folder(built, tmp_path) -> None:
    """The staged (Airflow) path gives the same bytes as the direct one, in another folder."""
    dataset = get_dataset("sirenenstandorte")
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    paths = pipeline.resolve_inputs(dataset)
    staged = pipeline.stage_extract(dataset, paths, tmp_path, ledger=ledger, run_id="t")
    transformed = pipeline.stage_transform(dataset, staged["raw"], tmp_path)
    validated = pipeline.stage_validate(
        dataset, transformed["tidy"], tmp_path, ledger=ledger, run_id="t"
    )
    hashes = {f["format"]: f["sha256"] for f in validated["files"]}
    for fmt, path in built["sirenenstandorte"].items():
        assert hashes[fmt] == hashlib.sha256(path.read_bytes()).hexdigest(), fmt
    assert validated["facts"]["spatial"]["type"] == "Polygon"


def test_tabular_datasets_are_unaffected(tmp_path) -> None:
    import pandas as pd

    frame = pd.DataFrame(
        {
            "jahr": pd.array([2023], dtype="Int64"),
            "vorname": pd.array(["Zoë"], dtype="string"),
            "geschlecht": pd.array(["w"], dtype="string"),
            "position": pd.array([1], dtype="Int64"),
            "anzahl": pd.array([3], dtype="Int64"),
        }
    )
    files = render(get_dataset("vornamen"), frame, tmp_path)
    assert [f.format for f in files] == ["CSV", "JSON"]
    assert all(Path(f.path).stat().st_size > 0 for f in files)


def test_gpx_of_lines_are_tracks(tmp_path) -> None:
    dataset = get_dataset("sirenenstandorte")
    frame = gpd.GeoDataFrame(
        {"kennung": ["S-0101"], "standort": ["Weg über die Brücke"]},
        geometry=[shapely.LineString([(6.77, 51.22), (6.78123456789, 51.23)])],
        crs="EPSG:4326",
    )
    lines = dataset.model_copy(update={"resources": [Resource(format="GPX")]})
    [rendered] = render(lines, frame, tmp_path)
    root = ElementTree.parse(rendered.path).getroot()
    [track] = root.findall(f"{GPX}trk")
    assert track.findtext(f"{GPX}name") == "S-0101"
    points = track.findall(f".//{GPX}trkpt")
    assert [(p.get("lon"), p.get("lat")) for p in points] == [
        ("6.77", "51.22"),
        ("6.7812346", "51.23"),
    ]
