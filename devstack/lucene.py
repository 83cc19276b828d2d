"""CKAN's Solr schema, text analysis and the Lucene query syntax, for the Solr stand-in.

This is the search half of :mod:`devstack.solr`: it knows the fields of CKAN 2.12's
``schema.xml`` (``ckan/config/solr/schema.xml``), analyses values the way those field types
do (approximately), parses the Lucene/dismax query syntax CKAN sends and evaluates a parsed
query against one indexed document.

Deliberate simplifications, each commented where it happens:

* text analysis approximates Solr's chain (word-delimiter split, lower-casing, ASCII folding and
  only step 1 of the Porter stemmer instead of the full Snowball English stemmer);
* ``dismax`` is parsed like ``edismax`` (AND/OR/NOT and ``field:`` are honoured);
* scores are a simple tf-idf, good for a sensible "relevance" order, not Solr's BM25 numbers;
* fuzzy (``~``) and phrase slop are ignored; regular expressions (``/re/``) are not supported.
"""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

Kind = Literal["string", "text", "text_general", "text_ngram", "date", "int"]


class QuerySyntaxError(ValueError):
    """A query Solr would reject with HTTP 400 (message follows Solr's wording)."""


class FieldValueError(ValueError):
    """A document value the field's type cannot hold (Solr answers HTTP 400)."""


# --------------------------------------------------------------------------- schema


@dataclass(frozen=True)
class FieldSpec:
    """One field (or dynamic field pattern) of the schema."""

    kind: Kind
    stored: bool = True
    multi: bool = False


SCHEMA_NAME = "ckan-2.12"
SCHEMA_VERSION = "1.6"
UNIQUE_KEY = "index_id"

_S, _T, _TG, _NG, _D, _I = "string", "text", "text_general", "text_ngram", "date", "int"

# Copied from CKAN 2.12's schema.xml: name -> (type, stored, multiValued).
FIELDS: dict[str, FieldSpec] = {
    name: FieldSpec(kind, stored, multi)  # type: ignore[arg-type]
    for name, (kind, stored, multi) in {
        "index_id": (_S, True, False),
        "id": (_S, True, False),
        "site_id": (_S, True, False),
        "title": (_T, True, False),
        "title_ngram": (_NG, True, False),
        "entity_type": (_S, True, False),
        "dataset_type": (_S, True, False),
        "state": (_S, True, False),
        "name": (_S, True, False),
        "name_ngram": (_NG, True, False),
        "revision_id": (_S, True, False),
        "version": (_S, True, False),
        "url": (_S, True, False),
        "ckan_url": (_S, True, False),
        "download_url": (_S, True, False),
        "notes": (_T, True, False),
        "author": (_TG, True, False),
        "author_email": (_TG, True, False),
        "maintainer": (_TG, True, False),
        "maintainer_email": (_TG, True, False),
        "license": (_S, True, False),
        "license_id": (_S, True, False),
        "tags": (_S, True, True),
        "groups": (_S, True, True),
        "organization": (_S, True, False),
        "capacity": (_S, True, False),
        "permission_labels": (_S, False, True),
        "res_name": (_TG, True, True),
        "res_description": (_TG, True, True),
        "res_format": (_S, True, True),
        "res_url": (_S, True, True),
        "res_type": (_S, True, True),
        "text": (_T, False, True),
        "urls": (_T, False, True),
        "depends_on": (_T, False, True),
        "dependency_of": (_T, False, True),
        "derives_from": (_T, False, True),
        "has_derivation": (_T, False, True),
        "links_to": (_T, False, True),
        "linked_from": (_T, False, True),
        "child_of": (_T, False, True),
        "parent_of": (_T, False, True),
        "views_total": (_I, False, False),
        "views_recent": (_I, False, False),
        "resources_accessed_total": (_I, False, False),
        "resources_accessed_recent": (_I, False, False),
        "metadata_created": (_D, True, False),
        "metadata_modified": (_D, True, False),
        "indexed_ts": (_D, True, False),
        "title_string": (_S, False, False),
        "data_dict": (_S, True, False),
        "validated_data_dict": (_S, True, False),
        "_version_": (_S, True, False),
    }.items()
}

# Dynamic fields; Solr prefers the longest matching pattern, so the list is sorted that way.
DYNAMIC_FIELDS: list[tuple[str, FieldSpec]] = sorted(
    [
        ("*_date", FieldSpec("date")),
        ("extras_*", FieldSpec("text")),
        ("res_extras_*", FieldSpec("text", multi=True)),
        ("vocab_*", FieldSpec("string", multi=True)),
        ("*", FieldSpec("string", stored=False)),
    ],
    key=lambda item: -len(item[0]),
)

