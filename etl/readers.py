"""Reading department files: bytes → text → rows, whatever encoding and separator.

Departments export from Excel, SAP and hand-made tools, so the same table arrives as
UTF-8, UTF-8 with BOM, UTF-16 or Windows-1252; separated by ``;``, ``,`` or tabs;
with CRLF or LF. Everything here is family-neutral; families map the rows to
their schema by header name, never by position.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import charset_normalizer

from etl import filetypes
from etl.errors import InputError

# Encodings a German municipal export can have when it is not UTF-8. charset
# detection without this restriction picks cp1250/cp1257 for short German texts
# (their umlauts coincide with cp1252), which then garbles other letters.
LEGACY_ENCODINGS = ["cp1252", "iso8859_15", "cp850", "mac_roman"]

WIDE_ENCODINGS = ["utf_16_le", "utf_16_be", "utf_32_le", "utf_32_be"]

_BOMS: list[tuple[bytes, str]] = [
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]

# Control characters (Unicode category Cc) other than tab, line feed, carriage return
# and form feed: never part of a table, but terminal escape sequences (ESC) and the
# debris of binary files are made of them.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")

# A well-formed UTF-8 sequence for a character a German table may contain beyond
# ASCII: Latin-1 supplement and Latin Extended-A/B (umlauts, ß, accents: lead bytes
# C2-C9), typographic quotes, dashes and ellipsis (E2 80 xx) and the euro sign
# (E2 82 AC). Found in a file that is *not* valid UTF-8, it means lines in two
# encodings: decoding all of it as Windows-1252 would turn "Jürgen" into "JÃ¼rgen",
# which passes every rule on names.
_UTF8_TEXT = re.compile(
    rb"[\xc2-\xc9][\x80-\xbf]|\xe2\x80[\x93\x94\x98\x99\x9a\x9c\x9d\x9e\xa6]|\xe2\x82\xac"
)

DELIMITERS = [";", ",", "\t", "|"]

MAX_FIELDS = 10_000
"""Most fields a line may have. Department tables have dozens of columns; a line of
hundreds of thousands of fields is a wrong separator or a hostile file, and every
later step would loop over it."""


@dataclass(frozen=True)
class DecodedText:
    """A decoded text file and how it was decoded."""

    text: str
    encoding: str


@dataclass
class RawTable:
    """Rows of one input file exactly as found (all cells are strings).

    ``lines[i]`` is the physical line number (1-based) where data row ``i`` starts,
    ``header_line`` the line of the header, so problems can point into the file.
    ``meta`` carries facts a family derived from outside the rows (year from the
    file name, …).
    """

    source: str
    header: list[str]
    rows: list[list[str]]
    lines: list[int]
    header_line: int
    encoding: str
    delimiter: str
    sha256: str
    meta: dict[str, Any] = field(default_factory=dict)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_bytes(path: Path, *, max_bytes: int) -> bytes:
    """Read an input file with a size limit.

    Raises:
        InputError: missing, not a regular file, empty, or larger than ``max_bytes``.
    """
    check_input_file(path, max_bytes=max_bytes)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"Datei nicht lesbar: {exc.strerror}", file=path.name) from None


def check_input_file(path: Path, *, max_bytes: int) -> int:
    """The size of an input file, after checking it exists, is a file and fits the limit.

    For readers that stream large files (geodata) instead of loading them whole.

    Raises:
        InputError: missing, not a regular file, empty, or larger than ``max_bytes``.
    """
    name = path.name
    if not path.exists():
        raise InputError("Datei nicht gefunden", file=str(path))
    if not path.is_file():
        raise InputError("ist keine Datei", file=name)
    size = path.stat().st_size
    if size == 0:
        raise InputError("die Datei ist leer (0 Bytes)", file=name)
    if size > max_bytes:
        raise InputError(
            f"die Datei ist {size:,} Bytes groß, erlaubt sind höchstens {max_bytes:,} Bytes",
            file=name,
        )
    return size


def decode_text(data: bytes, *, name: str, encoding: str = "auto") -> DecodedText:
    """Decode a text file.

    With ``encoding="auto"``: a byte-order mark decides; otherwise strict UTF-8 is
    tried first (valid UTF-8 is practically never an accident for German text);
    otherwise the best of the legacy western encodings according to
    charset-normalizer. Binary content is refused rather than guessed.

    A file holding lines in two encodings (UTF-8 pasted into a Windows-1252 export)
    is refused: no single decoding reads it right, and the Windows-1252 one would
    produce plausible-looking mojibake.

    Raises:
        InputError: the bytes are binary, empty after decoding, in mixed encodings,
            or not decodable with the chosen encoding.
    """
    signature = filetypes.identify(data[: filetypes.HEAD_BYTES])
    if signature is not None:
        raise InputError(
            f"ist keine Textdatei (CSV), sondern {signature.description}; bitte die Tabelle "
            "als CSV (UTF-8) exportieren oder die Datei mit ihrer richtigen Endung liefern",
            file=name,
        )
    if encoding != "auto":
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise InputError(
                f"nicht als {encoding} lesbar ({_describe_decode_error(exc)})", file=name
            ) from None
        return DecodedText(_check_text(text, name), encoding)

    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"beginnt mit einer {codec}-Kennung (BOM), ist aber nicht als {codec} "
                    f"lesbar ({_describe_decode_error(exc)})",
                    file=name,
                ) from None
            return DecodedText(_check_text(text.lstrip("\ufeff"), name), codec)

    if b"\x00" in data:
        # UTF-16/32 without byte-order mark (some "Unicode text" exports) is full of
        # NUL bytes too: in Latin-script text every second byte is one. Only then
        # ask charset-normalizer which wide encoding it is; a few stray NULs in an
        # otherwise 8-bit file mean a damaged or binary file.
        wide = None
        if data.count(0) > len(data) * 0.3:
            wide = charset_normalizer.from_bytes(data, cp_isolation=WIDE_ENCODINGS).best()
        if wide is not None:
            return DecodedText(_check_text(str(wide), name), wide.encoding)
        first_line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise InputError(
            f"enthält NUL-Bytes (das erste in Zeile {first_line}): das ist keine Textdatei "
            "(CSV), sondern vermutlich eine Binärdatei oder UTF-16 ohne Kennung; bitte als "
            "CSV (UTF-8) speichern",
            file=name,
        )
    try:
        return DecodedText(_check_text(data.decode("utf-8"), name), "utf-8")
    except UnicodeDecodeError as exc:
        _refuse_mixed_encodings(data, exc, name)
    # charset-normalizer ranks equally clean decodings by "coherence", which on short
    # files favours mac_roman ("Kleinbr‰nde") over cp1252; among the least chaotic
    # candidates, prefer the order of LEGACY_ENCODINGS (Windows-1252 first)
    matches = [
        m
        for m in charset_normalizer.from_bytes(data, cp_isolation=LEGACY_ENCODINGS)
        if m.encoding in LEGACY_ENCODINGS
    ]
    best = min(
        matches,
        key=lambda m: (round(m.chaos, 3), LEGACY_ENCODINGS.index(m.encoding)),
        default=None,
    )
    if best is None:
        raise InputError(
            "Zeichenkodierung nicht erkennbar (weder UTF-8 noch Windows-1252); "
            "bitte als CSV (UTF-8) speichern",
            file=name,
        )
    return DecodedText(_check_text(str(best), name), best.encoding)


def _describe_decode_error(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"Byte 0x{exc.object[exc.start]:02x} an Position {exc.start}"
    return str(exc)


def _line_and_column(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of ``offset`` in ``text`` (lines split as an editor does)."""
    before = text[:offset]
    line_start = max(before.rfind("\n"), before.rfind("\r")) + 1
    lines = len(re.findall(r"\r\n|\r|\n", before))
    return lines + 1, offset - line_start + 1


