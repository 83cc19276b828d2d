"""The `harvest` command line contract: exit codes, messages, outputs, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, PROJECT

HARVEST = [sys.executable, "-m", "etl.cli"]


def harvest(
    *args: str, env: dict[str, str] | None = None, cwd: Path = PROJECT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HARVEST, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr


def test_help_lists_the_commands() -> None:
    result = harvest("--help")
    assert result.returncode == 0
    for command in ("list", "check", "publish"):
        assert command in result.stdout


def test_list_shows_registered_datasets() -> None:
    result = harvest("list")
    assert result.returncode == 0
    assert "vornamen" in result.stdout


def test_check_valid_samples_writes_outputs(tmp_path) -> None:
    result = harvest("check", "vornamen", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vornamen.csv", "vornamen.json"]
    text = (tmp_path / "vornamen.csv").read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == "jahr;vorname;geschlecht;position;anzahl"
    assert "Renée" in text and "Søren" in text  # Windows-1252 input decoded right


def test_check_invalid_real_file_exits_1_with_file_row_column(tmp_path) -> None:
    source = FIXTURES / "firstnames" / "Vornamen_Muenchen_2015.csv"
    before = source.read_bytes()
    result = harvest("check", "vornamen", str(source), "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert_no_traceback(result)
    assert "Vornamen_Muenchen_2015.csv, Zeile 207, Spalte vornamen" in result.stderr
    assert "gefunden: '+'" in result.stderr
    assert not (tmp_path / "out").exists()
    assert source.read_bytes() == before


@pytest.mark.parametrize(
    ("name", "content", "code", "message"),
    [
        ("v_2020.csv", b"\x00\x01\x02garbage" * 100, 2, "NUL-Bytes"),
        ("v_2020.csv", b"", 2, "leer"),
        ("v_2020.xlsx", b"PK", 2, "Dateityp .xlsx"),
        ("v_2020.csv", b"Vorname;Anzahl\n", 1, "mindestens eine Datenzeile"),
        (
            "v_2020.csv",
            b"Vorname;Anzahl;Geschlecht\nAnna;-3;w\n",
            1,
            "Anzahl ist mindestens 1",
        ),
        ("v_2020.csv", b"Vorname;Geschlecht\nAnna;w\n", 1, "Pflichtspalte fehlt"),
    ],
)
def test_bad_input_gives_exit_code_and_reason(tmp_path, name, content, code, message) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = harvest("check", "vornamen", str(path), "--out", str(tmp_path / "out"))
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert_no_traceback(result)
    assert path.read_bytes() == content


def test_unknown_dataset_and_missing_file_exit_2(tmp_path) -> None:
    result = harvest("check", "gibt-es-nicht", "x.csv")
    assert result.returncode == 2
    assert "unknown dataset 'gibt-es-nicht'" in result.stderr
    result = harvest("check", "vornamen", str(tmp_path / "fehlt.csv"))
    assert result.returncode == 2
    assert "Datei nicht gefunden" in result.stderr
    assert_no_traceback(result)


def test_publish_without_portal_configuration_exits_4() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CKAN_")}
    result = subprocess.run(
        [*HARVEST, "publish", "vornamen"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT,
        env=env,
    )
    assert result.returncode == 4
    assert "CKAN_URL is not set" in result.stderr


def test_publish_refuses_plain_http_to_remote_portal() -> None:
    result = harvest(
        "publish",
        "vornamen",
        env={"CKAN_URL": "http://opendata.example.org", "CKAN_API_TOKEN": "x"},
    )
    assert result.returncode == 4
    assert "plain HTTP" in result.stderr
    assert_no_traceback(result)