COPY_FIELDS: list[tuple[str, str]] = [
    ("url", "urls"),
    ("title", "title_ngram"),
    ("name", "name_ngram"),
    ("ckan_url", "urls"),
    ("download_url", "urls"),
    ("res_url", "urls"),
    ("extras_*", "text"),
    ("res_extras_*", "text"),
    ("vocab_*", "text"),
    ("urls", "text"),
    ("name", "text"),
    ("title", "text"),
    ("text", "text"),
    ("license", "text"),
    ("notes", "text"),
    ("tags", "text"),
    ("groups", "text"),
    ("organization", "text"),
    ("res_name", "text"),
    ("res_description", "text"),
    ("maintainer", "text"),
    ("author", "text"),
]


def _glob_match(pattern: str, name: str) -> bool:
    if pattern.startswith("*"):
        return name.endswith(pattern[1:])
    if pattern.endswith("*"):
        return name.startswith(pattern[:-1])
    return name == pattern


def field_spec(name: str) -> FieldSpec:
    """Return the schema entry for a field name (explicit field, else dynamic pattern)."""
    spec = FIELDS.get(name)
    if spec is not None:
        return spec
    for pattern, dyn in DYNAMIC_FIELDS:
        if _glob_match(pattern, name):
            return dyn
    raise AssertionError("the '*' dynamic field matches every name")


def copy_targets(name: str) -> list[str]:
    """Destinations of the copyField rules whose source matches ``name``."""
    return [dest for source, dest in COPY_FIELDS if _glob_match(source, name) and dest != name]


def schema_xml() -> str:
    """A schema document in Solr's XML format; CKAN only reads the root's ``name``."""
    solr_types = {
        _S: "solr.StrField",
        _T: "solr.TextField",
        _TG: "solr.TextField",
        _NG: "solr.TextField",
        _D: "solr.DatePointField",
        _I: "solr.IntPointField",
    }
    lines = [
        f'<?xml version="1.0" encoding="UTF-8"?>\n<schema name="{SCHEMA_NAME}" '
        f'version="{SCHEMA_VERSION}">',
        "<types>",
    ]
    lines += [f'  <fieldType name="{k}" class="{c}"/>' for k, c in solr_types.items()]
    lines += ["</types>", "<fields>"]

    def attrs(spec: FieldSpec) -> str:
        return (
            f'type="{spec.kind}" indexed="true" stored="{str(spec.stored).lower()}" '
            f'multiValued="{str(spec.multi).lower()}"'
        )

    lines += [f'  <field name="{n}" {attrs(s)}/>' for n, s in FIELDS.items()]
    lines += [f'  <dynamicField name="{p}" {attrs(s)}/>' for p, s in DYNAMIC_FIELDS]
    lines += ["</fields>", f"<uniqueKey>{UNIQUE_KEY}</uniqueKey>"]
    lines += [f'<copyField source="{s}" dest="{d}"/>' for s, d in COPY_FIELDS]
    lines.append("</schema>")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- values and dates

_ISO_DATE = re.compile(r"(\d{4,})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z")
_DATE_OP = re.compile(r"([+-]\d+|/)([A-Z]+)")
_UNITS = {
    "YEAR": "year",
    "YEARS": "year",
    "MONTH": "month",
    "MONTHS": "month",
    "DAY": "day",
    "DAYS": "day",
    "DATE": "day",
    "HOUR": "hour",
    "HOURS": "hour",
    "MINUTE": "minute",
    "MINUTES": "minute",
    "SECOND": "second",
    "SECONDS": "second",
    "MILLI": "milli",
    "MILLIS": "milli",
    "MILLISECOND": "milli",
    "MILLISECONDS": "milli",
}


def _add_months(value: dt.datetime, months: int) -> dt.datetime:
    total = value.year * 12 + value.month - 1 + months
    year, month = divmod(total, 12)
    day = min(value.day, calendar.monthrange(year, month + 1)[1])
    return value.replace(year=year, month=month + 1, day=day)


def _round_down(value: dt.datetime, unit: str) -> dt.datetime:
    parts = ["year", "month", "day", "hour", "minute", "second", "milli"]
    keep = parts.index(unit) + 1
    reset = {"month": 1, "day": 1, "hour": 0, "minute": 0, "second": 0, "microsecond": 0}
    kwargs = {k: v for k, v in reset.items() if k not in parts[:keep]}
    if unit == "milli":
        kwargs["microsecond"] = value.microsecond // 1000 * 1000
    return value.replace(**kwargs)  # type: ignore[arg-type]


