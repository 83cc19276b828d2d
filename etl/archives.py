"""Unpacking zip deliveries safely.

Departments zip what belongs together (a Shapefile is four to six files). A zip is
untrusted input: entry names can point outside the target folder (``../``,
absolute paths, symlinks) and a small file can inflate to gigabytes (zip bomb).
Extraction therefore goes into a folder the caller owns (a temporary directory,
never next to the input), refuses such entries before writing anything, and
counts the bytes actually written, because the sizes in a zip's directory can lie.
"""

from __future__ import annotations

import re
import shutil
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO

from etl.errors import InputError

RATIO_CHECK_MIN_BYTES = 1024 * 1024
"""Entries smaller than this are not ratio-checked: tiny files (a ``.cpg`` of five
bytes, a ``.dbf`` of blank padding) compress at high ratios without being bombs."""

_DRIVE = re.compile(r"^[A-Za-z]:")
_CHUNK = 1 << 20


def _safe_parts(name: str, *, file: str) -> tuple[str, ...]:
    """The path parts of an entry name, or InputError if it could escape the target."""
    normalized = name.replace("\\", "/")
    parts = PurePosixPath(normalized).parts
    if normalized.startswith("/") or _DRIVE.match(normalized) or ".." in parts:
        raise InputError(
            f"der ZIP-Eintrag {name!r} hat einen unzulässigen Pfad (absolut oder mit '..'); "
            "bitte die Dateien ohne solche Ordnerangaben packen",
            file=file,
        )
    return tuple(part for part in parts if part not in ("", "."))


MAX_ENTRIES = 10_000
"""Most entries a zip may have: a delivery is a handful of files, and every entry costs
memory before any limit on sizes can be checked."""


Member = tuple[zipfile.ZipInfo, tuple[str, ...]]
"""A zip entry and its safe path parts (see :func:`check_members`)."""


def open_zip(source: Path | IO[bytes], *, name: str) -> zipfile.ZipFile:
    """Open a zip archive (path or file object).

    Raises:
        InputError: not a readable zip archive.
    """
    try:
        return zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise InputError(
            f"keine lesbare ZIP-Datei ({exc}); die Datei ist beschädigt oder unvollständig",
            file=name,
        ) from None


def check_members(
    archive: zipfile.ZipFile, *, name: str, max_bytes: int, max_ratio: int
) -> list[Member]:
    """The regular file entries of ``archive``, after checking every entry.

    Only the zip's directory is read, nothing is inflated, so this is the check to
    run before any reader (zipfile itself, openpyxl, GDAL) unpacks an entry.
    Python's zipfile never inflates an entry beyond the size its directory states
    (it stops there and fails the CRC check), so checking the stated sizes bounds
    what a reader built on zipfile can be made to inflate.

    Args:
        max_bytes: largest total size of the uncompressed entries.
        max_ratio: largest uncompressed/compressed ratio of one entry
            (checked for entries of at least :data:`RATIO_CHECK_MIN_BYTES`).

    Raises:
        InputError: too many entries, an entry with an absolute or ``..`` path, a
            symlink, an encrypted entry, or sizes beyond the limits.
    """
    infos = archive.infolist()
    if len(infos) > MAX_ENTRIES:
        raise InputError(
            f"die ZIP-Datei hat {len(infos):,} Einträge, erlaubt sind höchstens "
            f"{MAX_ENTRIES:,}; bitte nur die Dateien der Lieferung packen",
            file=name,
        )
    members: list[Member] = []
    total = 0
    for info in infos:
        parts = _safe_parts(info.filename, file=name)
        if info.is_dir() or not parts:
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            raise InputError(
                f"der ZIP-Eintrag {info.filename!r} ist ein symbolischer Link; "
                "erlaubt sind nur gewöhnliche Dateien",
                file=name,
            )
        if info.flag_bits & 0x1:
            raise InputError(
                f"der ZIP-Eintrag {info.filename!r} ist verschlüsselt; bitte ohne Passwort packen",
                file=name,
            )
        total += info.file_size
        if total > max_bytes:
            raise InputError(
                f"entpackt wäre die ZIP-Datei größer als {max_bytes:,} Bytes "
                "(Schutz vor ZIP-Bomben); bitte in kleineren Teilen liefern",
                file=name,
            )
        if info.file_size >= RATIO_CHECK_MIN_BYTES and info.file_size > max_ratio * max(
            info.compress_size, 1
        ):
            raise InputError(
                f"der ZIP-Eintrag {info.filename!r} ist ungewöhnlich stark komprimiert "
                f"({info.file_size:,} Bytes aus {info.compress_size:,}); "
                "eine solche Datei wird nicht entpackt (Schutz vor ZIP-Bomben)",
                file=name,
            )
        members.append((info, parts))
    return members


def extract_zip(
    path: Path,
    target: Path,
    *,
    max_bytes: int,
    max_ratio: int,
) -> list[Path]:
    """Extract the regular files of ``path`` into ``target``; return their paths.

    Args:
        max_bytes: largest total size of the extracted files.
        max_ratio: largest uncompressed/compressed ratio of one entry
            (checked for entries of at least :data:`RATIO_CHECK_MIN_BYTES`).

    Raises:
        InputError: not a zip, encrypted, an entry with an absolute or ``..`` path or
            a symlink, or sizes beyond the limits (nothing is extracted then).
    """
    name = path.name
    with open_zip(path, name=name) as archive:
        members = check_members(archive, name=name, max_bytes=max_bytes, max_ratio=max_ratio)
        written: list[Path] = []
        budget = max_bytes
        root = target.resolve()
        for info, parts in members:
            destination = root.joinpath(*parts)
            if not destination.resolve().is_relative_to(root):
                raise InputError(
                    f"der ZIP-Eintrag {info.filename!r} zeigt aus dem Zielordner heraus",
                    file=name,
                )
            destination.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(info) as source, destination.open("wb") as sink:
                    size = 0
                    while chunk := source.read(_CHUNK):
                        size += len(chunk)
                        budget -= len(chunk)
                        if size > info.file_size or budget < 0:
                            raise InputError(
                                f"der ZIP-Eintrag {info.filename!r} ist größer als angegeben; "
                                "die ZIP-Datei ist beschädigt oder manipuliert",
                                file=name,
                            )
                        sink.write(chunk)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, zlib.error) as exc:
                raise InputError(
                    f"der ZIP-Eintrag {info.filename!r} ist nicht lesbar ({exc})", file=name
                ) from None
            written.append(destination)
        return written


def copy_into(path: Path, target: Path) -> Path:
    """Copy ``path`` into ``target`` (so readers that may touch side files never
    write next to the input) and return the copy."""
    copy = target / path.name
    shutil.copyfile(path, copy)
    return copy
