"""XML is scanned with defusedxml before GDAL, libkml or openpyxl parse it."""

from __future__ import annotations

import io

import pytest

from etl.errors import InputError
from etl.xmlsafety import FORBIDDEN, check_xml, is_xml_name

KML = '<?xml version="1.0"?>\n<kml xmlns="http://www.opengis.net/kml/2.2"><Document/></kml>\n'


def scan(text: str) -> str:
    return check_xml(io.BytesIO(text.encode()), file="x.kml")


def test_a_plain_document_gives_its_root_element() -> None:
    assert scan(KML) == "kml"
    assert scan('<g:gpx xmlns:g="http://www.topografix.com/GPX/1/1"/>') == "gpx"


@pytest.mark.parametrize(
    ("prolog", "name"),
    [
        ('<!DOCTYPE kml [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>', "&b;"),  # expansion
        ('<!DOCTYPE kml [<!ENTITY x SYSTEM "file:///etc/passwd">]>', "&x;"),  # external
        ('<!DOCTYPE kml SYSTEM "http://127.0.0.1:9/kml.dtd">', "S"),  # external DTD
        ("<!DOCTYPE kml>", "S"),  # even a harmless DTD: no KML, GPX or OOXML needs one
    ],
)
def test_any_dtd_is_refused_before_anything_is_expanded_or_fetched(prolog: str, name: str):
    text = f'<?xml version="1.0"?>\n{prolog}<kml><name>{name}</name></kml>\n'
    with pytest.raises(InputError) as caught:
        scan(text)
    assert caught.value.message == f"x.kml: {FORBIDDEN}"
    assert caught.value.exit_code == 2


def test_a_part_inside_an_archive_is_named() -> None:
    with pytest.raises(InputError, match=r"^x\.kmz: doc\.kml: enthält eine DTD"):
        check_xml(io.BytesIO(b"<!DOCTYPE kml><kml/>"), file="x.kmz", part="doc.kml")


def test_broken_xml_names_line_and_column_in_german() -> None:
    with pytest.raises(InputError) as caught:
        scan(KML[:60])
    assert "kein wohlgeformtes XML (Zeile 2, Spalte" in caught.value.message
    assert "nicht abgeschlossen" in caught.value.message or "vorzeitig" in caught.value.message


def test_an_undeclared_entity_is_not_resolved() -> None:
    with pytest.raises(InputError, match="unbekannte Entity-Referenz"):
        scan(KML.replace("<Document/>", "<name>&xxe;</name>"))


def test_large_documents_are_streamed() -> None:
    body = "<Placemark><name>S</name></Placemark>" * 200_000  # 7 MB
    assert scan(KML.replace("<Document/>", f"<Document>{body}</Document>")) == "kml"


@pytest.mark.parametrize(
    ("name", "xml"),
    [("doc.kml", True), ("a.GPX", True), ("Bezirke.shp.xml", True), ("a.shp", False)],
)
def test_xml_names(name: str, xml: bool) -> None:
    assert is_xml_name(name) is xml
