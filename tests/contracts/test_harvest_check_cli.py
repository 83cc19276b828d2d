"""``harvest check`` on statistics tables: exit 0 writes outputs, 1 invalid data, 2 unreadable.

Three cases run the installed console script in a subprocess (the contract scripts
rely on); the other bad variants go through the same Typer app in-process.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from etl.cli import app
from tests.conftest import FIXTURES, PROJECT

HARVEST = Path(sys.executable).parent / "harvest"
STATISTICS = FIXTURES / "statistics"
FIRE_HEADER = "Jahr;Kleinbrände A;Kleinbrände B;Mittelbrände;Großbrände;ÜH (Mittelbrände)"


def harvest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HARVEST), *args], capture_output=True, text=True, timeout=300, cwd=PROJECT
    )


def derived(tmp_path: Path, name: str, source: Path, old: str, new: str) -> Path:
    text = source.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_samples_exit_0_and_outputs_are_written(tmp_path) -> None:
    result = harvest("check", "stadtbezirksprofile", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "426 rows valid" in result.stdout
    csv = (tmp_path / "stadtbezirksprofile.csv").read_text(encoding="utf-8-sig")
    assert csv.startswith("stadtbezirk;gebiet;abschnitt;oberbegriff;merkmal;masszahl;wert;status")
    assert (tmp_path / "stadtbezirksprofile.json").stat().st_size > 0


def test_unknown_stadtbezirk_exits_1_naming_row_and_column(tmp_path) -> None:
    bad = derived(
        tmp_path, "haushalte.csv", STATISTICS / "household_size.csv", "\n10;1001;", "\n11;1001;"
    )
    result = harvest("check", "haushalte-sozialraeume", str(bad), "--out", str(tmp_path / "out"))
    assert result.returncode == 1, result.stderr
    assert "haushalte.csv, Zeile 172, Spalte Stadtbezirk" in result.stderr
    assert "gefunden: '11'" in result.stderr
    assert not (tmp_path / "out").exists()


def test_unreadable_workbook_exits_2(tmp_path) -> None:
    bad = tmp_path / "Stadtbezirk03.xlsx"
    bad.write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    result = harvest("check", "stadtbezirksprofile", str(bad), "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert "Stadtbezirk03.xlsx: keine lesbare Excel-Arbeitsmappe" in result.stderr
    assert "Traceback" not in result.stderr


def fire_file(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "brandeinsaetze.csv"
    path.write_bytes(("\r\n".join([FIRE_HEADER, *rows]) + "\r\n").encode("cp1252"))
    return path


NEXT_YEAR = dt.date.today().year + 1


@pytest.mark.parametrize(
    ("case", "dataset", "make", "expected"),
    [
        (
            "negative count",
            "haushalte-sozialraeume",
            lambda tmp: derived(
                tmp,
                "h.csv",
                STATISTICS / "household_size.csv",
                ";0105;5035;3526;",
                ";0105;5035;-3526;",
            ),
            ["h.csv, Zeile 6, Spalte Haushalte mit 1 Person", "nicht negativ", "gefunden: -3526"],
        ),
        (
            "part larger than total",
            "haushalte-sozialraeume",
            lambda tmp: derived(
                tmp,
                "h.csv",
                STATISTICS / "household_size.csv",
                "01;0102;1625;1220;267;138;118;42",
                "01;0102;1625;1220;267;138;1718;42",
            ),
            [
                "h.csv, Zeile 3, Spalte Haushalte insgesamt, Haushalte mit Kindern",
                "gefunden: '1625, 1718'",
            ],
        ),
        (
            "duplicate year",
            "feuerwehr-brandeinsaetze",
            lambda tmp: fire_file(
                tmp, "2022;1.734;768;158;22;7", "2023;1.642;731;149;20;3", "2023;1.642;731;149;20;3"
            ),
            [
                "brandeinsaetze.csv, Zeile 3, Spalte Jahr",
                "brandeinsaetze.csv, Zeile 4, Spalte Jahr",
                "Jedes Jahr kommt nur einmal vor",
            ],
        ),
        (
            "future year",
            "feuerwehr-brandeinsaetze",
            lambda tmp: fire_file(tmp, "2024;1.611;724;153;19;4", f"{NEXT_YEAR};10;5;1;0;0"),
            ["brandeinsaetze.csv, Zeile 3, Spalte Jahr", f"gefunden: {NEXT_YEAR}"],
        ),
        (
            "text in a count",
            "feuerwehr-rettungsdienst",
            lambda tmp: derived(
                tmp,
                "r.csv",
                PROJECT / "samples/feuerwehr-rettungsdienst/rettungsdienst_2015-2024.csv",
                "2019; 45 262",
                "2019; ca. 45 000",
            ),
            ["r.csv, Zeile 6, Spalte Krankentransport", "ist keine Zahl", "gefunden: 'ca. 45 000'"],
        ),
        (
            "gap in the forecast years",
            "bevoelkerungsprognose",
            lambda tmp: derived(
                tmp,
                "p.csv",
                STATISTICS / "einwohner_prognose.csv",
                "2027; 669 200;674000; 679 800; 662 873\n",
                "",
            ),
            [
                "p.csv, Zeile 8, Spalte Jahr (Stichtag 01.01)",
                "Die Jahre folgen lückenlos aufeinander",
                "gefunden: 2",
            ],
        ),
        (
            "a district missing",
            "flaeche-stadtbezirke",
            lambda tmp: derived(tmp, "f.csv", STATISTICS / "distric_area.csv", "10;5,31\n", ""),
            ["Alle zehn Stadtbezirke 01 bis 10 sind enthalten"],
        ),
    ],
)
def test_invalid_data_exits_1_with_a_german_reason(tmp_path, case, dataset, make, expected) -> None:
    result = CliRunner().invoke(
        app, ["check", dataset, str(make(tmp_path)), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 1, (case, result.output)
    for text in expected:
        assert text in result.stderr, (case, text, result.stderr)
    assert not (tmp_path / "out").exists()


def test_binary_csv_exits_2(tmp_path) -> None:
    bad = tmp_path / "household_size.csv"
    bad.write_bytes(b"\x00\x01\x02\x03" * 20)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["check", "haushalte-sozialraeume", str(bad), "--out", str(out)]
    )
    assert result.exit_code == 2
    assert "NUL-Bytes" in result.stderr


def test_privacy_breach_in_a_verified_delivery_exits_1(tmp_path, monkeypatch) -> None:
    # the registry's households rule is 'apply'; a department that protects its own
    # figures gets 'verify', and a delivery with a count below 3 is rejected
    import yaml

    entry = yaml.safe_load((PROJECT / "registry/haushalte-sozialraeume.yaml").read_text("utf-8"))
    entry["source"]["privacy"]["mode"] = "verify"
    registry = tmp_path / "registry"
    registry.mkdir()
    (registry / "haushalte-sozialraeume.yaml").write_text(
        yaml.safe_dump(entry, allow_unicode=True), encoding="utf-8"
    )
    shutil.copy(PROJECT / "registry" / "_portal.yaml", registry)
    monkeypatch.setenv("HARVEST_REGISTRY", str(registry))
    bad = derived(
        tmp_path,
        "h.csv",
        STATISTICS / "household_size.csv",
        "02;0116;180;135;27;18;13;4",
        "02;0116;180;135;27;18;13;2",
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["check", "haushalte-sozialraeume", str(bad), "--out", str(out)]
    )
    assert result.exit_code == 1, result.output
    assert "h.csv, Zeile 17, Spalte Alleinerziehenden Haushalte" in result.stderr
    assert "Geheimhaltung" in result.stderr and "gefunden: 2" in result.stderr
