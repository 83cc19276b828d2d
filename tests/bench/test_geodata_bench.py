"""The geodata benchmark's input and pipeline side do the work the benchmark claims.

No timings here (they go in the benchmark report) and no ``ogr2ogr``: only that the
generated polygons are sensible and the pipeline side writes RFC 7946 GeoJSON and a
KML with every feature, in lon/lat inside the city.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyogrio
import shapely

from bench.geodata_bench import CITY, INPUT_CRS, polygons, render_pipeline, write_input

COUNT = 60


def inside_city(lon: float, lat: float) -> bool:
    return CITY[0] <= lon <= CITY[2] and CITY[1] <= lat <= CITY[3]


def test_generated_polygons_are_valid_and_distinct() -> None:
    frame = polygons(COUNT)
    assert len(frame) == COUNT
    assert frame.crs.to_epsg() == int(INPUT_CRS.split(":")[1])
    geoms = frame.geometry.to_numpy()
    assert shapely.is_valid(geoms).all()
    assert not shapely.intersects(geoms[0], geoms[1:]).any()
    assert frame["Nummer"].is_unique
    assert frame["Stadtteil"].str.contains("ü|ö").any()
    assert polygons(COUNT).geometry.equals(frame.geometry)  # same seed, same input


def test_pipeline_side_writes_rfc7946_geojson_and_kml(tmp_path: Path) -> None:
    source = write_input(tmp_path / "flaechen.gpkg", COUNT)
    result = render_pipeline(source, tmp_path / "out")

    assert result["features"] == COUNT
    collection = json.loads(Path(result["outputs"]["GEOJSON"]).read_text(encoding="utf-8"))
    assert collection["type"] == "FeatureCollection"
    assert "crs" not in collection
    features = collection["features"]
    assert len(features) == COUNT
    assert [f["properties"]["nummer"] for f in features] == [
        f"{n:06d}" for n in range(1, COUNT + 1)
    ]
    assert features[0]["properties"]["name"] == "Flurstück 1"
    for feature in features:
        polygon = shapely.geometry.shape(feature["geometry"])
        assert polygon.exterior.is_ccw  # RFC 7946 right-hand rule
        assert all(inside_city(lon, lat) for lon, lat in shapely.get_coordinates(polygon))

    kml = pyogrio.read_info(result["outputs"]["KML"], force_feature_count=True)
    assert kml["features"] == COUNT