def _refuse_mixed_encodings(data: bytes, error: UnicodeDecodeError, name: str) -> None:
    """InputError if ``data`` (not valid UTF-8) nevertheless has UTF-8 encoded letters."""
    match = _UTF8_TEXT.search(data)
    if match is None:
        return
    utf8_line = data.count(b"\n", 0, match.start()) + 1
    bad_line = data.count(b"\n", 0, error.start) + 1
    letter = match.group().decode("utf-8")
    raise InputError(
        f"gemischte Zeichenkodierung: Zeile {utf8_line} enthält UTF-8 (z. B. {letter!r}), "
        f"Zeile {bad_line} nicht (Byte 0x{data[error.start]:02x}, vermutlich Windows-1252); "
        "jede Lesart würde Umlaute verfälschen – bitte die Datei einheitlich als UTF-8 speichern",
        file=name,
    )


def _check_text(text: str, name: str) -> str:
    """Refuse decoded 'text' that is empty or really binary (control characters).

    The whole text is checked, not a sample: an escape sequence in line 100,000 of a
    CSV reaches a report or a terminal just as one in line 1 would.
    """
    if not text.strip():
        raise InputError(
            "enthält keinen Inhalt (nur Leerzeilen, Leerzeichen oder eine Byte-Order-Mark)",
            file=name,
        )
    first = _CONTROL.search(text)
    if first:
        count = len(_CONTROL.findall(text))
        line, column = _line_and_column(text, first.start())
        raise InputError(
            f"enthält {count:,} Steuerzeichen, das erste in Zeile {line}, Spalte {column} "
            f"(Code 0x{ord(first.group()):02x}): das ist keine Textdatei (CSV) oder sie ist "
            "beschädigt; bitte die Tabelle neu als CSV exportieren",
            file=name,
        )
    return text


