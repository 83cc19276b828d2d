"""File types by their first bytes."""

from __future__ import annotations

import pytest

from etl import filetypes


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"PK\x03\x04rest", "zip"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole2"),
        (b"SQLite format 3\x00", "sqlite"),
        (b"\x00\x00\x27\x0a\x00", "shp"),
        (b"%PDF-1.4", "pdf"),
        (b"Name;Anzahl\r\n", None),
        (b"\xef\xbb\xbfName;Anzahl", None),
    ],
)
def test_identify(head: bytes, kind: str | None) -> None:
    signature = filetypes.identify(head)
    assert (signature.kind if signature else None) == kind


def test_ole2_kind_tells_encrypted_workbooks_from_old_xls() -> None:
    def name(text: str) -> bytes:
        return text.encode("utf-16-le")

    encrypted = b"\xd0\xcf" + name("EncryptionInfo") + name("EncryptedPackage")
    assert filetypes.ole2_kind(encrypted) == "encrypted"
    assert filetypes.ole2_kind(b"\xd0\xcf" + name("Workbook")) == "xls"
    assert filetypes.ole2_kind(b"\xd0\xcf" + name("WordDocument")) == "other"


def test_json_and_xml_starts() -> None:
    assert filetypes.looks_like_json(b'\xef\xbb\xbf \n{"type"')
    assert not filetypes.looks_like_json(b"<OGRVRTDataSource>")
    assert filetypes.looks_like_xml(b"  <?xml")
