"""Builds the hostile and broken input corpus: every case, its file, and what
``harvest check`` must answer.

Each :class:`Case` names a registered dataset, the file a department (or an attacker)
could send, the exit code (1 invalid data, 2 unusable input; never 0) and a German
substring of the reason the output must contain. Builders are deterministic: fixed
texts, fixed zip timestamps, seeded randomness, no clock. Small files are committed
under ``files/<case>/<file name>`` and a test rebuilds them to prove they did not rot;
large ones (``large=True``: 1 MB lines, files over the size limit, zip bombs, big XML
bombs) are built at test time into a temporary folder.

    python -m tests.corpus.build --small --out tests/corpus/files   # the committed files
    python -m tests.corpus.build --large --out /tmp/corpus          # the large ones
    python -m tests.corpus.build --readme                           # the README table

Positive controls (``CONTROLS``, exit 0) are built the same way: they show that the
refusals are about the hostile detail, not about the family refusing everything.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import stat
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from unittest import mock

HERE = Path(__file__).parent
FILES = HERE / "files"
PROJECT = HERE.parent.parent
SAMPLE_DISTRICTS = PROJECT / "samples" / "stadtbezirke" / "Stadtbezirke_EPSG25832.zip"

MAX_BYTES = 50 * 1024 * 1024
"""The registry's default ``max_bytes`` (no corpus dataset overrides it)."""
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
PASSWD = "root:x:0:0:"
"""The start of /etc/passwd: XXE and VRT cases must never bring it into any output."""


@dataclass(frozen=True)
class Case:
    """One corpus file and the answer ``harvest check DATASET FILE`` must give."""

    name: str
    dataset: str
    file_name: str
    build: Callable[[Path], None]
    exit_code: int
    reason: str
    why: str
    large: bool = False
    forbidden: tuple[str, ...] = ()

    @property
    def family(self) -> str:
        return FAMILIES[self.dataset]


FAMILIES = {
    "vornamen": "first_names",
    "flaeche-stadtbezirke": "statistics_tables",
    "feuerwehr-brandeinsaetze": "statistics_tables",
    "haushalte-sozialraeume": "statistics_tables",
    "stadtbezirksprofile": "statistics_tables",
    "stadtbezirke": "geodata",
    "sirenenstandorte": "geodata",
}


def write_case(case: Case, folder: Path) -> Path:
    """Build ``case`` into ``folder/<case>/<file name>``; return the file's path."""
    path = folder / case.name / case.file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    case.build(path)
    return path


def _bytes(data: bytes) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        path.write_bytes(data)

    return build


def _text(text: str, encoding: str = "utf-8") -> Callable[[Path], None]:
    return _bytes(text.encode(encoding))


def _sparse(size: int) -> Callable[[Path], None]:
    """A file of ``size`` bytes that takes no disk space (the size check comes first)."""

    def build(path: Path) -> None:
        with path.open("wb") as handle:
            handle.truncate(size)

    return build


# --------------------------------------------------------------------------- zips


@dataclass(frozen=True)
class Entry:
    """One zip entry, written exactly as given (no name sanitising, fixed date)."""

    name: str
    data: bytes
    deflate: bool = False
    flags: int = 0
    mode: int = 0o100644


@dataclass(frozen=True)
class _Record:
    """An entry ready to write: its payload already compressed (or stored)."""

    name: bytes
    size: int
    crc: int
    payload: bytes
    method: int
    flags: int
    mode: int


def _record(entry: Entry) -> _Record:
    payload = entry.data
    if entry.deflate:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        payload = compressor.compress(entry.data) + compressor.flush()
    return _Record(
        entry.name.encode("utf-8"),
        len(entry.data),
        zlib.crc32(entry.data),
        payload,
        8 if entry.deflate else 0,
        entry.flags,
        entry.mode,
    )


def _write_zip(out: IO[bytes], records: Iterable[_Record]) -> None:
    """Local headers and data, then the central directory (all dates 1980-01-01)."""
    dos_time, dos_date = 0, (ZIP_DATE[0] - 1980) << 9 | ZIP_DATE[1] << 5 | ZIP_DATE[2]
    central = []
    for record in records:
        offset = out.tell()
        fields = (record.crc, len(record.payload), record.size, len(record.name), 0)
        head = (20, record.flags, record.method, dos_time, dos_date)
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, *head, *fields))
        out.write(record.name)
        out.write(record.payload)
        # made by Unix (3 << 8), so the file mode in the external attributes counts
        entry = struct.pack("<IH", 0x02014B50, 3 << 8 | 20)
        entry += struct.pack("<HHHHHIIIHH", *head, *fields)
        entry += struct.pack("<HHHII", 0, 0, 0, record.mode << 16, offset)
        central.append(entry + record.name)
    start = out.tell()
    for entry in central:
        out.write(entry)
    size, count = out.tell() - start, len(central)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, size, start, 0))


def zip_bytes(entries: list[Entry]) -> bytes:
    """A zip archive written by hand, so hostile names, flags and modes stay as they are
    (zipfile would sanitise some) and the bytes never depend on the clock."""
    out = io.BytesIO()
    _write_zip(out, [_record(entry) for entry in entries])
    return out.getvalue()


def _zip(entries: list[Entry]) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(zip_bytes(entries))


def _repeated_zip(names: list[str], data: bytes) -> Callable[[Path], None]:
    """A zip whose entries all hold ``data``, compressed once (fast for zip bombs)."""

    def build(path: Path) -> None:
        record = _record(Entry("", data, deflate=True))
        with path.open("wb") as out:
            _write_zip(
                out,
                (
                    _Record(n.encode(), record.size, record.crc, record.payload, 8, 0, 0o100644)
                    for n in names
                ),
            )

    return build


def _sample_shapefile(drop: tuple[str, ...] = (), extra: list[Entry] | None = None) -> bytes:
    """The bundled districts Shapefile (samples/stadtbezirke), re-zipped without ``drop``."""
    with zipfile.ZipFile(SAMPLE_DISTRICTS) as archive:
        entries = [
            Entry(info.filename, archive.read(info))
            for info in sorted(archive.infolist(), key=lambda i: i.filename)
            if not info.filename.lower().endswith(drop or ("\0",))
        ]
    return zip_bytes(entries + (extra or []))


# --------------------------------------------------------------------------- Excel

_NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_NS_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

AREAS = [
    ("01", 11.3),
    ("02", 7.23),
    ("03", 24.78),
    ("04", 12.68),
    ("05", 50.96),
    ("06", 19.67),
    ("07", 27.74),
    ("08", 21.01),
    ("09", 36.65),
    ("10", 5.31),
]
"""Area of the districts in km² (samples/flaeche-stadtbezirke), valid for the suite."""


