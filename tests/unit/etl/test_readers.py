"""Decoding and splitting department files, whatever their encoding and separator."""

from __future__ import annotations

import codecs

import pytest

from etl.errors import InputError
from etl.readers import decode_text, detect_delimiter, normalize_header, read_delimited

TEXT = "Name;Anzahl\r\nJürgen;3\r\nRenée;2\r\nZoë;1\r\n"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8-sig"),
        (TEXT.encode("cp1252"), "cp1252"),
        (TEXT.encode("utf-16"), "utf-16"),
        (TEXT.encode("utf-16-le"), "utf_16_le"),  # no byte-order mark
    ],
)
def test_decode_text_detects_common_encodings(data: bytes, encoding: str) -> None:
    decoded = decode_text(data, name="x.csv")
    assert decoded.text == TEXT
    assert decoded.encoding == encoding


def test_decode_text_prefers_windows_1252_over_central_european_guesses() -> None:
    # 'š' and 'ž' differ between cp1252 and cp1250, which detectors often pick
    text = "Name;Anzahl\nJiří;1\n".replace("ř", "r") + "Šejla;2\nŽana;1\nMaëlle;3\n"
    decoded = decode_text(text.encode("cp1252"), name="x.csv")
    assert decoded.text == text


def test_decode_text_short_windows_1252_file_is_not_read_as_mac_roman() -> None:
    # charset-normalizer alone rates mac_roman ("Kleinbr‰nde") more coherent here
    text = "Jahr;Kleinbrände A;Großbrände;ÜH (Mittelbrände)\r\n2023;1.642;20;3\r\n"
    decoded = decode_text(text.encode("cp1252"), name="brandeinsaetze.csv")
    assert (decoded.text, decoded.encoding) == (text, "cp1252")


def test_decode_text_honours_explicit_encoding_and_reports_the_bad_byte() -> None:
    with pytest.raises(InputError, match=r"x\.csv: nicht als utf-8 lesbar \(Byte 0xfc"):
        decode_text("Jürgen".encode("cp1252"), name="x.csv", encoding="utf-8")


@pytest.mark.parametrize(
    "data",
    [b"Name;Anzahl\nAnna;1\x00\n", bytes(range(256)) * 4, b"PK\x03\x04\x14\x00\x06\x00binary"],
)
def test_decode_text_refuses_binary(data: bytes) -> None:
    with pytest.raises(InputError, match=r"keine Textdatei|Zeichenkodierung"):
        decode_text(data, name="x.csv")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a;b;c\n1;2;3\n", ";"),
        ("a,b,c\n1,2,3\n", ","),
        ("a\tb\n1\t2\n", "\t"),
        # commas inside quoted names must not win over the real separator
        ('name;count\n"Müller, Anna";1\n"Meier, Jo";2\n', ";"),
        # decimal commas in a ';' file
        ("Stadtbezirk;Flaeche\n01;11,3\n02;7,4\n", ";"),
    ],
)
def test_detect_delimiter(text: str, expected: str) -> None:
    assert detect_delimiter(text, name="x.csv") == expected


def test_detect_delimiter_needs_more_than_one_column() -> None:
    with pytest.raises(InputError, match="kein Trennzeichen"):
        detect_delimiter("just one column\nand another line\n", name="x.csv")


def test_read_delimited_keeps_physical_line_numbers(write_file) -> None:
    path = write_file("v.csv", '\ufeffName;Anzahl\r\n\r\nAnna;1\r\n"Jo\r\nhn";2\r\nEva;3\r\n')
    raw = read_delimited(path)
    assert raw.header == ["Name", "Anzahl"]
    assert raw.rows == [["Anna", "1"], ["Jo\r\nhn", "2"], ["Eva", "3"]]
    assert raw.lines == [3, 4, 6]
    assert raw.encoding == "utf-8-sig"
    assert raw.delimiter == ";"
    assert len(raw.sha256) == 64


def test_read_delimited_refuses_empty_and_oversized_files(write_file) -> None:
    with pytest.raises(InputError, match="leer"):
        read_delimited(write_file("empty.csv", b""))
    with pytest.raises(InputError, match="höchstens 10 Bytes"):
        read_delimited(write_file("big.csv", "Name;Anzahl\nAnna;1\n"), max_bytes=10)


