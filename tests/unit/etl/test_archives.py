"""Zip deliveries are unpacked only into the given folder, and only within limits."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from etl.archives import check_members, extract_zip
from etl.errors import InputError

LIMITS = {"max_bytes": 10 * 1024 * 1024, "max_ratio": 100}


def make_zip(path: Path, entries: dict[str, bytes], **kwargs) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, **kwargs) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def test_regular_entries_are_extracted_into_the_target_only(tmp_path) -> None:
    source = make_zip(tmp_path / "in.zip", {"a.shp": b"1", "ordner/b.dbf": b"22", "ordner/": b""})
    before = source.read_bytes()
    target = tmp_path / "out"
    target.mkdir()
    written = extract_zip(source, target, **LIMITS)
    assert sorted(p.relative_to(target).as_posix() for p in written) == ["a.shp", "ordner/b.dbf"]
    assert (target / "ordner" / "b.dbf").read_bytes() == b"22"
    assert source.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.zip", "out"]


@pytest.mark.parametrize(
    "name", ["../boese.shp", "ordner/../../boese.shp", "/etc/boese.shp", "C:/boese.shp", "..\\x"]
)
def test_entries_escaping_the_target_are_refused_before_anything_is_written(tmp_path, name) -> None:
    source = make_zip(tmp_path / "in.zip", {"gut.shp": b"1", name: b"2"})
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(InputError, match="unzulässigen Pfad") as caught:
        extract_zip(source, target, **LIMITS)
    assert caught.value.exit_code == 2
    assert list(target.iterdir()) == []
    assert not (tmp_path / "boese.shp").exists()


def test_symlinks_are_refused(tmp_path) -> None:
    source = tmp_path / "in.zip"
    with zipfile.ZipFile(source, "w") as archive:
        info = zipfile.ZipInfo("link.shp")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    with pytest.raises(InputError, match="symbolischer Link"):
        extract_zip(source, tmp_path, **LIMITS)


def test_zip_bombs_are_refused_by_ratio_and_by_total_size(tmp_path) -> None:
    bomb = make_zip(tmp_path / "bomb.zip", {"nullen.dbf": b"\0" * (5 * 1024 * 1024)})
    with pytest.raises(InputError, match="ungewöhnlich stark komprimiert"):
        extract_zip(bomb, tmp_path, **LIMITS)
    big = make_zip(tmp_path / "big.zip", {"a.dbf": b"x" * 600, "b.dbf": b"y" * 600})
    with pytest.raises(InputError, match="größer als 1,000 Bytes"):
        extract_zip(big, tmp_path, max_bytes=1000, max_ratio=100)


def test_small_highly_compressible_files_are_fine(tmp_path) -> None:
    # a .dbf of blank padding compresses at ratios far above 100 without being a bomb
    source = make_zip(tmp_path / "in.zip", {"a.dbf": b" " * 500_000})
    assert len(extract_zip(source, tmp_path / "out", **LIMITS)) == 1


def test_not_a_zip_is_an_input_error(tmp_path) -> None:
    path = tmp_path / "kaputt.zip"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(InputError, match="keine lesbare ZIP-Datei"):
        extract_zip(path, tmp_path, **LIMITS)


def test_too_many_entries_are_refused_before_any_size_is_looked_at(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("etl.archives.MAX_ENTRIES", 3)
    source = make_zip(tmp_path / "in.zip", {f"t{n}.dbf": b"1" for n in range(4)})
    with pytest.raises(InputError, match="hat 4 Einträge, erlaubt sind höchstens 3"):
        extract_zip(source, tmp_path / "out", **LIMITS)
    assert not (tmp_path / "out").exists()


def test_check_members_reads_only_the_directory(tmp_path) -> None:
    # the declared sizes decide; the bomb's data is never inflated
    bomb = make_zip(tmp_path / "bomb.zip", {"nullen.xml": b"\0" * (5 * 1024 * 1024)})
    with zipfile.ZipFile(bomb) as archive, pytest.raises(InputError, match="ZIP-Bomben"):
        check_members(archive, name="bomb.zip", **LIMITS)
