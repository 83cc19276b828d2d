"""XML inputs are scanned with defusedxml before any other parser sees them.

KML, GPX, the XML parts of an Excel workbook and the metadata files GIS programs put
into Shapefile zips (``*.shp.xml``) are XML. An XML file can declare entities that
expand to gigabytes ("billion laughs") or that pull in other files and URLs
(``<!ENTITY x SYSTEM "file:///etc/passwd">``, XXE). GDAL, libkml and openpyxl parse
with their own settings, which this project does not control, so every XML input is
first read once by defusedxml's expat parser with **DTDs forbidden** (no legitimate
KML, GPX or OOXML file needs one; entities can only be declared in a DTD) and entity
declarations and external references forbidden as a second line. The scan streams
(constant memory) and checks well-formedness on the way, so a truncated file is
refused with line and column instead of a parser's English message.
"""

from __future__ import annotations

import xml.sax
from pathlib import Path
from typing import IO, Any

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.expatreader import DefusedExpatParser

from etl.errors import InputError

XML_SUFFIXES = frozenset({".kml", ".gpx", ".xml", ".gml", ".xsd", ".sld", ".qmd", ".rels"})
"""File endings whose content is XML (checked wherever they occur, also inside zips)."""

FORBIDDEN = (
    "enthält eine DTD/Entity-Definition; aus Sicherheitsgründen nicht erlaubt (Schutz vor "
    "XML-Bomben und dem Nachladen fremder Dateien) – bitte ohne DOCTYPE-Angabe exportieren"
)

_CHUNK = 1 << 16

# expat's messages, German for the department (the rest are shown as expat words them)
_EXPAT_GERMAN = {
    "no element found": "das Dokument endet vorzeitig (Datei abgeschnitten?)",
    "unclosed token": "ein Element ist nicht abgeschlossen (Datei abgeschnitten?)",
    "mismatched tag": "ein schließendes Element passt nicht zum öffnenden",
    "not well-formed (invalid token)": "ungültiges Zeichen",
    "undefined entity": "unbekannte Entity-Referenz",
    "junk after document element": "Daten nach dem Ende des Dokuments",
    "syntax error": "Syntaxfehler",
    "unclosed CDATA section": "ein CDATA-Abschnitt ist nicht abgeschlossen",
    "XML declaration not well-formed": "die XML-Deklaration ist fehlerhaft",
    "encoding specified in XML declaration is incorrect": (
        "die Zeichenkodierung in der XML-Deklaration stimmt nicht"
    ),
}


class _Root(xml.sax.handler.ContentHandler):
    """Remembers the name of the root element; ignores everything else."""

    def __init__(self) -> None:
        super().__init__()
        self.root: str | None = None

    # camelCase: the name the SAX API calls
    def startElement(self, name: str, attrs: Any) -> None:
        if self.root is None:
            self.root = name.rpartition(":")[2]


def check_xml(stream: IO[bytes], *, file: str, part: str | None = None) -> str:
    """Scan one XML document; return the local name of its root element.

    Args:
        stream: the document's bytes (read to the end in chunks).
        file: the delivered file, named in errors.
        part: the entry inside ``file`` (zip member), if the document is one.

    Raises:
        InputError: a DTD, an entity declaration or an external reference (exit 2,
            nothing of the document is expanded or fetched), or not well-formed XML.
    """
    where = f"{part}: " if part else ""
    handler = _Root()
    parser = DefusedExpatParser(forbid_dtd=True, forbid_entities=True, forbid_external=True)
    parser.setContentHandler(handler)
    try:
        while chunk := stream.read(_CHUNK):
            parser.feed(chunk)
        parser.close()
    except (DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden):
        raise InputError(f"{where}{FORBIDDEN}", file=file) from None
    except xml.sax.SAXParseException as exc:
        message = exc.getMessage()
        german = _EXPAT_GERMAN.get(message, message)
        column = (exc.getColumnNumber() or 0) + 1  # expat counts columns from 0
        raise InputError(
            f"{where}kein wohlgeformtes XML (Zeile {exc.getLineNumber()}, Spalte "
            f"{column}: {german}); die Datei ist beschädigt oder "
            "unvollständig",
            file=file,
        ) from None
    if handler.root is None:
        raise InputError(f"{where}enthält kein XML-Element", file=file)
    return handler.root


def check_xml_file(path: Path, *, file: str, part: str | None = None) -> str:
    """:func:`check_xml` for a file on disk."""
    with path.open("rb") as handle:
        return check_xml(handle, file=file, part=part)


def is_xml_name(name: str) -> bool:
    """Whether a file or zip entry name has an XML ending (``a.shp.xml`` included)."""
    lowered = name.lower()
    return any(lowered.endswith(suffix) for suffix in XML_SUFFIXES)