def parse_date(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """Parse a Solr date: ``2024-05-01T10:00:00.123Z`` or date math such as ``NOW/DAY-7DAYS``.

    Raises:
        FieldValueError: for anything else, e.g. a missing trailing ``Z`` (Solr rejects
            ``+00:00`` offsets too).
    """
    text = text.strip()
    if text.startswith("NOW"):
        base = now or dt.datetime.now(dt.UTC)
        rest = text[3:]
    else:
        match = _ISO_DATE.match(text)
        if not match:
            raise FieldValueError(f"Invalid Date String:'{text}'")
        year, month, day, hour, minute, second, frac = match.groups()
        micro = int((frac or "0")[:6].ljust(6, "0"))
        try:
            base = dt.datetime(
                int(year),
                int(month),
                int(day),
                int(hour),
                int(minute),
                int(second),
                micro,
                tzinfo=dt.UTC,
            )
        except ValueError as exc:
            raise FieldValueError(f"Invalid Date String:'{text}'") from exc
        rest = text[match.end() :]
    pos = 0
    for op in _DATE_OP.finditer(rest):
        if op.start() != pos or op.group(2) not in _UNITS:
            break
        pos = op.end()
        unit = _UNITS[op.group(2)]
        if op.group(1) == "/":
            base = _round_down(base, unit)
        elif unit in ("year", "month"):
            base = _add_months(base, int(op.group(1)) * (12 if unit == "year" else 1))
        else:
            seconds = {"day": 86400, "hour": 3600, "minute": 60, "second": 1, "milli": 0.001}
            base = base + dt.timedelta(seconds=int(op.group(1)) * seconds[unit])
    if pos != len(rest):
        raise FieldValueError(f"Invalid Date String:'{text}'")
    return base


def format_date(value: dt.datetime) -> str:
    """Format a date the way Solr returns it (millisecond precision, trailing ``Z``)."""
    millis = value.microsecond // 1000
    base = value.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{millis:03d}Z" if millis else f"{base}Z"


def normalize_value(name: str, spec: FieldSpec, value: Any) -> Any:
    """Convert one incoming value to the field's type, as Solr does on indexing.

    Raises:
        FieldValueError: if the value cannot be held by the field type.
    """
    if spec.kind == "date":
        if isinstance(value, dt.datetime):
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return parse_date(str(value))
    if spec.kind == "int":
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise FieldValueError(f"ERROR: [field {name}] Invalid Number: {value}") from exc
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def output_value(value: Any) -> Any:
    """Convert a stored value back to its JSON form in a response."""
    return format_date(value) if isinstance(value, dt.datetime) else value


# --------------------------------------------------------------------------- text analysis

_ALNUM_RUN = re.compile(r"[^\W_]+")
_POSSESSIVE = re.compile(r"['\u2019][sS](?=\W*$)")
_FOLD_SPECIAL = str.maketrans({"ß": "ss", "æ": "ae", "ø": "o", "œ": "oe", "đ": "d", "ł": "l"})


def _fold(token: str) -> str:
    """ASCII folding (``Düsseldorf`` -> ``dusseldorf``), like solr.ASCIIFoldingFilter."""
    token = token.translate(_FOLD_SPECIAL)
    decomposed = unicodedata.normalize("NFKD", token)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _word_parts(token: str, split_case: bool) -> list[str]:
    """Split like solr.WordDelimiterGraphFilter: on punctuation, digits and case changes."""
    parts: list[str] = []
    for run in _ALNUM_RUN.findall(_POSSESSIVE.sub("", token)):
        current = run[0]
        for prev, char in itertools.pairwise(run):
            if prev.isdigit() != char.isdigit() or (
                split_case and prev.islower() and char.isupper()
            ):
                parts.append(current)
                current = char
            else:
                current += char
        parts.append(current)
    return parts


def _is_consonant(word: str, i: int) -> bool:
    if word[i] in "aeiou":
        return False
    if word[i] == "y":
        return i == 0 or not _is_consonant(word, i - 1)
    return True


def _measure(stem: str) -> int:
    """Porter's m: the number of vowel-consonant sequences."""
    pattern = "".join("c" if _is_consonant(stem, i) else "v" for i in range(len(stem)))
    return len(re.findall("v+c+", pattern))


def _has_vowel(stem: str) -> bool:
    return any(not _is_consonant(stem, i) for i in range(len(stem)))


def stem(word: str) -> str:
    """Step 1 of the Porter stemmer (plurals, -ed, -ing): ``floods``/``flooding`` -> ``flood``.

    Solr runs the full Snowball English stemmer; step 1 covers the inflections that matter
    for matching a search word against titles and descriptions.
    """
    if len(word) <= 2 or not word.isalpha():
        return word
    if word.endswith("sses") or word.endswith("ies"):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    trimmed = False
    if word.endswith("eed"):
        if _measure(word[:-3]) > 0:
            word = word[:-1]
    elif word.endswith("ed") and _has_vowel(word[:-2]):
        word, trimmed = word[:-2], True
    elif word.endswith("ing") and _has_vowel(word[:-3]):
        word, trimmed = word[:-3], True
    if trimmed and word:
        if word.endswith(("at", "bl", "iz")):
            word += "e"
        elif len(word) > 1 and word[-1] == word[-2] and _is_consonant(word, len(word) - 1):
            if word[-1] not in "lsz":
                word = word[:-1]
        elif (
            _measure(word) == 1
            and len(word) >= 3
            and _is_consonant(word, len(word) - 3)
            and not _is_consonant(word, len(word) - 2)
            and _is_consonant(word, len(word) - 1)
            and word[-1] not in "wxy"
        ):
            word += "e"
    if word.endswith("y") and _has_vowel(word[:-1]):
        word = word[:-1] + "i"
    return word


def _normalize_token(token: str, kind: Kind) -> str:
    token = token.lower()
    if kind == "text":
        token = _fold(stem(token))
    return token


def analyze(value: str, kind: Kind, *, index: bool) -> tuple[list[str], list[str]]:
    """Tokenize a text value.

    Returns:
        ``(positional tokens, extra tokens)``. Extra tokens are the catenated word parts the
        index analyzer adds (``wi-fi`` -> ``wifi``); they have no position of their own.
    """
    tokens: list[str] = []
    extra: list[str] = []
    for chunk in value.split():
        parts = _word_parts(chunk, split_case=kind == "text")
        tokens += [_normalize_token(p, kind) for p in parts]
        if index and len(parts) > 1:
            extra.append(_normalize_token("".join(parts), kind))
    return tokens, extra


# --------------------------------------------------------------------------- indexed documents


@dataclass
class FieldIndex:
    """The indexed form of one field of one document."""

    kind: Kind
    values: list[Any] = field(default_factory=list)  # strings, dates or ints
    positions: list[list[str]] = field(default_factory=list)  # text: tokens per value
    tf: Counter[str] = field(default_factory=Counter)  # text: term frequencies


class IndexedDoc:
    """A stored document plus its analysed fields (copyField targets included)."""

    def __init__(self, source: dict[str, list[Any]], seq: int) -> None:
        """Analyse ``source`` (field -> normalised values); ``seq`` orders ties like docids."""
        self.source = source
        self.seq = seq
        self.fields: dict[str, FieldIndex] = {}
        for name, values in source.items():
            for target in [name, *copy_targets(name)]:
                self._index(target, values)

    def _index(self, name: str, values: Iterable[Any]) -> None:
        kind = field_spec(name).kind
        entry = self.fields.setdefault(name, FieldIndex(kind))
        for value in values:
            if kind in ("text", "text_general"):
                text = output_value(value) if not isinstance(value, str) else value
                tokens, extra = analyze(text, kind, index=True)
                entry.positions.append(tokens)
                entry.tf.update(tokens + extra)
                entry.values.append(text)
            elif kind == "text_ngram":
                entry.values.append(str(value).lower())
            else:
                entry.values.append(value)

    def terms(self, name: str) -> set[str]:
        """Indexed terms of a field, for facets and wildcard matching."""
        entry = self.fields.get(name)
        if entry is None:
            return set()
        if entry.kind in ("text", "text_general"):
            return set(entry.tf)
        return {str(output_value(v)) for v in entry.values}

    def has_term(self, name: str, term: str) -> bool:
        """Whether the field indexed ``term`` (cheaper than ``term in terms(name)``)."""
        entry = self.fields.get(name)
        if entry is None:
            return False
        if entry.kind in ("text", "text_general"):
            return term in entry.tf
        return any(str(output_value(v)) == term for v in entry.values)


@dataclass
class SearchContext:
    """Collection-wide data a query needs while scoring (document frequencies)."""

    docs: Sequence[IndexedDoc]
    _df: dict[tuple[str, str], int] = field(default_factory=dict)

    def idf(self, name: str, term: str) -> float:
        key = (name, term)
        if key not in self._df:
            self._df[key] = sum(1 for d in self.docs if d.has_term(name, term))
        return 1.0 + math.log((len(self.docs) + 1) / (self._df[key] + 1))


# --------------------------------------------------------------------------- query nodes


class Occur(Enum):
    MUST = "+"
    SHOULD = ""
    MUST_NOT = "-"


class Node:
    """A parsed query; ``score`` returns ``None`` when the document does not match."""

    boost: float = 1.0

    def score(self, doc: IndexedDoc, ctx: SearchContext) -> float | None:
        raise NotImplementedError


@dataclass
class MatchAll(Node):
    boost: float = 1.0

    def score(self, doc: IndexedDoc, ctx: SearchContext) -> float | None:
        return self.boost


@dataclass
class Exists(Node):
    """``field:*``"""

    name: str
    boost: float = 1.0

    def score(self, doc: IndexedDoc, ctx: SearchContext) -> float | None:
        entry = doc.fields.get(self.name)
        return self.boost if entry and entry.values else None


@dataclass
class Term(Node):
    """One analysed term (text fields) or one exact value (string, date, int fields)."""

    name: str
    value: Any
    boost: float = 1.0

    def score(self, doc: IndexedDoc, ctx: SearchContext) -> float | None:
        entry = doc.fields.get(self.name)
        if entry is None:
            return None
        if entry.kind in ("text", "text_general"):
            tf = entry.tf.get(self.value, 0)
            if not tf:
                return None
            return self.boost * math.sqrt(tf) * ctx.idf(self.name, self.value)
        if entry.kind == "text_ngram":
            # NGram index of 2..10 characters: a longer query token matches no gram.
            hit = 2 <= len(self.value) <= 10 and any(self.value in v for v in entry.values)
            return self.boost if hit else None
        if self.value in entry.values:
            return self.boost * ctx.idf(self.name, str(output_value(self.value)))
        return None


@dataclass
class Phrase(Node):
    """Consecutive tokens within one value of a text field."""

    name: str
    tokens: list[str]
    boost: float = 1.0

    def score(self, doc: IndexedDoc, ctx: SearchContext) -> float | None:
        entry = doc.fields.get(self.name)
        if entry is None:
            return None
        if entry.kind == "text_ngram":
            hits = all(Term(self.name, t).score(doc, ctx) for t in self.tokens)
            return self.boost if hits else None
        n = len(self.tokens)
        count = sum(
            1
            for tokens in entry.positions
            for i in range(len(tokens) - n + 1)
            if tokens[i : i + n] == self.tokens
        )
        if not count:
            return None
        return self.boost * math.sqrt(count) * sum(ctx.idf(self.name, t) for t in self.tokens)


@dataclass
class Wildcard(Node):
    name: str
    pattern: re.Pattern[str]
    boost: float = 1.0

    def score(self, doc: IndexedDoc, ctx: SearchContext) -> float | None:
        # Solr scores multi-term queries as constant scores.
        hit = any(self.pattern.fullmatch(t) for t in doc.terms(self.name))
        return self.boost if hit else None


@dataclass
class Range(Node):
    """``field:[lo TO hi]`` / ``{lo TO hi}``; ``None`` bounds are open (``*``)."""

    name: str
    low: Any
    high: Any
    include_low: bool
    include_high: bool
    boost: float = 1.0

    def _inside(self, value: Any) -> bool:
        if self.low is not None and (
            value < self.low or (value == self.low and not self.include_low)
        ):
            return False
        return self.high is None or value < self.high or (value == self.high and self.include_high)

    def score(self, doc: IndexedDoc, ctx: SearchContext) -> float | None:
        entry = doc.fields.get(self.name)
        if entry is None:
            return None
        values: Iterable[Any] = entry.tf if entry.kind in ("text", "text_general") else entry.values
        return self.boost if any(self._inside(v) for v in values) else None


@dataclass
class DisMax(Node):
    """One user term across the ``qf`` fields: best field score plus ``tie`` times the rest."""

    children: list[Node]
    tie: float
    boost: float = 1.0

    def score(self, doc: IndexedDoc, ctx: SearchContext) -> float | None:
        scores = [s for c in self.children if (s := c.score(doc, ctx)) is not None]
        if not scores:
            return None
        best = max(scores)
        return self.boost * (best + self.tie * (sum(scores) - best))


@dataclass
class Bool(Node):
    clauses: list[tuple[Occur, Node]]
    min_should: int = 0
    boost: float = 1.0

    def score(self, doc: IndexedDoc, ctx: SearchContext) -> float | None:
        total = 0.0
        should_hits = 0
        has_positive = False
        for occur, node in self.clauses:
            result = node.score(doc, ctx)
            if occur is Occur.MUST_NOT:
                if result is not None:
                    return None
                continue
            has_positive = True
            if occur is Occur.MUST:
                if result is None:
                    return None
                total += result
            elif result is not None:
                should_hits += 1
                total += result
        if not self.clauses:
            return None  # e.g. a query whose every term the analyzer removed
        if not has_positive:
            # A purely negative query matches everything else; Solr adds the *:* itself at
            # the top level (Lucene alone would match nothing).
            return self.boost
        required_should = self.min_should
        if not any(o is Occur.MUST for o, _ in self.clauses):
            required_should = max(required_should, 1)
        if should_hits < required_should:
            return None
        return self.boost * total


# --------------------------------------------------------------------------- the parser

_SPECIAL = set(' \t\r\n\u3000()[]{}^"~:')


@dataclass
class _Tok:
    kind: str  # TERM QUOTED RANGE LPAREN RPAREN PLUS MINUS NOT AND OR COLON BOOST FUZZY
    text: str = ""
    pattern: str | None = None  # regex source for wildcard terms
    extra: tuple[str, str, bool, bool] | None = None  # range: low, high, incl_low, incl_high


def _read_escaped(text: str, i: int, stop: Callable[[str], bool]) -> tuple[str, str, bool, int]:
    """Read a term; returns ``(unescaped, regex source, has wildcards, next index)``."""
    plain: list[str] = []
    regex: list[str] = []
    wild = False
    while i < len(text) and not stop(text[i]):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            plain.append(text[i + 1])
            regex.append(re.escape(text[i + 1]))
            i += 2
            continue
        if char in "*?":
            wild = True
            regex.append(".*" if char == "*" else ".")
        else:
            regex.append(re.escape(char))
        plain.append(char)
        i += 1
    return "".join(plain), "".join(regex), wild, i


def _read_quoted(text: str, i: int) -> tuple[str, int]:
    """Read a double-quoted string starting after the opening quote."""
    out: list[str] = []
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif char == '"':
            return "".join(out), i + 1
        else:
            out.append(char)
            i += 1
    raise QuerySyntaxError('Cannot parse query: unterminated phrase (missing closing ")')


def _lex(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "()":
            tokens.append(_Tok("LPAREN" if char == "(" else "RPAREN"))
            i += 1
        elif char in "+-!":
            tokens.append(_Tok({"+": "PLUS", "-": "MINUS", "!": "NOT"}[char]))
            i += 1
        elif text.startswith("&&", i) or text.startswith("||", i):
            tokens.append(_Tok("AND" if char == "&" else "OR"))
            i += 2
        elif char == ":":
            tokens.append(_Tok("COLON"))
            i += 1
        elif char in "^~":
            match = re.compile(r"\d+(?:\.\d+)?|\.\d+").match(text, i + 1)
            number = match.group(0) if match else ""
            if char == "^" and not number:
                raise QuerySyntaxError("Cannot parse query: '^' must be followed by a number")
            tokens.append(_Tok("BOOST" if char == "^" else "FUZZY", number))
            i = match.end() if match else i + 1
        elif char == '"':
            value, i = _read_quoted(text, i + 1)
            tokens.append(_Tok("QUOTED", value))
        elif char in "[{":
            token, i = _lex_range(text, i)
            tokens.append(token)
        else:
            plain, regex, wild, i = _read_escaped(text, i, lambda c: c in _SPECIAL)
            if plain in ("AND", "OR", "NOT") and not wild:
                tokens.append(_Tok(plain))
            else:
                tokens.append(_Tok("TERM", plain, regex if wild else None))
    return tokens


def _lex_range(text: str, i: int) -> tuple[_Tok, int]:
    include_low = text[i] == "["
    parts: list[str] = []
    j = i + 1
    while True:
        while j < len(text) and text[j].isspace():
            j += 1
        if j >= len(text):
            raise QuerySyntaxError("Cannot parse query: unterminated range")
        if text[j] in "]}":
            include_high = text[j] == "]"
            j += 1
            break
        if text[j] == '"':
            value, j = _read_quoted(text, j + 1)
            parts.append(value)
        else:
            value, _, _, j = _read_escaped(text, j, lambda c: c.isspace() or c in "]}")
            parts.append(value)
    if len(parts) != 3 or parts[1] != "TO":
        raise QuerySyntaxError("Cannot parse query: a range needs the form [low TO high]")
    return _Tok("RANGE", extra=(parts[0], parts[2], include_low, include_high)), j


def min_should_match(optional: int, spec: str) -> int:
    """Solr's ``mm`` (minimum should match), e.g. ``2<-1 5<80%``.

    Mirrors ``SolrPluginUtils.calculateMinShouldMatch``.
    """
    spec = re.sub(r"\s*<\s*", "<", spec.strip())
    if not spec:
        return 0
    if "<" in spec:
        result = optional
        for condition in spec.split():
            bound, sub = condition.split("<", 1)
            if optional <= int(bound):
                return result
            result = min_should_match(optional, sub)
        return result
    if spec.endswith("%"):
        calc = optional * int(spec[:-1]) / 100
        result = optional + int(calc) if calc < 0 else int(calc)
    else:
        calc_int = int(spec)
        result = optional + calc_int if calc_int < 0 else calc_int
    return max(0, min(result, optional))


class _Parser:
    """Recursive-descent parser for Lucene's classic query syntax."""

    def __init__(
        self,
        text: str,
        *,
        default_field: str,
        default_and: bool,
        qf: list[tuple[str, float]] | None,
        tie: float,
        now: dt.datetime,
    ) -> None:
        self.tokens = _lex(text)
        self.pos = 0
        self.default_field = default_field
        self.default_and = default_and
        self.qf = qf
        self.tie = tie
        self.now = now
        self.saw_or = False

    def peek(self, offset: int = 0) -> _Tok | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> _Tok:
        token = self.peek()
        if token is None:
            raise QuerySyntaxError("Cannot parse query: unexpected end of query")
        self.pos += 1
        return token

    def parse(self) -> Bool:
        query = self.query(None, top=True)
        if self.peek() is not None:
            raise QuerySyntaxError("Cannot parse query: unbalanced ')'")
        return query

    def query(self, name: str | None, top: bool = False) -> Bool:
        clauses: list[tuple[Occur, Node]] = []
        while (token := self.peek()) is not None and token.kind != "RPAREN":
            conj = ""
            if token.kind in ("AND", "OR"):
                conj = self.take().kind
                self.saw_or |= conj == "OR" and top
            modifier = ""
            if (token := self.peek()) is not None and token.kind in ("PLUS", "MINUS", "NOT"):
                modifier = "+" if self.take().kind == "PLUS" else "-"
            self._add_clause(clauses, conj, modifier, self.clause(name))
        return Bool(clauses)

    def _add_clause(
        self, clauses: list[tuple[Occur, Node]], conj: str, modifier: str, node: Node | None
    ) -> None:
        # Lucene's QueryParserBase.addClause, including its quirks: "a AND b OR c" is
        # "+a b c" under the AND operator.
        if clauses and conj == "AND" and clauses[-1][0] is not Occur.MUST_NOT:
            clauses[-1] = (Occur.MUST, clauses[-1][1])
        if clauses and self.default_and and conj == "OR" and clauses[-1][0] is not Occur.MUST_NOT:
            clauses[-1] = (Occur.SHOULD, clauses[-1][1])
        if node is None:  # the analyzer removed the term (e.g. a lone "-" in a text field)
            return
        prohibited = modifier == "-"
        if self.default_and:
            required = not prohibited and conj != "OR"
        else:
            required = modifier == "+" or (conj == "AND" and not prohibited)
        occur = Occur.MUST_NOT if prohibited else Occur.MUST if required else Occur.SHOULD
        clauses.append((occur, node))

    def clause(self, name: str | None) -> Node | None:
        token, following = self.peek(), self.peek(1)
        if token is not None and token.kind == "TERM" and following and following.kind == "COLON":
            name = token.text
            self.pos += 2
        token = self.take()
        if token.kind == "LPAREN":
            node: Node | None = self.query(name)
            if self.take().kind != "RPAREN":
                raise QuerySyntaxError("Cannot parse query: missing ')'")
        elif token.kind in ("TERM", "QUOTED", "RANGE"):
            node = self.term(name, token)
        else:
            raise QuerySyntaxError(f"Cannot parse query: unexpected {token.kind}")
        while (extra := self.peek()) is not None and extra.kind in ("BOOST", "FUZZY"):
            self.take()
            if extra.kind == "BOOST" and node is not None:
                node.boost = float(extra.text)
        return node

    def term(self, name: str | None, token: _Tok) -> Node | None:
        if name is None and self.qf is not None:
            # dismax: a bare term is searched in every qf field, best field wins.
            children = [n for f, b in self.qf if (n := self.field_term(f, token, b)) is not None]
            return DisMax(children, self.tie) if children else None
        return self.field_term(name or self.default_field, token, 1.0)

    def field_term(self, name: str, token: _Tok, boost: float) -> Node | None:
        if name == "*" and token.kind == "TERM" and token.text == "*":
            return MatchAll(boost)
        spec = field_spec(name)
        if token.kind == "RANGE":
            assert token.extra is not None
            low, high, include_low, include_high = token.extra
            return Range(
                name,
                self.bound(spec, low),
                self.bound(spec, high),
                include_low,
                include_high,
                boost,
            )
        if token.kind == "TERM" and token.pattern is not None:
            if token.text == "*":
                return Exists(name, boost)
            pattern = token.pattern
            if spec.kind in ("text", "text_general", "text_ngram"):
                pattern = _fold(pattern.lower())  # multi-term aware filters only; no stemming
            return Wildcard(name, re.compile(pattern, re.DOTALL), boost)
        return self.analysed(name, spec, token.text, boost)

    def analysed(self, name: str, spec: FieldSpec, text: str, boost: float) -> Node | None:
        if spec.kind in ("text", "text_general"):
            tokens, _ = analyze(text, spec.kind, index=False)
        elif spec.kind == "text_ngram":
            tokens = text.lower().split()
        else:
            try:
                if spec.kind == "date":
                    value = parse_date(text, self.now)
                else:
                    value = normalize_value(name, spec, text)
            except FieldValueError as exc:
                raise QuerySyntaxError(str(exc)) from exc
            return Term(name, value, boost)
        if not tokens:
            return None
        if len(tokens) == 1:
            return Term(name, tokens[0], boost)
        # A phrase, or one query word split into parts ("wi-fi"): Solr builds a graph query
        # for the latter, which for matching is the phrase of its parts.
        return Phrase(name, tokens, boost)

    def bound(self, spec: FieldSpec, text: str) -> Any:
        if text == "*":
            return None
        try:
            if spec.kind == "date":
                return parse_date(text, self.now)
            if spec.kind == "int":
                return int(text)
        except (FieldValueError, ValueError) as exc:
            raise QuerySyntaxError(f"Invalid range bound: {text}") from exc
        if spec.kind in ("text", "text_general"):
            return _normalize_token(text, spec.kind)
        return text


def parse_qf(qf: str) -> list[tuple[str, float]]:
    """Parse ``name^4 title^4 text`` into ``[(field, boost), ...]``."""
    fields: list[tuple[str, float]] = []
    for item in qf.split():
        name, _, boost = item.partition("^")
        fields.append((name, float(boost) if boost else 1.0))
    return fields


def parse_query(
    text: str,
    *,
    default_field: str = "text",
    default_operator: str = "OR",
    def_type: str = "lucene",
    qf: str | None = None,
    mm: str | None = None,
    tie: float = 0.0,
    now: dt.datetime | None = None,
) -> Node:
    """Parse a query string into a node tree.

    Args:
        text: the ``q`` or ``fq`` value.
        default_field: ``df``, the field of bare terms in the lucene parser.
        default_operator: ``q.op`` (``AND`` or ``OR``).
        def_type: ``lucene``, ``dismax`` or ``edismax``.
        qf: dismax query fields, e.g. ``name^4 title^4 tags^2 groups^2 text``.
        mm: dismax minimum-should-match spec.
        tie: dismax tie breaker.
        now: the instant ``NOW`` stands for (tests pin it).

    Raises:
        QuerySyntaxError: for syntax Solr would reject.
    """
    now = now or dt.datetime.now(dt.UTC)
    if text.strip().startswith("{!"):
        raise QuerySyntaxError("Local parameters ({!...}) are not supported by the stand-in")
    dismax = def_type in ("dismax", "edismax")

    def parse(source: str) -> tuple[_Parser, Bool]:
        parser = _Parser(
            source,
            default_field=default_field,
            # With an mm spec dismax treats plain terms as optional and counts them instead.
            default_and=default_operator.upper() == "AND" and not (dismax and mm),
            qf=parse_qf(qf or default_field) if dismax else None,
            tie=tie,
            now=now,
        )
        return parser, parser.parse()

    try:
        parser, root = parse(text)
    except QuerySyntaxError:
        if not dismax:
            raise
        # (e)dismax never fails on user input: it retries with the syntax escaped.
        parser, root = parse(re.sub(r'([\\+\-!():^\[\]"{}~*?|&/])', r"\\\1", text))
    if dismax and mm and not parser.saw_or:
        optional = sum(1 for occur, _ in root.clauses if occur is Occur.SHOULD)
        root.min_should = min_should_match(optional, mm)
    return root


def matching(
    docs: Sequence[IndexedDoc], query: Node, filters: Sequence[Node] = ()
) -> list[tuple[IndexedDoc, float]]:
    """Documents matching ``query`` and every filter, with their score under ``query``."""
    ctx = SearchContext(docs)
    hits: list[tuple[IndexedDoc, float]] = []
    for doc in docs:
        if all(f.score(doc, ctx) is not None for f in filters):
            score = query.score(doc, ctx)
            if score is not None:
                hits.append((doc, score))
    return hits