def test_read_delimited_missing_file_is_input_error(tmp_path) -> None:
    with pytest.raises(InputError, match="nicht gefunden"):
        read_delimited(tmp_path / "nope.csv")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Geschlecht ", "geschlecht"),
        ("VORNAME", "vorname"),
        ("Fläche", "flaeche"),
        ("Flaeche", "flaeche"),
        ("Anzahl (gesamt)", "anzahl__gesamt"),
    ],
)
def test_normalize_header(header: str, expected: str) -> None:
    assert normalize_header(header) == expected


# ------------------------------------------------------------------ hostile and broken text


def test_mixed_utf8_and_windows_1252_is_refused_naming_both_lines() -> None:
    data = "Name;Anzahl\nJürgen;3\n".encode() + "Müller;2\n".encode("cp1252")
    with pytest.raises(InputError, match="gemischte Zeichenkodierung") as caught:
        decode_text(data, name="x.csv")
    assert "Zeile 2 enthält UTF-8 (z. B. 'ü'), Zeile 3 nicht (Byte 0xfc" in caught.value.message
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    "text",
    [
        "Straße;„Zitat“;Größe – 3 €;Maße…\n",  # ß before a closing quote: DF 93 is no letter
        "Ärzte;Öl;Übung;Çelik;Émile\n",
        "Name;Anzahl\nSøren;1\nZoë;2\nFrançois;3\n",
    ],
)
def test_consistent_windows_1252_is_not_taken_for_mixed(text: str) -> None:
    assert decode_text(text.encode("cp1252"), name="x.csv").text == text


def test_control_characters_are_found_anywhere_and_located() -> None:
    text = "Name;Anzahl\n" + "Anna;1\n" * 20_000 + "Bo\x1b[31mb;2\n"
    with pytest.raises(InputError, match=r"Steuerzeichen, das erste in Zeile 20002, Spalte 3"):
        decode_text(text.encode(), name="x.csv")


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "eine PNG-Grafik"),
        (b"%PDF-1.7\n", "ein PDF-Dokument"),
        (b"PK\x03\x04\x14\x00\x06\x00", "eine ZIP-Datei"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\0\0", "Excel 97–2003"),
    ],
)
def test_binary_files_are_named_by_what_they_are(data: bytes, what: str) -> None:
    with pytest.raises(InputError, match="ist keine Textdatei") as caught:
        decode_text(data, name="x.csv")
    assert what in caught.value.message


@pytest.mark.parametrize("data", [b"\xef\xbb\xbf", b"\r\n \r\n\t\r\n"])
def test_blank_text_has_no_content(data: bytes) -> None:
    with pytest.raises(InputError, match="enthält keinen Inhalt"):
        decode_text(data, name="x.csv")


def test_a_quote_never_closed_is_refused_with_its_line(write_file) -> None:
    path = write_file("v.csv", 'Name;Anzahl\nAnna;1\n"Bob;2\nEva;3\n')
    with pytest.raises(InputError, match="Anführungszeichen in Zeile 3 wird nie geschlossen"):
        read_delimited(path)


def test_quoted_line_breaks_that_are_closed_are_fine(write_file) -> None:
    raw = read_delimited(write_file("v.csv", 'Name;Anzahl\n"Jo\nhn";2\n'))
    assert raw.rows == [["Jo\nhn", "2"]]


def test_a_field_beyond_the_csv_limit_is_reported_in_german(write_file) -> None:
    path = write_file("v.csv", "Name;Anzahl\nAnna;1\n" + "x" * 200_000 + ";2\n")
    with pytest.raises(InputError, match=r"Zeile 3: ein Feld ist länger als 131,072 Zeichen"):
        read_delimited(path)


def test_too_many_fields_in_a_line_are_refused(write_file) -> None:
    path = write_file("v.csv", "Name;Anzahl\n" + "1;" * 20_000 + "\n")
    with pytest.raises(InputError, match=r"Zeile 2 hat 20,001 Felder, erlaubt sind höchstens"):
        read_delimited(path)
