"""The geodata family: reading, CRS, encodings, geometry checks, on the real districts."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely

from etl import pipeline
from etl.errors import InputError, ValidationFailed
from etl.ledger import Ledger
from etl.registry import Column, Dataset, GeodataSource, get_dataset
from etl.sources import geodata
from etl.validate import validate
from tests.unit.etl import geodata_inputs as inputs
from tests.unit.etl.geodata_inputs import GEODATA

UMLAUT_QUARTERS = {"02": "Flingern Süd, Flingern Nord, Düsseltal", "04": "Lörick"}


@pytest.fixture(scope="module")
def stadtbezirke() -> Dataset:
    return get_dataset("stadtbezirke")


@pytest.fixture(scope="module")
def districts() -> gpd.GeoDataFrame:
    return inputs.districts()


def tidy_of(dataset: Dataset, *paths: Path):
    return pipeline.transform(dataset, pipeline.extract(dataset, list(paths)))


def problems_of(dataset: Dataset, *paths: Path) -> dict[str, list[tuple]]:
    report = validate(dataset, tidy_of(dataset, *paths))
    found: dict[str, list[tuple]] = {}
    for p in report.problems:
        found.setdefault(p.check, []).append((p.file, p.row, p.column, p.found))
    return found


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------ the three deliveries


@pytest.fixture(scope="module")
def three_variants(tmp_path_factory, districts) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("variants")
    return {
        "shapefile 25832 cp1252 without .cpg": inputs.shapefile_zip(
            districts.to_crs("EPSG:25832"), folder / "Stadtbezirke_25832.zip"
        ),
        "geopackage 4647": inputs.geopackage(
            districts.to_crs("EPSG:4647"), folder / "Stadtbezirke_4647.gpkg"
        ),
        "geojson with BOM": inputs.geojson_with_bom(districts, folder / "Stadtbezirke.geojson"),
    }


def test_fixture_variants_are_what_they_claim(three_variants) -> None:
    shp = three_variants["shapefile 25832 cp1252 without .cpg"]
    with zipfile.ZipFile(shp) as archive:
        names = sorted(archive.namelist())
        dbf = archive.read("Stadtbezirke_25832.dbf")
    assert [Path(n).suffix for n in names] == [".dbf", ".prj", ".shp", ".shx"]
    assert "Düsseltal".encode("cp1252") in dbf
    assert "Düsseltal".encode() not in dbf
    assert pyogrio.read_info(three_variants["geopackage 4647"])["crs"] == "EPSG:4647"
    assert three_variants["geojson with BOM"].read_bytes().startswith(b"\xef\xbb\xbf")


def test_three_deliveries_yield_the_same_wgs84_geojson(
    stadtbezirke, three_variants, districts, tmp_path
) -> None:
    collections = {}
    for label, path in three_variants.items():
        before = sha(path)
        outcome = pipeline.check(stadtbezirke, [path], tmp_path / label.replace(" ", "-"))
        assert sha(path) == before, f"{label}: input changed"
        geojson = next(f for f in outcome.files if f.format == "GEOJSON")
        collections[label] = json.loads(Path(geojson.path).read_text(encoding="utf-8"))

    reference = districts.to_crs("EPSG:25832")
    for label, collection in collections.items():
        assert "crs" not in collection, label
        properties = [f["properties"] for f in collection["features"]]
        assert [p["nummer"] for p in properties] == [f"{n:02d}" for n in range(1, 11)], label
        assert [p["name"] for p in properties] == [f"Stadtbezirk {n}" for n in range(1, 11)]
        for number, quarters in UMLAUT_QUARTERS.items():
            assert quarters in properties[int(number) - 1]["stadtteile"], label
        published = gpd.GeoDataFrame.from_features(collection, crs="EPSG:4326")
        assert published.is_valid.all()
        # vertex by vertex, in metres: every delivery gives the real boundaries within 1 m
        for index, geometry in enumerate(published.to_crs("EPSG:25832").geometry):
            ours = shapely.get_coordinates(shapely.normalize(geometry))
            theirs = shapely.get_coordinates(shapely.normalize(reference.geometry.iloc[index]))
            assert ours.shape == theirs.shape, (label, index)
            assert np.hypot(*(ours - theirs).T).max() < 1.0, (label, index)

    for label in three_variants:
        text = (tmp_path / label.replace(" ", "-") / "stadtbezirke.geojson").read_text("utf-8")
        numbers = re.findall(r"-?\d+\.(\d+)", text.split('"features"')[1])
        assert max(len(n) for n in numbers) == 7, label


def test_cp1252_without_cpg_is_detected_and_declared_encodings_win(
    stadtbezirke, districts, tmp_path
) -> None:
    euro = districts.copy()
    euro.loc[0, "Stadtteile"] = "Altstadt – „Kö“ für 5 €"
    cp1252 = inputs.shapefile_zip(euro, tmp_path / "a" / "cp1252.zip")
    raw = pipeline.extract(stadtbezirke, [cp1252])[0]
    assert raw.encoding == "cp1252"
    assert raw.frame["Stadtteile"].iloc[0] == "Altstadt – „Kö“ für 5 €"

    utf8 = inputs.shapefile_zip(euro, tmp_path / "b" / "utf8.zip", encoding="UTF-8")
    raw = pipeline.extract(stadtbezirke, [utf8])[0]
    assert raw.frame["Stadtteile"].iloc[0] == "Altstadt – „Kö“ für 5 €"

    # UTF-8 attributes, .cpg lost: 'auto' still reads them right
    lost = inputs.shapefile_zip(euro, tmp_path / "c" / "utf8-no-cpg.zip", encoding="UTF-8")
    raw = pipeline.extract(stadtbezirke, [lost])[0]
    assert raw.encoding == "utf-8"
    assert raw.frame["Stadtteile"].iloc[1] == "Flingern Süd, Flingern Nord, Düsseltal"


def test_registry_encoding_applies_when_the_cpg_is_missing(stadtbezirke, districts, tmp_path):
    path = inputs.shapefile_zip(districts, tmp_path / "latin.zip", encoding="cp1252")
    source = stadtbezirke.source.model_copy(update={"attribute_encoding": "utf-8"})
    with pytest.raises(InputError, match="nicht als utf-8 lesbar") as caught:
        geodata.read_layer(path, source)
    assert caught.value.exit_code == 2


def test_epsg_4647_points_match_the_citys_own_wgs84_coordinates(tmp_path) -> None:
    records = json.loads((GEODATA / "park_and_rides.json").read_text(encoding="utf-8"))
    records = records["result"]["records"]
    frame = gpd.GeoDataFrame(
        {"name": [r["name"] for r in records]},
        geometry=gpd.points_from_xy(
            [float(r["ostwert"]) for r in records], [float(r["nordwert"]) for r in records]
        ),
        crs="EPSG:4647",
    )
    path = inputs.geopackage(frame, tmp_path / "pr.gpkg", layer="park_and_ride")
    dataset = Dataset(
        id="park-and-ride",
        owner="test",
        source=GeodataSource(family="geodata", expected_crs=["EPSG:4647"]),
        organization={"name": "test", "title": "Test"},
        package={
            "title": "P+R",
            "description": "Park and ride sites",
            "maintainer": "x",
            "maintainer_email": "x@example.org",
            "themes": ["TRAN"],
            "frequency": "IRREG",
        },
        columns=[Column(name="name", type="string", description="Name")],
        resources=[{"format": "GEOJSON"}],
    )
    tidy = tidy_of(dataset, path)
    assert not tidy.problems
    ours = tidy.frame.to_crs("EPSG:25832").geometry
    city = gpd.GeoSeries(
        gpd.points_from_xy(
            [float(r["longitude"]) for r in records], [float(r["latitude"]) for r in records]
        ),
        crs="EPSG:4326",
    ).to_crs("EPSG:25832")
    # the portal's lat/lon were computed by the city from the same ostwert/nordwert
    # (rounded to metres), so both agree within a few metres
    assert len(ours) == len(records) > 5
    assert ours.distance(city, align=False).max() < 3.0
    assert tidy.frame["name"].tolist() == [r["name"] for r in records]


# ------------------------------------------------------------------ refused inputs


def test_missing_prj_is_refused_never_guessed(stadtbezirke, districts, tmp_path) -> None:
    path = inputs.shapefile_zip(
        districts.to_crs("EPSG:25832"), tmp_path / "ohne-prj.zip", drop=(".cpg", ".prj")
    )
    with pytest.raises(InputError, match=r"kein Koordinatensystem.*\.prj") as caught:
        pipeline.extract(stadtbezirke, [path])
    assert caught.value.exit_code == 2


def test_crs_contradicting_the_registry_is_refused(stadtbezirke, districts, tmp_path) -> None:
    path = inputs.shapefile_zip(districts.to_crs("EPSG:31466"), tmp_path / "gauss-krueger.zip")
    with pytest.raises(InputError, match=r"DHDN.*EPSG:31466.*nicht vorgesehen.*EPSG:25832"):
        pipeline.extract(stadtbezirke, [path])


def test_metres_declared_as_wgs84_are_refused(stadtbezirke, districts, tmp_path) -> None:
    metres = districts.to_crs("EPSG:25832").set_crs("EPSG:4326", allow_override=True)
    path = inputs.geojson_with_bom(metres, tmp_path / "utm-ohne-crs.geojson")
    with pytest.raises(InputError, match="keine Gradangaben; vermutlich Meter"):
        pipeline.extract(stadtbezirke, [path])


def test_shapefile_without_shx_is_refused(stadtbezirke, districts, tmp_path) -> None:
    path = inputs.shapefile_zip(districts, tmp_path / "ohne-shx.zip", drop=(".cpg", ".shx"))
    with pytest.raises(InputError, match=r"Shapefile unvollständig.*\.shx"):
        pipeline.extract(stadtbezirke, [path])


def test_several_layers_need_the_registry_to_choose(stadtbezirke, districts, tmp_path) -> None:
    path = inputs.geopackage(districts, tmp_path / "two.gpkg", layer="a")
    inputs.geopackage(districts, path, layer="b")
    with pytest.raises(InputError, match=r"mehrere Ebenen \(a, b\)"):
        pipeline.extract(stadtbezirke, [path])
    source = stadtbezirke.source.model_copy(update={"layer": "b"})
    assert geodata.read_layer(path, source).layer == "b"


def test_not_geodata_is_an_input_error(stadtbezirke, tmp_path) -> None:
    path = tmp_path / "stadtbezirke.json"
    path.write_text('{"hello": "world"}', encoding="utf-8")
    with pytest.raises(InputError) as caught:
        pipeline.extract(stadtbezirke, [path])
    assert caught.value.message == (
        "stadtbezirke.json: keine lesbare Geodatendatei (GDAL: not recognized as being in a "
        "supported file format); erwartet: Shapefile, GeoPackage, GeoJSON, KML oder GPX"
    )


# ------------------------------------------------------------------ invalid data


def test_swapped_axes_are_diagnosed(stadtbezirke, districts, tmp_path) -> None:
    path = inputs.geojson_with_bom(inputs.swapped_axes(districts), tmp_path / "latlon.geojson")
    found = problems_of(stadtbezirke, path)
    assert sorted(row for _f, row, _c, _v in found["Achsenreihenfolge"]) == list(range(1, 11))
    assert all(column == "Geometrie" for _f, _r, column, _v in found["Achsenreihenfolge"])
    # the generic extent rule is not repeated for the same features
    assert not [check for check in found if "Stadtgebiet" in check]


def test_self_intersecting_polygon_is_rejected_with_reason(
    stadtbezirke, districts, tmp_path
) -> None:
    broken = inputs.with_geometry(districts, 4, inputs.bowtie(districts.geometry.iloc[4]))
    path = inputs.geopackage(broken.to_crs("EPSG:4647"), tmp_path / "bowtie.gpkg")
    found = problems_of(stadtbezirke, path)
    [(file, row, column, reason)] = found["Die Geometrie ist gültig (OGC Simple Features)"]
    assert (file, row, column) == ("bowtie.gpkg", 5, "Geometrie")
    assert reason.startswith("Selbstüberschneidung bei Länge 6.")


def test_repair_only_when_the_registry_allows_it_and_then_reported(
    stadtbezirke, districts, tmp_path, caplog
) -> None:
    broken = inputs.with_geometry(districts, 4, inputs.bowtie(districts.geometry.iloc[4]))
    path = inputs.geopackage(broken, tmp_path / "bowtie.gpkg")
    lenient = stadtbezirke.model_copy(
        update={"source": stadtbezirke.source.model_copy(update={"allow_repair": True})}
    )
    with caplog.at_level(logging.WARNING, logger="etl.sources.geodata"):
        tidy = tidy_of(lenient, path)
    assert validate(lenient, tidy).success
    assert tidy.notes["repairs"] == [
        {"file": "bowtie.gpkg", "row": 5, "reason": tidy.notes["repairs"][0]["reason"]}
    ]
    assert tidy.notes["repairs"][0]["reason"].startswith("Selbstüberschneidung")
    assert "Objekt 5: ungültige Geometrie repariert" in caplog.text
    assert tidy.frame.geometry.is_valid.all()
    assert tidy.frame.loc[4, "_geometry_type"] in ("Polygon", "MultiPolygon")


def test_empty_and_missing_geometries_are_rejected(stadtbezirke, districts, tmp_path) -> None:
    path = inputs.geojson_with_bom(
        districts,
        tmp_path / "leer.geojson",
        geometries={2: {"type": "Polygon", "coordinates": []}, 6: None},
    )
    found = problems_of(stadtbezirke, path)
    assert found["Keine leere Geometrie"] == [("leer.geojson", 3, "Geometrie", True)]
    assert found["Jeder Stadtbezirk hat eine Geometrie"] == [("leer.geojson", 7, "Geometrie", None)]
    assert len(found) == 2  # neither is also reported as invalid or outside the city


def test_a_delivery_without_any_geometry_is_invalid_data_not_unreadable(
    stadtbezirke, districts, tmp_path
) -> None:
    path = inputs.geojson_with_bom(
        districts, tmp_path / "ohne.geojson", geometries=dict.fromkeys(range(10))
    )
    tidy = tidy_of(stadtbezirke, path)
    assert "spatial" not in tidy.notes["package"]
    found = problems_of(stadtbezirke, path)
    assert [row for _f, row, _c, _v in found["Jeder Stadtbezirk hat eine Geometrie"]] == list(
        range(1, 11)
    )


def test_duplicate_number_is_rejected(stadtbezirke, districts, tmp_path) -> None:
    doubled = districts.copy()
    doubled.loc[9, "Nummer"] = "09"
    path = inputs.geojson_with_bom(doubled, tmp_path / "doppelt.geojson")
    found = problems_of(stadtbezirke, path)
    assert sorted(found["Jede Nummer kommt nur einmal vor"]) == [
        ("doppelt.geojson", 9, "Nummer", "09"),
        ("doppelt.geojson", 10, "Nummer", "09"),
    ]


def test_missing_attribute_is_reported_with_what_the_file_has(stadtbezirke, districts, tmp_path):
    path = inputs.geojson_with_bom(districts.drop(columns="Stadtteile"), tmp_path / "x.geojson")
    report = validate(stadtbezirke, tidy_of(stadtbezirke, path))
    [problem] = [p for p in report.problems if p.check == "Attribute"]
    assert problem.message == "Pflichtattribut fehlt: stadtteile"
    assert problem.found == "Nummer, Name"
    with pytest.raises(ValidationFailed):
        pipeline.validate(stadtbezirke, tidy_of(stadtbezirke, path))


def test_attribute_values_are_typed_and_bad_ones_located(tmp_path) -> None:
    frame = gpd.GeoDataFrame(
        {"nr": ["1", "2,5", "x", None], "anteil": ["1,5", "2", "", "3.25"]},
        geometry=gpd.points_from_xy([6.8] * 4, [51.2] * 4),
        crs="EPSG:4326",
    )
    path = inputs.geojson_with_bom(frame, tmp_path / "werte.geojson")
    dataset = get_dataset("sirenenstandorte").model_copy(
        update={
            "source": GeodataSource(family="geodata"),
            "columns": [
                Column(name="nr", type="integer", description="n"),
                Column(name="anteil", type="number", description="a"),
            ],
        }
    )
    tidy = tidy_of(dataset, path)
    assert tidy.frame["nr"].tolist()[:1] == [1]
    assert tidy.frame["nr"].isna().tolist() == [False, True, True, True]
    assert tidy.frame["anteil"].tolist()[:2] == [1.5, 2.0]
    assert tidy.frame["anteil"].tolist()[3] == 3.25
    assert [(p.row, p.column, p.found) for p in tidy.problems] == [(2, "nr", "2,5"), (3, "nr", "x")]


# ------------------------------------------------------------------ staging


def test_raws_and_tidy_survive_staging_between_tasks(stadtbezirke, three_variants, tmp_path):
    path = three_variants["shapefile 25832 cp1252 without .cpg"]
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    staged = pipeline.stage_extract(stadtbezirke, [path], tmp_path, ledger=ledger, run_id="t")
    [raw] = geodata.load_raws([Path(p) for p in staged["raw"]])
    assert raw.frame.crs.to_epsg() == 25832
    assert raw.encoding == "cp1252"
    transformed = pipeline.stage_transform(stadtbezirke, staged["raw"], tmp_path)
    tidy = pipeline.load_tidy(Path(transformed["tidy"]))
    assert isinstance(tidy.frame, gpd.GeoDataFrame)
    assert tidy.frame.crs.to_epsg() == 4326
    direct = tidy_of(stadtbezirke, path)
    assert tidy.frame.geometry.geom_equals_exact(direct.frame.geometry, 1e-12).all()
    assert tidy.frame["stadtteile"].tolist() == direct.frame["stadtteile"].tolist()
    assert tidy.notes["package"]["spatial"] == direct.notes["package"]["spatial"]


def test_spatial_extent_is_a_wgs84_polygon_around_every_feature(stadtbezirke, three_variants):
    tidy = tidy_of(stadtbezirke, three_variants["geojson with BOM"])
    spatial = tidy.notes["package"]["spatial"]
    assert spatial["type"] == "Polygon"
    box = shapely.geometry.shape(spatial)
    assert box.is_valid and box.exterior.is_ccw
    assert box.covers(tidy.frame.geometry.union_all())
    minx, miny, maxx, maxy = box.bounds
    assert 6.68 < minx < 6.69 and 6.93 < maxx < 6.95
    assert 51.12 < miny < 51.13 and 51.35 < maxy < 51.36


def test_a_plain_shapefile_is_read_without_touching_its_folder(stadtbezirke, districts, tmp_path):
    folder = tmp_path / "lieferung"
    folder.mkdir()
    pyogrio.write_dataframe(districts.to_crs("EPSG:25832"), folder / "Bezirke.shp")
    before = {p.name: sha(p) for p in folder.iterdir()}
    tidy = tidy_of(stadtbezirke, folder / "Bezirke.shp")
    assert len(tidy.frame) == 10 and not tidy.problems
    assert {p.name: sha(p) for p in folder.iterdir()} == before


# ------------------------------------------------------------------ registry options


def test_registry_rejects_unknown_crs_notation_and_undocumented_columns() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="must be written as EPSG:<code>"):
        GeodataSource(family="geodata", expected_crs=["UTM32"])
    data = get_dataset("stadtbezirke").model_dump()
    data["source"]["id_column"] = "bezirksnummer"
    with pytest.raises(ValidationError, match=r"undocumented columns: \['bezirksnummer'\]"):
        Dataset.model_validate(data)


def test_geodata_defaults_accept_the_usual_deliveries() -> None:
    source = GeodataSource(family="geodata")
    assert source.accept == [".zip", ".gpkg", ".geojson", ".json", ".shp", ".kml", ".kmz", ".gpx"]
    assert source.allow_repair is False
    assert source.attribute_encoding == "auto"


def test_spatial_extent_becomes_a_ckan_extra(stadtbezirke, three_variants) -> None:
    from etl.portal import package_fields

    tidy = tidy_of(stadtbezirke, three_variants["shapefile 25832 cp1252 without .cpg"])
    extras = {
        e["key"]: e["value"] for e in package_fields(stadtbezirke, tidy.notes["package"])["extras"]
    }
    assert json.loads(extras["spatial"]) == tidy.notes["package"]["spatial"]
