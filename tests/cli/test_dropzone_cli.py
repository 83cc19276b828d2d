"""The `harvest dropzone --once` contract: folders, exit codes, no traceback, nothing lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import PROJECT

HARVEST = [sys.executable, "-m", "etl.cli"]
SAMPLE = PROJECT / "samples" / "vornamen" / "Vornamen_2021_weiblich.csv"


def dropzone(root: Path, *args: str, env: dict[str, str] | None = None):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CKAN_", "HARVEST_"))}
    return subprocess.run(
        [*HARVEST, "dropzone", *args, "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT,
        env={
            **base,
            "COLUMNS": "250",
            "HARVEST_WORK_DIR": str(root.parent / "work"),
            "HARVEST_DROPZONE_SETTLE_SECONDS": "0",
            **(env or {}),
        },
    )


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.exists() else []


def test_empty_root_is_created_with_a_folder_per_dataset_and_exits_0(tmp_path) -> None:
    root = tmp_path / "dropzone"
    result = dropzone(root, "--once", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "nothing to do" in result.stdout
    assert {"vornamen", "flaeche-stadtbezirke"} <= {p.name for p in root.iterdir()}
    assert {p.name for p in (root / "vornamen").iterdir()} == {
        "archiv",
        "abgelehnt",
        ".warteschlange",
    }


def test_without_once_is_a_usage_error(tmp_path) -> None:
    result = dropzone(tmp_path / "dropzone")
    assert result.returncode == 4
    assert "--once" in result.stderr
    assert "Traceback" not in result.stderr


def test_real_run_without_portal_configuration_exits_4_and_touches_nothing(tmp_path) -> None:
    root = tmp_path / "dropzone"
    (root / "vornamen").mkdir(parents=True)
    (root / "vornamen" / "Vornamen_2024_weiblich.csv").write_bytes(SAMPLE.read_bytes())
    result = dropzone(root, "--once")
    assert result.returncode == 4
    assert "CKAN_URL is not set" in result.stderr
    assert files(root / "vornamen") == ["Vornamen_2024_weiblich.csv"]


def test_dry_run_files_valid_invalid_and_unknown_and_ignores_partial_files(tmp_path) -> None:
    root = tmp_path / "dropzone"
    folder = root / "vornamen"
    folder.mkdir(parents=True)
    (folder / "Vornamen_2024_weiblich.csv").write_bytes(SAMPLE.read_bytes())
    (folder / "Vornamen_2019_weiblich.csv.part").write_bytes(SAMPLE.read_bytes())
    (folder / "~$Vornamen.xlsx").write_bytes(b"lock")
    result = dropzone(root, "--once", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dry_run" in result.stdout
    [archived] = files(folder / "archiv")
    assert archived.startswith("Vornamen_2024_weiblich__") and archived.endswith("__probelauf.csv")
    assert files(folder) == ["Vornamen_2019_weiblich.csv.part", "~$Vornamen.xlsx"]

    (folder / "Vornamen_2020_weiblich.csv").write_text("Name;Anzahl\nAnna;0\n", encoding="utf-8")
    result = dropzone(root, "--once", "--dry-run")
    assert result.returncode == 1  # invalid data
    assert "rejected" in result.stdout
    rejected = files(folder / "abgelehnt")
    assert len(rejected) == 3
    report = json.loads((folder / "abgelehnt" / rejected[2]).read_text(encoding="utf-8"))
    assert report["problems"][0]["row"] == 2
    assert report["problems"][0]["column"] == "Anzahl"
    assert report["problems"][0]["found"] == 0

    (folder / "Vornamen_2020.xlsx").write_bytes(b"PK\x03\x04")
    (root / "unbekannt").mkdir()
    (root / "unbekannt" / "daten.csv").write_text("a;b\n1;2\n")
    result = dropzone(root, "--once", "--dry-run")
    assert result.returncode == 2  # unusable input: wrong type, unknown folder
    assert "Traceback" not in result.stderr
    assert len(files(folder / "abgelehnt")) == 6
    assert len(files(root / "unbekannt" / "abgelehnt")) == 3


def test_nothing_dropped_is_ever_lost(tmp_path) -> None:
    root = tmp_path / "dropzone"
    folder = root / "vornamen"
    folder.mkdir(parents=True)
    contents = {
        "Vornamen_2024_weiblich.csv": SAMPLE.read_bytes(),
        "Vornamen_2020_weiblich.csv": b"Name;Anzahl\nAnna;0\n",
        "leer.csv": b"",
        "bild.png": b"\x89PNG",
    }
    for name, content in contents.items():
        (folder / name).write_bytes(content)
    dropzone(root, "--once", "--dry-run")
    kept = {p.read_bytes() for p in folder.rglob("*") if p.is_file() and ".bericht." not in p.name}
    assert kept == set(contents.values())