def _cell(ref: str, value: str | float) -> str:
    if isinstance(value, str):
        return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'
    return f'<c r="{ref}"><v>{value}</v></c>'


def sheet_xml(rows: list[list[str | float]], *, prolog: str = "", padding: int = 0) -> bytes:
    """A worksheet with inline strings (no shared strings part needed)."""
    body = []
    for number, row in enumerate(rows, start=1):
        cells = "".join(_cell(f"{'AB'[i]}{number}", v) for i, v in enumerate(row))
        body.append(f'<row r="{number}">{cells}</row>')
    head = f'{_XML_DECL}{prolog}<worksheet xmlns="{_NS_MAIN}"><sheetData>'
    return head.encode() + b" " * padding + ("".join(body) + "</sheetData></worksheet>").encode()


def xlsx_bytes(
    sheet: bytes | None = None,
    *,
    macros: bool = False,
    content_types_macro: bool = False,
    deflate_sheet: bool = False,
) -> bytes:
    """A minimal, valid .xlsx (five parts) of the area table, written by hand so every
    byte is fixed; ``macros`` adds a VBA project part."""
    main_type = (
        "application/vnd.ms-excel.sheet.macroEnabled.main+xml"
        if content_types_macro
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
    )
    types = (
        f'{_XML_DECL}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        + (
            '<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>'
            if macros
            else ""
        )
        + f'<Override PartName="/xl/workbook.xml" ContentType="{main_type}"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        "</Types>"
    )
    rels = (
        f'{_XML_DECL}<Relationships xmlns="{_NS_PKG}"><Relationship Id="rId1" '
        f'Type="{_NS_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    )
    workbook = (
        f'{_XML_DECL}<workbook xmlns="{_NS_MAIN}" xmlns:r="{_NS_REL}"><sheets>'
        '<sheet name="Tabelle1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    workbook_rels = (
        f'{_XML_DECL}<Relationships xmlns="{_NS_PKG}"><Relationship Id="rId1" '
        f'Type="{_NS_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
        + (
            '<Relationship Id="rId2" Type="http://schemas.microsoft.com/office/2006/'
            'relationships/vbaProject" Target="vbaProject.bin"/>'
            if macros
            else ""
        )
        + "</Relationships>"
    )
    if sheet is None:
        sheet = sheet_xml([["Stadtbezirk", "Flaeche in Quadratkilometern"], *map(list, AREAS)])
    entries = [
        Entry("[Content_Types].xml", types.encode(), deflate=True),
        Entry("_rels/.rels", rels.encode(), deflate=True),
        Entry("xl/workbook.xml", workbook.encode(), deflate=True),
        Entry("xl/_rels/workbook.xml.rels", workbook_rels.encode(), deflate=True),
        Entry("xl/worksheets/sheet1.xml", sheet, deflate=True),
    ]
    if macros:
        # the start of a real compound-file VBA project: an OLE2 container
        vba = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504 + b"Attribute VB_Name"
        entries.append(Entry("xl/vbaProject.bin", vba, deflate=True))
    return zip_bytes(entries)


def encrypted_xlsx() -> bytes:
    """The area workbook, password-protected by msoffcrypto-tool (ECMA-376 agile
    encryption, as Excel does it), with seeded salts and a fixed timestamp."""
    from datetime import datetime

    from msoffcrypto.format.ooxml import OOXMLFile
    from msoffcrypto.method import ecma376_agile
    from msoffcrypto.method.container import ecma376_encrypted

    rng = random.Random(8)

    class _FixedClock(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
            return datetime(2024, 1, 1)

    out = io.BytesIO()
    with (
        mock.patch.object(ecma376_agile, "_random_buffer", rng.randbytes),
        mock.patch.object(ecma376_encrypted, "datetime", _FixedClock),
    ):
        OOXMLFile(io.BytesIO(xlsx_bytes())).encrypt("Geheim123", out)
    return out.getvalue()


def ole2_bytes(streams: dict[str, bytes]) -> bytes:
    """A minimal OLE2 compound file (version 3, 512-byte sectors) with the given streams,
    each padded to at least 4096 bytes so no mini stream is needed. Enough for readers
    that look at the directory, as olefile and Excel do first."""
    sector = 512
    end, free, fat_sector, no_stream = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF
    datas = [
        data.ljust(max(4096, -(-len(data) // sector) * sector), b"\0") for data in streams.values()
    ]
    fat = [fat_sector, end]  # sector 0: FAT, sector 1: directory
    starts = []
    for data in datas:
        count = len(data) // sector
        starts.append(len(fat))
        fat.extend(range(len(fat) + 1, len(fat) + count))
        fat.append(end)
    assert len(fat) <= sector // 4, "one FAT sector only"
    fat_bytes = struct.pack(f"<{sector // 4}I", *(fat + [free] * (sector // 4 - len(fat))))

    def dir_entry(name: str, kind: int, child: int, right: int, start: int, size: int) -> bytes:
        encoded = (name + "\0").encode("utf-16-le") if name else b""
        return (
            encoded.ljust(64, b"\0")
            + struct.pack("<HBBIII", len(encoded), kind, 1, no_stream, right, child)
            + b"\0" * 16
            + b"\0" * 4
            + b"\0" * 16
            + struct.pack("<III", start, size, 0)
        )

    names = list(streams)
    entries = [dir_entry("Root Entry", 5, 1, no_stream, end, 0)]
    for index, name in enumerate(names):
        right = index + 2 if index + 1 < len(names) else no_stream
        entries.append(dir_entry(name, 2, no_stream, right, starts[index], len(streams[name])))
    while len(entries) % 4:
        entries.append(dir_entry("", 0, no_stream, no_stream, 0, 0))
    directory = b"".join(entries)
    assert len(directory) == sector, "one directory sector only"
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\0" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + b"\0" * 6
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, end, 0, end, 0)
        + struct.pack("<109I", 0, *([free] * 108))
    )
    assert len(header) == sector
    return header + fat_bytes + directory + b"".join(datas)


def old_xls() -> bytes:
    """An Excel 97–2003 workbook container: a 'Workbook' stream starting with a BIFF8
    BOF record (what Excel writes first)."""
    bof = struct.pack("<HHHHHHII", 0x0809, 16, 0x0600, 0x0005, 0x0DBB, 0x07CC, 0, 0)
    return ole2_bytes({"Workbook": bof})


# --------------------------------------------------------------------------- geodata


def sirens(count: int = 60) -> list[dict[str, object]]:
    """Synthetic sirens on a grid inside the city (valid for the suite: 50–300 sirens)."""
    rows = []
    for index in range(count):
        district = index % 10 + 1
        rows.append(
            {
                "kennung": f"S-{district:02d}{index // 10 + 1:02d}",
                "standort": "Dach Grundschule" if index % 2 else "Mast Sportplatz",
                "stadtbezirk": f"{district:02d}",
                "sirenentyp": "elektronisch" if index % 3 else "motorbetrieben",
                "baujahr": 2016 + index % 8,
                "lon": round(6.70 + (index % 10) * 0.025, 6),
                "lat": round(51.13 + (index // 10) * 0.035, 6),
            }
        )
    return rows


def sirens_geojson(rows: list[dict[str, object]], coordinate: str | None = None) -> str:
    """GeoJSON (WGS84) of ``rows``; ``coordinate`` replaces the first siren's coordinates
    as raw JSON text (for NaN and out-of-range numbers that json.dumps cannot write)."""
    features = []
    for index, row in enumerate(rows):
        properties = {k: v for k, v in row.items() if k not in ("lon", "lat")}
        coordinates = coordinate if index == 0 and coordinate else f"[{row['lon']}, {row['lat']}]"
        features.append(
            '{"type": "Feature", "properties": '
            + json.dumps(properties, ensure_ascii=False)
            + ', "geometry": {"type": "Point", "coordinates": '
            + str(coordinates)
            + "}}"
        )
    return '{"type": "FeatureCollection", "features": [\n' + ",\n".join(features) + "\n]}\n"


def sirens_kml(rows: list[dict[str, object]], *, prolog: str = "", name: str = "") -> str:
    """KML 2.2 as a GIS or mobile app writes it: the Kennung as <name>, the other
    attributes as ExtendedData; ``name`` replaces the first Placemark's name text."""
    marks = []
    for index, row in enumerate(rows):
        data = "".join(
            f'<Data name="{key}"><value>{row[key]}</value></Data>'
            for key in ("standort", "stadtbezirk", "sirenentyp", "baujahr")
        )
        label = name if index == 0 and name else row["kennung"]
        marks.append(
            f"  <Placemark><name>{label}</name><ExtendedData>{data}</ExtendedData>"
            f"<Point><coordinates>{row['lon']},{row['lat']}</coordinates></Point></Placemark>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + prolog
        + '<kml xmlns="http://www.opengis.net/kml/2.2">\n<Document><name>sirenenstandorte</name>\n'
        + "\n".join(marks)
        + "\n</Document>\n</kml>\n"
    )


def sirens_gpx(rows: list[dict[str, object]], *, prolog: str = "", name: str = "") -> str:
    """GPX 1.1 waypoints; ``name`` replaces the first waypoint's name text."""
    points = []
    for index, row in enumerate(rows):
        label = name if index == 0 and name else row["kennung"]
        points.append(
            f'  <wpt lat="{row["lat"]}" lon="{row["lon"]}"><name>{label}</name><extensions>'
            f"<standort>{row['standort']}</standort><sirenentyp>{row['sirenentyp']}</sirenentyp>"
            "</extensions></wpt>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + prolog
        + '<gpx version="1.1" creator="corpus" xmlns="http://www.topografix.com/GPX/1/1">\n'
        + "\n".join(points)
        + "\n</gpx>\n"
    )


def districts_geojson(*, bowtie: int | None = None) -> str:
    """Ten made-up square districts inside the city (WGS84); ``bowtie`` makes that one's
    ring cross itself (two corners swapped)."""
    features = []
    for index in range(10):
        x0 = round(6.70 + (index % 5) * 0.05, 6)
        y0 = round(51.13 + (index // 5) * 0.1, 6)
        x1, y1 = round(x0 + 0.04, 6), round(y0 + 0.08, 6)
        ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
        if index == bowtie:
            ring = [[x0, y0], [x1, y1], [x1, y0], [x0, y1], [x0, y0]]
        properties = {
            "nummer": f"{index + 1:02d}",
            "name": f"Stadtbezirk {index + 1}",
            "stadtteile": f"Stadtteil {index + 1}a, Stadtteil {index + 1}b",
        }
        features.append(
            {
                "type": "Feature",
                "properties": properties,
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    collection = {"type": "FeatureCollection", "features": features}
    return json.dumps(collection, ensure_ascii=False) + "\n"


BILLION_LAUGHS = (
    "<!DOCTYPE lolz [\n"
    ' <!ENTITY lol "lol">\n'
    + "".join(
        f' <!ENTITY lol{n} "{("&lol" + str(n - 1 if n > 1 else "") + ";") * 10}">\n'
        for n in range(1, 10)
    )
    + "]>\n"
)
"""Nine levels of ten references: 10⁹ 'lol's (3 GB) from a few hundred bytes."""

XXE = '<!DOCTYPE kml [\n <!ENTITY xxe SYSTEM "file:///etc/passwd">\n]>\n'
"""An external entity: the parser would paste the server's /etc/passwd into the text."""

EXTERNAL_DTD = '<!DOCTYPE kml SYSTEM "http://127.0.0.1:9/kml.dtd">\n'
"""A DTD fetched from elsewhere: the parser would phone home (or scan the network)."""


def quadratic_blowup() -> str:
    """One 100 kB entity referenced 10,000 times: 1 GB expanded, no nesting needed
    (beats parsers that only limit nesting depth)."""
    entity = "a" * 100_000
    return sirens_kml(
        sirens(),
        prolog=f'<!DOCTYPE kml [\n <!ENTITY a "{entity}">\n]>\n',
        name="&a;" * 10_000,
    )


VRT = """<OGRVRTDataSource>
  <OGRVRTLayer name="sirenenstandorte">
    <SrcDataSource>CSV:/etc/passwd</SrcDataSource>
    <SrcSQL>SELECT *, 'POINT (6.78 51.22)' AS wkt FROM passwd</SrcSQL>
    <LayerSRS>EPSG:4326</LayerSRS>
    <GeometryType>wkbPoint</GeometryType>
    <GeometryField encoding="WKT" field="wkt"/>
  </OGRVRTLayer>
</OGRVRTDataSource>
"""
"""An OGR VRT: GDAL opens it whatever the file is called and reads the file it names;
/etc/passwd would become the layer's attributes (and appear in the report)."""

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x03\x00\x08\xfc\x02\xfe\xa7"
    b"\x9a\xa0\xa0\x00\x00\x00\x00IEND\xaeB`\x82"
)
"""A 1×1 pixel PNG."""

PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]"
    b"/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


# --------------------------------------------------------------------------- texts

RANKED = "Vorname;geschlecht;position;Anzahl\r\n"
NAMES = "Marie;w;1;99\r\nSophie;w;1;54\r\nEmilia;w;1;38\r\nMia;w;1;27\r\n"
GENDER_LIST = "Name;Anzahl\r\nMarie;99\r\nSophie;54\r\nEmilia;38\r\n"

FIRES = (
    "Brandeinsätze der Feuerwehr Düsseldorf 2015 bis 2024;;;;;\r\n"
    "Jahr;Kleinbrände A;Kleinbrände B;Mittelbrände;Großbrände;ÜH (Mittelbrände)\r\n"
    "2019;1.598;713;148;18;3\r\n"
    "2020;1.521;659;137;15;2\r\n"
    "2021;1.476;642;131;16;5\r\n"
    ";;;;;\r\n"
    "Quelle: Feuerwehr Düsseldorf, Jahresberichte;;;;;\r\n"
)
"""The fire brigade's table as exported (Windows-1252, CRLF, title and source rows)."""

AREA_CSV = "Stadtbezirk;Flaeche in Quadratkilometern\n" + "".join(
    f"{code};{str(area).replace('.', ',')}\n" for code, area in AREAS
)

HOUSEHOLDS_HEADER = (
    "Stadtbezirk;Sozialraum;Haushalte insgesamt;Haushalte mit 1 Person;Haushalte mit 2 Personen;"
    "Haushalte mit 3 u. m. Personen;Haushalte mit Kindern;Alleinerziehenden Haushalte\n"
)
HOUSEHOLDS = HOUSEHOLDS_HEADER + (
    "01;0101;5018;3445;975;598;509;148\n"
    "01;0102;1625;1220;267;138;118;42\n"
    "01;0103;1654;1109;351;194;185;39\n"
)


def _mixed_names() -> bytes:
    """A ranked list saved as UTF-8, with lines pasted from a Windows-1252 file."""
    utf8 = (RANKED + "Jürgen;m;1;12\r\nRenée;w;1;7\r\n").encode("utf-8")
    legacy = "Müller-Lüdenscheidt;m;2;1\r\nSöhnke;m;1;3\r\n".encode("cp1252")
    return utf8 + legacy


def _late_control_character() -> bytes:
    """3,000 clean lines (about 70 kB), then a BEL: beyond any 64 kB sample."""
    lines = [GENDER_LIST.splitlines()[0]] + [f"Name{n:04d};1" for n in range(3000)]
    lines.append("Anna\x07;2")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _random_binary() -> bytes:
    return random.Random(2024).randbytes(4096)


# --------------------------------------------------------------------------- the cases

_SIRENS = sirens()

CASES: list[Case] = [
    # ---------------------------------------------------------------- first_names
    Case(
        "fn-mixed-utf8-cp1252",
        "vornamen",
        "Vornamen_2023.csv",
        lambda p: p.write_bytes(_mixed_names()),
        2,
        "gemischte Zeichenkodierung",
        "UTF-8 file with pasted Windows-1252 lines; the cp1252 fallback would publish "
        "'JÃ¼rgen', which passes the name rule",
    ),
    Case(
        "fn-nul-bytes",
        "vornamen",
        "Vornamen_2023_weiblich.csv",
        _bytes(b"Name;Anzahl\r\nMarie;99\r\nSo\x00\x00phie;54\r\n"),
        2,
        "NUL-Bytes (das erste in Zeile 3)",
        "NUL bytes (a damaged export) truncate strings in C libraries and databases",
    ),
    Case(
        "fn-terminal-escape",
        "vornamen",
        "Vornamen_2023_weiblich.csv",
        _text("Name;Anzahl\r\nMarie;99\r\n\x1b[2J\x1b[31mSophie;54\r\n"),
        2,
        "Steuerzeichen, das erste in Zeile 3, Spalte 1",
        "ANSI escape sequences would clear or recolour the operator's terminal and logs",
    ),
    Case(
        "fn-control-char-after-64k",
        "vornamen",
        "Vornamen_2023_weiblich.csv",
        lambda p: p.write_bytes(_late_control_character()),
        2,
        "Zeile 3002",
        "a control character beyond the first 64 kB passed the old sample-based check",
        large=True,
    ),
    Case(
        "fn-truncated-mid-line",
        "vornamen",
        "Vornamen_2023.csv",
        _text(RANKED + NAMES + "Hannah;w"),
        1,
        "'Anzahl' ist leer",
        "an upload cut off mid-line leaves a row without its count",
    ),
    Case(
        "fn-truncated-mid-quote",
        "vornamen",
        "Vornamen_2023.csv",
        _text(RANKED + NAMES + '"Hannah;w;1;21\r\nLina;w;1;16\r\nMila;w;1;17\r\n'),
        2,
        "das Anführungszeichen in Zeile 6 wird nie geschlossen",
        "an unclosed quote swallows the rest of the file into one field without an error",
    ),
    Case(
        "fn-header-only",
        "vornamen",
        "Vornamen_2023.csv",
        _text(RANKED),
        1,
        "mindestens eine Datenzeile",
        "an export with the header and no data must not replace last year's list",
    ),
    Case(
        "fn-blank-lines-only",
        "vornamen",
        "Vornamen_2023.csv",
        _text("\r\n   \r\n\t\r\n\r\n"),
        2,
        "enthält keinen Inhalt",
        "a file of blanks is not an empty list",
    ),
    Case(
        "fn-bom-only",
        "vornamen",
        "Vornamen_2023.csv",
        _bytes(b"\xef\xbb\xbf"),
        2,
        "enthält keinen Inhalt",
        "three bytes of byte-order mark pass the 'not empty' size check",
    ),
    Case(
        "fn-duplicated-header",
        "vornamen",
        "Vornamen_2023.csv",
        _text("Vorname;geschlecht;position;Anzahl;Vorname\r\nMarie;w;1;99;Marie\r\n"),
        1,
        "kommt doppelt vor",
        "two columns for the same field: which one is published would be chance",
    ),
    Case(
        "fn-missing-header",
        "vornamen",
        "Vornamen_2023.csv",
        _text(NAMES),
        1,
        "Pflichtspalte fehlt",
        "the first data row would be taken as the header",
    ),
    Case(
        "fn-1mb-single-line",
        "vornamen",
        "Vornamen_2023_weiblich.csv",
        _text("Name;Anzahl\r\n" + "A" * (1024 * 1024) + "\r\n"),
        2,
        "ein Feld ist länger als 131,072 Zeichen",
        "the csv module's field limit surfaced as an English error without a line",
        large=True,
    ),
    Case(
        "fn-500k-fields",
        "vornamen",
        "Vornamen_2023_weiblich.csv",
        _text("Name;Anzahl\r\n" + "1;" * 500_000 + "\r\n"),
        2,
        "Felder, erlaubt sind höchstens 10,000",
        "a 1 MB line of separators makes every later step loop over 500,000 columns",
        large=True,
    ),
    Case(
        "fn-png-named-csv",
        "vornamen",
        "Vornamen_2023_weiblich.csv",
        _bytes(PNG),
        2,
        "sondern eine PNG-Grafik",
        "a screenshot attached instead of the export",
    ),
    Case(
        "fn-xlsx-named-csv",
        "vornamen",
        "Vornamen_2023_weiblich.csv",
        lambda p: p.write_bytes(xlsx_bytes()),
        2,
        "sondern eine ZIP-Datei",
        "an Excel workbook renamed to .csv",
    ),
    Case(
        "fn-pdf-named-csv",
        "vornamen",
        "Vornamen_2023_weiblich.csv",
        _bytes(PDF),
        2,
        "sondern ein PDF-Dokument",
        "the printed report instead of the table",
    ),
    Case(
        "fn-random-binary",
        "vornamen",
        "Vornamen_2023_weiblich.csv",
        lambda p: p.write_bytes(_random_binary()),
        2,
        "keine Textdatei",
        "binary garbage must never be guessed into some 8-bit encoding",
    ),
    Case(
        "fn-over-max-size",
        "vornamen",
        "Vornamen_2023_weiblich.csv",
        _sparse(MAX_BYTES + 1),
        2,
        f"erlaubt sind höchstens {MAX_BYTES:,} Bytes",
        "a file over the dataset's max_bytes is refused before it is read",
        large=True,
    ),
    Case(
        "fn-formula-injection",
        "vornamen",
        "Vornamen_2023.csv",
        _text(RANKED + "Marie;w;1;99\r\n=cmd|' /C calc'!A0;w;1;3\r\n@SUM(1+1);m;1;2\r\n"),
        1,
        "Vornamen bestehen aus Buchstaben",
        "spreadsheet formulas (CSV injection) as names are refused by the name rule",
    ),
    Case(
        "fn-bidi-override",
        "vornamen",
        "Vornamen_2023.csv",
        _text(RANKED + "Marie;w;1;99\r\n\u202eeiraM;w;1;3\r\n"),
        1,
        "Vornamen bestehen aus Buchstaben",
        "a right-to-left override shows a different name than the one stored",
    ),
    Case(
        "fn-negative-count",
        "vornamen",
        "Vornamen_2023.csv",
        _text(RANKED + "Marie;w;1;-99\r\n"),
        1,
        "Anzahl ist mindestens 1",
        "counts below 1",
    ),
    Case(
        "fn-non-numeric-count",
        "vornamen",
        "Vornamen_2023.csv",
        _text(RANKED + "Marie;w;1;neunundneunzig\r\n"),
        1,
        "keine ganze Zahl",
        "a count written out in words",
    ),
    Case(
        "fn-future-year",
        "vornamen",
        "Vornamen_2999_weiblich.csv",
        _text(GENDER_LIST),
        1,
        "laufenden Jahr",
        "a year from the file name that has not happened yet",
    ),
    Case(
        "fn-duplicate-rows",
        "vornamen",
        "Vornamen_2023.csv",
        _text(RANKED + NAMES + "Marie;w;1;99\r\n"),
        1,
        "nur einmal vor",
        "the same name twice (a list pasted twice)",
    ),
    Case(
        "fn-bom-but-cp1252",
        "vornamen",
        "Vornamen_2023.csv",
        _bytes(b"\xef\xbb\xbf" + (RANKED + "Jürgen;m;1;12\r\n").encode("cp1252")),
        2,
        "utf-8-sig-Kennung (BOM)",
        "a UTF-8 byte-order mark in front of Windows-1252 text",
    ),
    Case(
        "fn-utf16-odd-length",
        "vornamen",
        "Vornamen_2023.csv",
        _bytes((RANKED + NAMES).encode("utf-16") + b"\x4d"),
        2,
        "utf-16-Kennung (BOM)",
        "a UTF-16 file cut off in the middle of a character",
    ),
    Case(
        "fn-brackets-in-file-name",
        "vornamen",
        "Vornamen 2023 [Entwurf] weiblich.csv",
        _bytes(b"Name;Anzahl\r\n\x00"),
        2,
        "Vornamen 2023 [Entwurf] weiblich.csv: enthält NUL-Bytes",
        "'[Entwurf]' in a file name was taken as rich markup and vanished from the message",
    ),
    Case(
        "fn-xlsx-not-accepted",
        "vornamen",
        "Vornamen_2023.xlsx",
        lambda p: p.write_bytes(xlsx_bytes()),
        2,
        "Dateityp .xlsx wird für vornamen nicht angenommen",
        "a file type the dataset does not take",
    ),
    # ---------------------------------------------------------------- statistics_tables
    Case(
        "st-mixed-utf8-cp1252",
        "feuerwehr-brandeinsaetze",
        "brandeinsaetze.csv",
        lambda p: p.write_bytes(
            FIRES.encode("cp1252") + "2022;1.734;768;158;22;7 – geschätzt\r\n".encode()
        ),
        2,
        "gemischte Zeichenkodierung",
        "a Windows-1252 export with a line typed in a UTF-8 editor",
    ),
    Case(
        "st-unknown-district-11",
        "flaeche-stadtbezirke",
        "distric_area.csv",
        _text(AREA_CSV.replace("10;5,31", "11;5,31")),
        1,
        "Diesen Stadtbezirk gibt es nicht",
        "Düsseldorf has ten districts",
    ),
    Case(
        "st-duplicate-year",
        "feuerwehr-brandeinsaetze",
        "brandeinsaetze.csv",
        _text(FIRES.replace("2021;", "2020;"), "cp1252"),
        1,
        "Jedes Jahr kommt nur einmal vor",
        "the same year twice (copy and paste in the annual report)",
    ),
    Case(
        "st-future-year",
        "feuerwehr-brandeinsaetze",
        "brandeinsaetze.csv",
        _text(FIRES.replace("2021;", "2999;"), "cp1252"),
        1,
        "laufenden Jahr",
        "a year that has not happened yet",
    ),
    Case(
        "st-negative-count",
        "haushalte-sozialraeume",
        "household_size.csv",
        _text(HOUSEHOLDS.replace(";42\n", ";-42\n")),
        1,
        "nicht negativ",
        "a negative number of households",
    ),
    Case(
        "st-non-numeric-count",
        "feuerwehr-brandeinsaetze",
        "brandeinsaetze.csv",
        _text(FIRES.replace(";148;", ";viele;"), "cp1252"),
        1,
        "keine Zahl",
        "text where a count belongs (not one of the legend's signs)",
    ),
    Case(
        "st-header-only",
        "feuerwehr-brandeinsaetze",
        "brandeinsaetze.csv",
        _text("\r\n".join(FIRES.splitlines()[:2]) + "\r\n", "cp1252"),
        1,
        "mindestens ein Jahr",
        "title and header without any year",
    ),
    Case(
        "st-duplicated-header",
        "flaeche-stadtbezirke",
        "distric_area.csv",
        _text(
            "Stadtbezirk;Flaeche in Quadratkilometern;Fläche in km²\n"
            + "".join(f"{c};{str(a).replace('.', ',')};0\n" for c, a in AREAS)
        ),
        1,
        "kommt mehrfach vor",
        "two columns that both name the area",
    ),
    Case(
        "st-missing-header",
        "flaeche-stadtbezirke",
        "distric_area.csv",
        _text(AREA_CSV.split("\n", 1)[1]),
        1,
        "Kopfzeile nicht gefunden",
        "data without its header row",
    ),
    Case(
        "st-truncated-mid-quote",
        "haushalte-sozialraeume",
        "household_size.csv",
        _text(HOUSEHOLDS + '01;"0104;1637;915;449;273;221;38\n01;0105;5035;3526'),
        2,
        "wird nie geschlossen",
        "a file cut off inside a quoted field",
    ),
    Case(
        "st-1mb-single-line",
        "haushalte-sozialraeume",
        "household_size.csv",
        _text(HOUSEHOLDS + '01;"' + "9" * (1024 * 1024) + '";1\n'),
        2,
        "Zeile 5: ein Feld ist länger als",
        "a 1 MB quoted field (runaway quote or hostile file)",
        large=True,
    ),
    Case(
        "st-over-max-size",
        "flaeche-stadtbezirke",
        "distric_area.xlsx",
        _sparse(MAX_BYTES + 1),
        2,
        "erlaubt sind höchstens",
        "a workbook over the dataset's max_bytes is refused before it is read",
        large=True,
    ),
    Case(
        "st-encrypted-xlsx",
        "flaeche-stadtbezirke",
        "distric_area.xlsx",
        lambda p: p.write_bytes(encrypted_xlsx()),
        2,
        "passwortgeschützt",
        "a password-protected workbook is an OLE2 container; openpyxl says 'not a zip file'",
    ),
    Case(
        "st-xls-renamed-xlsx",
        "flaeche-stadtbezirke",
        "distric_area.xlsx",
        lambda p: p.write_bytes(old_xls()),
        2,
        "alten Format (Excel 97–2003, .xls)",
        "an Excel 97–2003 workbook renamed to .xlsx",
    ),
    Case(
        "st-old-xls",
        "flaeche-stadtbezirke",
        "distric_area.xls",
        lambda p: p.write_bytes(old_xls()),
        2,
        "altes Excel-Format (Excel 97–2003)",
        "the old binary format, delivered as such",
    ),
    Case(
        "st-xlsm-macro-workbook",
        "flaeche-stadtbezirke",
        "distric_area.xlsm",
        lambda p: p.write_bytes(xlsx_bytes(macros=True, content_types_macro=True)),
        2,
        "Excel-Arbeitsmappe mit Makros",
        "a macro workbook is refused by its type",
    ),
    Case(
        "st-xlsx-hidden-vba",
        "flaeche-stadtbezirke",
        "distric_area.xlsx",
        lambda p: p.write_bytes(xlsx_bytes(macros=True)),
        2,
        "enthält Makros (VBA-Projekt: xl/vbaProject.bin)",
        "a VBA project smuggled into a file named .xlsx",
    ),
    Case(
        "st-xlsx-truncated",
        "flaeche-stadtbezirke",
        "distric_area.xlsx",
        lambda p: p.write_bytes(xlsx_bytes()[:700]),
        2,
        "keine lesbare Excel-Arbeitsmappe (.xlsx): die Datei ist beschädigt",
        "an upload cut off: the zip directory at the end is missing",
    ),
    Case(
        "st-xlsx-zip-bomb",
        "flaeche-stadtbezirke",
        "distric_area.xlsx",
        lambda p: p.write_bytes(xlsx_bytes(sheet_xml([["Stadtbezirk"]], padding=200_000_000))),
        2,
        "ungewöhnlich stark komprimiert",
        "a 200 MB worksheet in 200 kB: refused from the zip directory, before openpyxl "
        "inflates anything",
        large=True,
    ),
    Case(
        "st-xlsx-billion-laughs",
        "flaeche-stadtbezirke",
        "distric_area.xlsx",
        lambda p: p.write_bytes(
            xlsx_bytes(
                sheet_xml(
                    [["Stadtbezirk", "&lol9;"], *map(list, AREAS)],
                    prolog=BILLION_LAUGHS.replace("lolz", "worksheet"),
                )
            )
        ),
        2,
        "xl/worksheets/sheet1.xml: enthält eine DTD/Entity-Definition",
        "entity expansion inside a worksheet",
    ),
    Case(
        "st-xlsx-xxe",
        "flaeche-stadtbezirke",
        "distric_area.xlsx",
        lambda p: p.write_bytes(
            xlsx_bytes(
                sheet_xml(
                    [["Stadtbezirk", "&xxe;"], *map(list, AREAS)],
                    prolog=XXE.replace("kml", "worksheet"),
                )
            )
        ),
        2,
        "enthält eine DTD/Entity-Definition; aus Sicherheitsgründen nicht erlaubt",
        "an external entity in a worksheet would read a server file into a cell",
        forbidden=(PASSWD,),
    ),
    Case(
        "st-csv-named-xlsx",
        "flaeche-stadtbezirke",
        "distric_area.xlsx",
        _text(AREA_CSV),
        2,
        "keine lesbare Excel-Arbeitsmappe (.xlsx): die Datei ist keine ZIP-Datei",
        "a CSV export renamed to .xlsx",
    ),
    # ---------------------------------------------------------------- geodata
    Case(
        "geo-shapefile-without-shx",
        "stadtbezirke",
        "Stadtbezirke.zip",
        lambda p: p.write_bytes(_sample_shapefile(drop=(".shx",))),
        2,
        "fehlt Stadtbezirke_EPSG25832.shx",
        "GDAL would rebuild the index silently, or misread the geometries",
    ),
    Case(
        "geo-shapefile-without-prj",
        "stadtbezirke",
        "Stadtbezirke.zip",
        lambda p: p.write_bytes(_sample_shapefile(drop=(".prj",))),
        2,
        "kein Koordinatensystem",
        "the coordinate system is never guessed",
    ),
    Case(
        "geo-shapefile-xxe-metadata",
        "stadtbezirke",
        "Stadtbezirke.zip",
        lambda p: p.write_bytes(
            _sample_shapefile(
                extra=[
                    Entry(
                        "Stadtbezirke_EPSG25832.shp.xml",
                        (
                            '<?xml version="1.0"?>\n'
                            + XXE.replace("kml", "metadata")
                            + "<metadata><idinfo>&xxe;</idinfo></metadata>\n"
                        ).encode(),
                    )
                ]
            )
        ),
        2,
        "Stadtbezirke_EPSG25832.shp.xml: enthält eine DTD/Entity-Definition",
        "ArcGIS puts metadata XML into Shapefile zips; it is scanned like every XML",
        forbidden=(PASSWD,),
    ),
    Case(
        "geo-zip-bomb-ratio",
        "stadtbezirke",
        "Stadtbezirke.zip",
        _repeated_zip(["Stadtbezirke.shp"], bytes(100_000_000)),
        2,
        "ungewöhnlich stark komprimiert",
        "100 MB of zeros in 100 kB (ratio 1,000)",
        large=True,
    ),
    Case(
        "geo-zip-bomb-total-size",
        "stadtbezirke",
        "Stadtbezirke.zip",
        _repeated_zip([f"teil{n:04d}.dbf" for n in range(1100)], bytes(1_000_000)),
        2,
        "entpackt wäre die ZIP-Datei größer als",
        "1,100 entries of 1 MB each, every one too small for the ratio check: 1.1 GB",
        large=True,
    ),
    Case(
        "geo-zip-entry-dotdot",
        "stadtbezirke",
        "Stadtbezirke.zip",
        _zip([Entry("../../Stadtbezirke.geojson", districts_geojson().encode())]),
        2,
        "hat einen unzulässigen Pfad",
        "zip slip: an entry that would be written outside the extraction folder",
    ),
    Case(
        "geo-zip-entry-markup",
        "stadtbezirke",
        "Stadtbezirke.zip",
        _zip([Entry("../[/]Stadtbezirke.geojson", districts_geojson().encode())]),
        2,
        "der ZIP-Eintrag '../[/]Stadtbezirke.geojson' hat einen unzulässigen Pfad",
        "'[/]' in an entry name was rich markup: printing the refusal crashed with a traceback",
    ),
    Case(
        "geo-zip-entry-absolute",
        "stadtbezirke",
        "Stadtbezirke.zip",
        _zip([Entry("/tmp/Stadtbezirke.geojson", districts_geojson().encode())]),
        2,
        "hat einen unzulässigen Pfad",
        "an absolute entry path",
    ),
    Case(
        "geo-zip-symlink",
        "stadtbezirke",
        "Stadtbezirke.zip",
        _zip([Entry("Stadtbezirke.geojson", b"/etc/passwd", mode=stat.S_IFLNK | 0o777)]),
        2,
        "ist ein symbolischer Link",
        "a symlink entry would make GDAL read whatever it points to",
        forbidden=(PASSWD,),
    ),
    Case(
        "geo-zip-encrypted-entry",
        "stadtbezirke",
        "Stadtbezirke.zip",
        _zip([Entry("Stadtbezirke.geojson", districts_geojson().encode(), flags=0x1)]),
        2,
        "ist verschlüsselt",
        "a password-protected zip",
    ),
    Case(
        "geo-zip-without-geodata",
        "stadtbezirke",
        "Stadtbezirke.zip",
        _zip([Entry("liesmich.txt", b"Die Daten folgen.\n")]),
        2,
        "enthält keine Geodaten",
        "a zip of something else",
    ),
    Case(
        "geo-geojson-truncated",
        "sirenenstandorte",
        "Sirenen.geojson",
        _text(sirens_geojson(_SIRENS)[:2000]),
        2,
        "keine lesbare Geodatendatei",
        "an upload cut off mid-feature",
    ),
    Case(
        "geo-geojson-nan",
        "sirenenstandorte",
        "Sirenen.geojson",
        _text(sirens_geojson(_SIRENS, coordinate="[NaN, 51.2]")),
        1,
        "ungültige Koordinate (NaN oder unendlich)",
        "NaN is not JSON, but GDAL reads it; the geometry check names the feature",
    ),
    Case(
        "geo-geojson-huge-coordinates",
        "sirenenstandorte",
        "Sirenen.geojson",
        _text(sirens_geojson(_SIRENS, coordinate="[1e308, 51.2]")),
        2,
        "sind aber keine Gradangaben",
        "coordinates far beyond ±180° in a WGS84 file",
    ),
    Case(
        "geo-png-named-geojson",
        "sirenenstandorte",
        "Sirenen.geojson",
        _bytes(PNG),
        2,
        "der Inhalt passt nicht zur Endung .geojson: die Datei ist eine PNG-Grafik",
        "a map screenshot instead of the data",
    ),
    Case(
        "geo-vrt-named-geojson",
        "sirenenstandorte",
        "Sirenen.geojson",
        _text(VRT),
        2,
        "der Inhalt passt nicht zur Endung .geojson",
        "GDAL opens an OGR VRT whatever its name and reads the file it names: "
        "/etc/passwd would appear in the report",
        forbidden=(PASSWD,),
    ),
    Case(
        "geo-gpkg-is-text",
        "sirenenstandorte",
        "Sirenen.gpkg",
        _text("Kennung;Standort\nS-0101;Dach Rathaus\n"),
        2,
        "der Inhalt passt nicht zur Endung .gpkg",
        "a CSV saved with the GeoPackage ending",
    ),
    Case(
        "geo-over-max-size",
        "sirenenstandorte",
        "Sirenen.gpkg",
        _sparse(MAX_BYTES + 1),
        2,
        "erlaubt sind höchstens",
        "a file over max_bytes is refused before it is hashed or opened",
        large=True,
    ),
    Case(
        "geo-kml-billion-laughs",
        "sirenenstandorte",
        "Sirenen.kml",
        _text(sirens_kml(_SIRENS, prolog=BILLION_LAUGHS.replace("lolz", "kml"), name="&lol9;")),
        2,
        "enthält eine DTD/Entity-Definition; aus Sicherheitsgründen nicht erlaubt",
        "billion laughs: 3 GB of text from one kB",
    ),
    Case(
        "geo-kml-xxe",
        "sirenenstandorte",
        "Sirenen.kml",
        _text(sirens_kml(_SIRENS, prolog=XXE, name="&xxe;")),
        2,
        "enthält eine DTD/Entity-Definition; aus Sicherheitsgründen nicht erlaubt",
        "an external entity would publish /etc/passwd as a siren's name",
        forbidden=(PASSWD,),
    ),
    Case(
        "geo-kml-external-dtd",
        "sirenenstandorte",
        "Sirenen.kml",
        _text(sirens_kml(_SIRENS, prolog=EXTERNAL_DTD)),
        2,
        "enthält eine DTD/Entity-Definition",
        "a DTD loaded from a URL: the server would make requests on the sender's behalf",
    ),
    Case(
        "geo-kml-quadratic-blowup",
        "sirenenstandorte",
        "Sirenen.kml",
        _text(quadratic_blowup()),
        2,
        "enthält eine DTD/Entity-Definition",
        "one large entity referenced 10,000 times (no nesting): 1 GB",
        large=True,
    ),
    Case(
        "geo-kml-truncated",
        "sirenenstandorte",
        "Sirenen.kml",
        _text(sirens_kml(_SIRENS)[:3000]),
        2,
        "kein wohlgeformtes XML (Zeile 12, Spalte 148",
        "an upload cut off; the error names line and column",
    ),
    Case(
        "geo-kml-is-html",
        "sirenenstandorte",
        "Sirenen.kml",
        _text("<html><head><title>404</title></head><body>Nicht gefunden</body></html>\n"),
        2,
        "das XML-Wurzelelement ist <html>, erwartet <kml>",
        "an error page saved as the download",
    ),
    Case(
        "geo-kmz-xxe",
        "sirenenstandorte",
        "Sirenen.kmz",
        _zip([Entry("doc.kml", sirens_kml(_SIRENS, prolog=XXE, name="&xxe;").encode())]),
        2,
        "doc.kml: enthält eine DTD/Entity-Definition",
        "the KML inside a KMZ is scanned like a plain one",
        forbidden=(PASSWD,),
    ),
    Case(
        "geo-gpx-billion-laughs",
        "sirenenstandorte",
        "Sirenen.gpx",
        _text(sirens_gpx(_SIRENS, prolog=BILLION_LAUGHS.replace("lolz", "gpx"), name="&lol9;")),
        2,
        "enthält eine DTD/Entity-Definition; aus Sicherheitsgründen nicht erlaubt",
        "billion laughs in GPX",
    ),
    Case(
        "geo-gpx-xxe",
        "sirenenstandorte",
        "Sirenen.gpx",
        _text(sirens_gpx(_SIRENS, prolog=XXE.replace("kml", "gpx"), name="&xxe;")),
        2,
        "enthält eine DTD/Entity-Definition; aus Sicherheitsgründen nicht erlaubt",
        "an external entity in GPX",
        forbidden=(PASSWD,),
    ),
    Case(
        "geo-points-outside-city",
        "sirenenstandorte",
        "Sirenen.geojson",
        _text(sirens_geojson(_SIRENS, coordinate="[4.1, 53.6]")),
        1,
        "Der Punkt liegt außerhalb Düsseldorfs",
        "a siren in the North Sea (typo, or wrong coordinate system)",
    ),
    Case(
        "geo-self-intersecting-polygon",
        "stadtbezirke",
        "Stadtbezirke.geojson",
        _text(districts_geojson(bowtie=4)),
        1,
        "Selbstüberschneidung",
        "a bow-tie polygon: area and containment are undefined",
    ),
]


CONTROLS: list[Case] = [
    Case(
        "ok-utf16-without-bom",
        "vornamen",
        "Vornamen_2023.csv",
        _bytes((RANKED + NAMES).encode("utf-16-le")),
        0,
        "",
        "UTF-16 without byte-order mark ('Unicode text' export) is fine",
    ),
    Case(
        "ok-windows-1252",
        "vornamen",
        "Vornamen_2023.csv",
        _text(RANKED + "Jürgen;m;1;12\r\nRenée;w;1;7\r\nSöhnke;m;1;3\r\n", "cp1252"),
        0,
        "",
        "a consistent Windows-1252 file is not 'mixed'",
    ),
    Case(
        "ok-minimal-xlsx",
        "flaeche-stadtbezirke",
        "distric_area.xlsx",
        lambda p: p.write_bytes(xlsx_bytes()),
        0,
        "",
        "the workbook the Excel cases are made from is valid",
    ),
    Case(
        "ok-sirens-geojson",
        "sirenenstandorte",
        "Sirenen.geojson",
        _text(sirens_geojson(_SIRENS)),
        0,
        "",
        "the synthetic sirens the geodata cases are made from are valid",
    ),
    Case(
        "ok-sirens-kml",
        "sirenenstandorte",
        "Sirenen.kml",
        _text(sirens_kml(_SIRENS)),
        0,
        "",
        "KML (ExtendedData, name as Kennung) is an accepted input",
    ),
    Case(
        "ok-sirens-kmz",
        "sirenenstandorte",
        "Sirenen.kmz",
        _zip([Entry("doc.kml", sirens_kml(_SIRENS).encode(), deflate=True)]),
        0,
        "",
        "KMZ is an accepted input",
    ),
    Case(
        "ok-districts-geojson",
        "stadtbezirke",
        "Stadtbezirke.geojson",
        _text(districts_geojson()),
        0,
        "",
        "the synthetic districts the polygon case is made from are valid",
    ),
]


def small_cases() -> list[Case]:
    """The cases whose files are committed (cases and controls)."""
    return [case for case in CASES + CONTROLS if not case.large]


def readme_table() -> str:
    """The README's case table (Markdown)."""
    lines = ["| case | dataset | file | exit | reason contains | why it matters |"]
    lines.append("|---|---|---|---|---|---|")
    for case in CASES:
        where = "built at test time" if case.large else "committed"
        lines.append(
            f"| `{case.name}` | {case.dataset} | `{case.file_name}` ({where}) | {case.exit_code} "
            f"| {case.reason.replace('|', '¦')} | {case.why} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Write the corpus files (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="committed cases and controls")
    parser.add_argument("--large", action="store_true", help="cases built at test time")
    parser.add_argument("--out", type=Path, default=FILES)
    parser.add_argument("--readme", action="store_true", help="print the README case table")
    args = parser.parse_args(argv)
    if args.readme:
        sys.stdout.write(readme_table() + "\n")
        return 0
    chosen = (small_cases() if args.small else []) + (
        [case for case in CASES if case.large] if args.large else []
    )
    for case in chosen:
        write_case(case, args.out)
    sys.stdout.write(f"{len(chosen)} files written under {args.out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