def detect_delimiter(text: str, *, name: str) -> str:
    """Pick the separator that splits the first lines into the same number of fields.

    Written here rather than with ``csv.Sniffer``: the sniffer also guesses quote
    characters and is known to pick letters or spaces as delimiters on short
    files; we only ever need to choose among a few candidates, which the csv module
    then parses properly.
    """
    lines = [line for line in text.splitlines()[:50] if line.strip()]
    if not lines:
        raise InputError("enthält keine Zeilen", file=name)
    best: tuple[float, str] | None = None
    sample = "\n".join(lines)
    for delimiter in DELIMITERS:
        counts: list[int] = []
        try:
            for row in csv.reader(io.StringIO(sample), delimiter=delimiter):
                counts.append(len(row))
        except csv.Error:
            # a field beyond the csv module's limit: judge by the lines before it
            # (read_delimited then reports that line in German)
            pass
        if not counts or counts[0] < 2:
            continue
        mode, frequency = Counter(counts).most_common(1)[0]
        # consistency first, then more columns; ';' wins ties (German Excel default)
        score = frequency / len(counts) + min(mode, 50) / 1000
        if best is None or score > best[0] + 1e-9:
            best = (score, delimiter)
    if best is None:
        raise InputError(
            "kein Trennzeichen erkennbar: erwartet wird eine Tabelle mit mehreren Spalten, "
            "getrennt durch ';' oder ','",
            file=name,
        )
    return best[1]


def read_delimited(
    path: Path,
    *,
    encoding: str = "auto",
    delimiter: str = "auto",
    max_bytes: int = 50 * 1024 * 1024,
) -> RawTable:
    """Read a delimited text file into a :class:`RawTable`.

    The first non-blank line is the header. Blank lines are skipped; their line
    numbers still count, so reported rows match what an editor shows.

    Raises:
        InputError: unreadable, undecodable, binary, or without a usable header.
    """
    name = path.name
    data = read_bytes(path, max_bytes=max_bytes)
    decoded = decode_text(data, name=name, encoding=encoding)
    text = unicodedata.normalize("NFC", decoded.text)
    sep = detect_delimiter(text, name=name) if delimiter == "auto" else delimiter

    header: list[str] | None = None
    header_line = 0
    rows: list[list[str]] = []
    lines: list[int] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    line_start = 1
    try:
        for row in reader:
            this_line = line_start
            line_start = reader.line_num + 1
            if len(row) > MAX_FIELDS:
                raise InputError(
                    f"Zeile {this_line} hat {len(row):,} Felder, erlaubt sind höchstens "
                    f"{MAX_FIELDS:,}; vermutlich ein falsches Trennzeichen oder keine Tabelle",
                    file=name,
                )
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header, header_line = row, this_line
                continue
            rows.append(row)
            lines.append(this_line)
    except csv.Error as exc:
        raise InputError(_csv_error(exc, line_start), file=name) from None
    last = lines[-1] if lines else header_line
    if header is not None and _unclosed_quote(text, last, sep):
        raise InputError(
            f"das Anführungszeichen in Zeile {last} wird nie geschlossen: der Rest der Datei "
            "wäre ein einziges Feld; die Datei ist vermutlich abgeschnitten oder ein "
            "Anführungszeichen fehlt",
            file=name,
        )
    if header is None:
        raise InputError("enthält keine Kopfzeile", file=name)
    return RawTable(
        source=name,
        header=[cell.strip() for cell in header],
        rows=rows,
        lines=lines,
        header_line=header_line,
        encoding=decoded.encoding,
        delimiter=sep,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _csv_error(exc: csv.Error, line: int) -> str:
    """A German message for the csv module's error at the record starting on ``line``."""
    text = str(exc)
    if "field larger than field limit" in text:
        return (
            f"Zeile {line}: ein Feld ist länger als {csv.field_size_limit():,} Zeichen; "
            "vermutlich fehlt ein schließendes Anführungszeichen oder die Datei ist keine "
            "Tabelle"
        )
    return f"Zeile {line}: nicht als Tabelle lesbar ({text})"


def _unclosed_quote(text: str, start_line: int, delimiter: str) -> bool:
    """Whether the record starting on ``start_line`` opens a quote that the file never closes.

    The csv module (non-strict, as real files need) silently ends such a field at the
    end of the file; only a strict reading of that last record tells.
    """
    stream = io.StringIO(text, newline="")
    for _ in range(start_line - 1):
        stream.readline()
    try:
        for _row in csv.reader(stream, delimiter=delimiter, strict=True):
            pass
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def normalize_header(value: str) -> str:
    """A header in comparable form: case-folded, umlauts transliterated, no punctuation.

    ``"Geschlecht "``, ``"GESCHLECHT"`` and ``"geschlecht"`` compare equal, and so
    do ``"Fläche"`` and ``"Flaeche"`` (departments transliterate inconsistently).
    """
    folded = unicodedata.normalize("NFC", value).strip().casefold()
    for umlaut, plain in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        folded = folded.replace(umlaut, plain)
    return "".join(ch if ch.isalnum() else "_" for ch in folded).strip("_")
