"""``harvest check`` on geodata: exit codes and German reasons for good and bad deliveries.

Most cases run the CLI in-process (typer's runner); a few run the installed
``harvest`` script as a subprocess, as an operator or the DAG's caller would.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
from typer.testing import CliRunner

from etl.cli import app
from tests.conftest import PROJECT
from tests.unit.etl import geodata_inputs as inputs

HARVEST = Path(sys.executable).parent / "harvest"


@pytest.fixture(scope="module")
def districts() -> gpd.GeoDataFrame:
    return inputs.districts()


def run(*args: str):
    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.mark.parametrize("dataset_id", ["stadtbezirke", "sirenenstandorte"])
def test_bundled_samples_pass_as_a_subprocess(dataset_id: str, tmp_path) -> None:
    result = subprocess.run(
        [str(HARVEST), "check", dataset_id, "--out", str(tmp_path)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert f"✓ {dataset_id}:" in result.stdout
    written = sorted(p.suffix for p in tmp_path.iterdir())
    expected = [".csv", ".geojson", ".gpkg", ".kml", ".kmz"]
    assert written == sorted(expected + ([".gpx"] if dataset_id == "sirenenstandorte" else []))


def test_missing_prj_exits_2_as_a_subprocess(districts, tmp_path) -> None:
    path = inputs.shapefile_zip(
        districts.to_crs("EPSG:25832"), tmp_path / "Bezirke.zip", drop=(".cpg", ".prj")
    )
    result = subprocess.run(
        [str(HARVEST), "check", "stadtbezirke", str(path), "--out", str(tmp_path / "out")],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert "Bezirke.zip: kein Koordinatensystem" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_duplicate_number_exits_1_as_a_subprocess(districts, tmp_path) -> None:
    doubled = districts.copy()
    doubled.loc[9, "Nummer"] = "09"
    path = inputs.geojson_with_bom(doubled, tmp_path / "Bezirke.geojson")
    result = subprocess.run(
        [str(HARVEST), "check", "stadtbezirke", str(path), "--out", str(tmp_path / "out")],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert "✗ Jede Nummer kommt nur einmal vor" in result.stderr
    assert "Bezirke.geojson, Zeile 10, Spalte Nummer: Zwei Flächen tragen dieselbe Nummer." in (
        result.stderr
    )
    assert not (tmp_path / "out").exists()


def _bad_variants(districts: gpd.GeoDataFrame, folder: Path) -> dict[str, tuple[str, Path]]:
    utm = districts.to_crs("EPSG:25832")
    sea = gpd.GeoDataFrame(
        {
            "KENNUNG": ["S-0101", "S-0102"] + [f"S-09{n:02d}" for n in range(1, 60)],
            "STANDORT": ["Dach Rathaus"] * 61,
            "STADTBEZ": ["01", "01"] + ["09"] * 59,
            "TYP": ["elektronisch"] * 61,
            "BAUJAHR": [2020] * 61,
        },
        # the second siren lies in the North Sea, the rest around Benrath
        geometry=gpd.points_from_xy(
            [6.78, 4.1] + [6.87 + n * 0.0005 for n in range(59)],
            [51.22, 53.6] + [51.16] * 59,
        ),
        crs="EPSG:4326",
    ).to_crs("EPSG:25832")
    evil = folder / "Bezirke-mit-Pfad.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../Bezirke.shp", b"")
    bowtie = inputs.with_geometry(districts, 4, inputs.bowtie(districts.geometry.iloc[4]))
    return {
        "missing .prj": (
            "stadtbezirke",
            inputs.shapefile_zip(utm, folder / "a" / "Bezirke.zip", drop=(".cpg", ".prj")),
        ),
        "CRS contradicting the registry": (
            "stadtbezirke",
            inputs.shapefile_zip(districts.to_crs("EPSG:31466"), folder / "b" / "Bezirke.zip"),
        ),
        "swapped axes": (
            "stadtbezirke",
            inputs.geojson_with_bom(inputs.swapped_axes(districts), folder / "Bezirke-latlon.json"),
        ),
        "point in the sea": (
            "sirenenstandorte",
            inputs.geopackage(sea, folder / "Sirenen.gpkg", layer="sirenenstandorte"),
        ),
        "self-intersecting polygon": (
            "stadtbezirke",
            inputs.geopackage(bowtie.to_crs("EPSG:4647"), folder / "Bezirke-4647.gpkg"),
        ),
        "empty geometry": (
            "stadtbezirke",
            inputs.geojson_with_bom(
                districts,
                folder / "Bezirke-leer.geojson",
                geometries={2: {"type": "Polygon", "coordinates": []}},
            ),
        ),
        "zip entry with ../": ("stadtbezirke", evil),
        "shapefile zip without .shx": (
            "stadtbezirke",
            inputs.shapefile_zip(utm, folder / "c" / "Bezirke.zip", drop=(".cpg", ".shx")),
        ),
    }


EXPECTED = {
    "missing .prj": (2, "Bezirke.zip: kein Koordinatensystem: zu Bezirke.shp fehlt die Datei"),
    "CRS contradicting the registry": (
        2,
        "Koordinatensystem DHDN / 3-degree Gauss-Kruger zone 2 (EPSG:31466) ist für diesen "
        "Datensatz nicht vorgesehen; erwartet: EPSG:25832 oder EPSG:4647 oder EPSG:4326",
    ),
    "swapped axes": (1, "Bezirke-latlon.json, Zeile 1, Spalte Geometrie: Koordinaten liegen"),
    "point in the sea": (
        1,
        "Sirenen.gpkg, Zeile 2, Spalte Geometrie: Der Punkt liegt außerhalb Düsseldorfs",
    ),
    "self-intersecting polygon": (
        1,
        "Bezirke-4647.gpkg, Zeile 5, Spalte Geometrie: Ungültige Fläche, z. B. "
        "Selbstüberschneidung; bitte im GIS reparieren (gefunden: Grund und Ort). – gefunden: "
        "'Selbstüberschneidung bei Länge 6.",
    ),
    "empty geometry": (
        1,
        "Bezirke-leer.geojson, Zeile 3, Spalte Geometrie: Die Geometrie ist leer",
    ),
    "zip entry with ../": (
        2,
        "Bezirke-mit-Pfad.zip: der ZIP-Eintrag '../Bezirke.shp' hat einen unzulässigen Pfad",
    ),
    "shapefile zip without .shx": (
        2,
        "Bezirke.zip: Shapefile unvollständig: zu Bezirke.shp fehlt Bezirke.shx",
    ),
}


@pytest.fixture(scope="module")
def bad_variants(districts, tmp_path_factory) -> dict[str, tuple[str, Path]]:
    return _bad_variants(districts, tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize("case", list(EXPECTED))
def test_bad_delivery_is_refused_with_a_german_reason(case, bad_variants, tmp_path) -> None:
    dataset_id, path = bad_variants[case]
    before = path.read_bytes()
    listing = sorted(p.name for p in path.parent.parent.rglob("*"))
    result = run("check", dataset_id, str(path), "--out", str(tmp_path / "out"))
    code, reason = EXPECTED[case]
    assert result.exit_code == code, result.output
    assert reason in " ".join(result.stderr.split()), result.stderr
    assert not (tmp_path / "out").exists()  # nothing rendered
    assert path.read_bytes() == before
    # nothing unpacked or created next to the input (or above it, for '../')
    assert sorted(p.name for p in path.parent.parent.rglob("*")) == listing


def test_out_of_city_point_names_its_coordinates_in_the_report(bad_variants) -> None:
    result = run("check", "sirenenstandorte", str(bad_variants["point in the sea"][1]))
    assert result.exit_code == 1
    text = " ".join(result.stderr.split())
    assert "✗ Der Standort liegt im Stadtgebiet: Länge zwischen 6,66° und 6,97°" in text
    assert "Sirenen.gpkg, Zeile 2, Spalte Geometrie" in text
    assert "gefunden: 4.1" in text
