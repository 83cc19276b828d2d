"""What a file really is, judged by its first bytes (magic numbers), not by its name.

Departments rename files (an ``export.xlsx`` saved as ``export.csv``), mail gateways
append endings, and whoever crafts a hostile file chooses the ending freely. Readers
ask here before handing bytes to a parser that would otherwise guess on its own: GDAL
opens a ``.geojson`` that really is an OGR VRT and follows the file paths written in
it, a CSV reader turns a PNG into mojibake, openpyxl calls an encrypted workbook
"not a zip file".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Signature:
    """A file type recognisable by its first bytes; ``description`` is German, for reports."""

    kind: str
    magic: bytes
    description: str


SIGNATURES: tuple[Signature, ...] = (
    Signature(
        "zip",
        b"PK\x03\x04",
        "eine ZIP-Datei (z. B. eine Excel-Arbeitsmappe .xlsx, ein KMZ oder ein gepacktes "
        "Shapefile)",
    ),
    Signature("zip", b"PK\x05\x06", "eine leere ZIP-Datei"),
    Signature(
        "ole2",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "eine Microsoft-Office-Datei im alten Format (z. B. Excel 97–2003 .xls) oder eine "
        "passwortgeschützte Office-Datei",
    ),
    Signature("png", b"\x89PNG\r\n\x1a\n", "eine PNG-Grafik"),
    Signature("jpeg", b"\xff\xd8\xff", "eine JPEG-Grafik"),
    Signature("gif", b"GIF8", "eine GIF-Grafik"),
    Signature("pdf", b"%PDF-", "ein PDF-Dokument"),
    Signature("gzip", b"\x1f\x8b", "eine gzip-komprimierte Datei"),
    Signature("7z", b"7z\xbc\xaf\x27\x1c", "ein 7-Zip-Archiv"),
    Signature("rar", b"Rar!\x1a\x07", "ein RAR-Archiv"),
    Signature("sqlite", b"SQLite format 3\x00", "eine SQLite-Datenbank (z. B. ein GeoPackage)"),
    Signature("shp", b"\x00\x00\x27\x0a", "die Geometrie-Datei eines Shapefiles (.shp)"),
)
"""Binary formats that arrive by mistake (or on purpose) with a wrong ending."""

HEAD_BYTES = 64
"""How many leading bytes :func:`identify` needs."""

# Stream names in an OLE2 (Compound File) directory are stored as UTF-16LE. Searching
# the raw bytes for them avoids a parser dependency at run time; the names are
# fixed by [MS-OFFCRYPTO] (encrypted OOXML) and [MS-XLS] (Excel 97–2003).
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
_ENCRYPTION_INFO = "EncryptionInfo".encode("utf-16-le")
_XLS_STREAMS = ("Workbook".encode("utf-16-le"), "Book".encode("utf-16-le"))


def identify(head: bytes) -> Signature | None:
    """The binary type whose magic number ``head`` starts with, or None (e.g. text)."""
    for signature in SIGNATURES:
        if head.startswith(signature.magic):
            return signature
    return None


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    """The first ``size`` bytes of a file (fewer if it is shorter)."""
    with path.open("rb") as handle:
        return handle.read(size)


def ole2_kind(data: bytes) -> str:
    """What an OLE2 compound file holds: ``encrypted`` (a password-protected OOXML
    workbook or document), ``xls`` (an Excel 97–2003 workbook) or ``other``."""
    if _ENCRYPTED_PACKAGE in data and _ENCRYPTION_INFO in data:
        return "encrypted"
    if any(stream in data for stream in _XLS_STREAMS):
        return "xls"
    return "other"


def looks_like_json(head: bytes) -> bool:
    """Whether ``head`` starts (after a byte-order mark and blanks) like a JSON object."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    return text.startswith(b"{")


def looks_like_xml(head: bytes) -> bool:
    """Whether ``head`` starts (after a byte-order mark and blanks) like an XML document."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    return text.startswith(b"<")
