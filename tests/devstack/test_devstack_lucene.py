"""The stand-in's query language and text analysis (devstack/lucene.py).

Queries are evaluated against small documents built in code; the query strings are the
ones CKAN 2.12 sends (ckan/lib/search/query.py, ckan/logic/action/get.py, ckan/views).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from devstack.lucene import (
    FieldValueError,
    IndexedDoc,
    QuerySyntaxError,
    analyze,
    field_spec,
    format_date,
    matching,
    min_should_match,
    normalize_value,
    parse_date,
    parse_query,
    stem,
)

NOW = dt.datetime(2024, 6, 15, 12, 30, 0, tzinfo=dt.UTC)
QUERY_FIELDS = "name^4 title^4 tags^2 groups^2 text"  # CKAN's default qf


def make_doc(seq: int, **fields: Any) -> IndexedDoc:
    source = {}
    for name, value in fields.items():
        values = value if isinstance(value, list) else [value]
        source[name] = [normalize_value(name, field_spec(name), v) for v in values]
    return IndexedDoc(source, seq)


DOCS = [
    make_doc(
        1,
        id="a",
        name="vornamen-2023",
        title="Vornamen der Neugeborenen in Düsseldorf",
        notes="Flooding of names, counted per Stadtbezirk",
        tags=["Vornamen", "Bevölkerung"],
        organization="stadt-duesseldorf",
        capacity="public",
        state="active",
        permission_labels=["public"],
        metadata_modified="2024-06-01T10:00:00.123456Z",
        url="http://example.com/a",
    ),
    make_doc(
        2,
        id="b",
        name="wi-fi-hotspots",
        title="WiFi Hotspots",
        notes="Free wi-fi in the city",
        tags=["Infrastruktur"],
        organization="stadt-duesseldorf",
        capacity="private",
        state="active",
        permission_labels=["member-org1"],
        metadata_modified="2023-01-01T00:00:00Z",
    ),
    make_doc(
        3,
        id="c",
        name="floods",
        title="Floods and water levels",
        tags=["Wasser", "Vornamen"],
        organization="umweltamt",
        capacity="public",
        state="deleted",
        permission_labels=["public"],
        metadata_modified="2024-06-15T08:00:00Z",
    ),
]


def ids(query: str, *, filters: tuple[str, ...] = (), **options: Any) -> set[str]:
    options.setdefault("now", NOW)
    node = parse_query(query, **options)
    filter_nodes = [parse_query(f, default_operator="AND", now=NOW) for f in filters]
    return {doc.source["id"][0] for doc, _ in matching(DOCS, node, filter_nodes)}


# --------------------------------------------------------------------------- analysis


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("floods", "flood"),
        ("flooding", "flood"),
        ("flooded", "flood"),
        ("datasets", "dataset"),
        ("caresses", "caress"),
        ("ponies", "poni"),
        ("agreed", "agree"),
        ("hopping", "hop"),
        ("filing", "file"),
        ("city", "citi"),
        ("2023", "2023"),
    ],
)
def test_stem_covers_porter_step_one(word: str, expected: str) -> None:
    assert stem(word) == expected


def test_text_analysis_splits_folds_and_catenates() -> None:
    tokens, extra = analyze("Düsseldorf's Wi-Fi, Straße 2023ab", "text", index=True)

    assert tokens == ["dusseldorf", "wi", "fi", "strasse", "2023", "ab"]
    assert extra == ["wifi", "2023ab"]


def test_text_general_keeps_case_runs_and_does_not_stem() -> None:
    tokens, _ = analyze("HotSpots floods", "text_general", index=False)

    assert tokens == ["hotspots", "floods"]


# --------------------------------------------------------------------------- boolean logic


def test_default_operator_and_requires_every_term() -> None:
    assert ids("title:vornamen title:floods", default_operator="AND") == set()
    assert ids("title:vornamen title:floods", default_operator="OR") == {"a", "c"}


def test_explicit_or_under_and_operator() -> None:
    assert ids("tags:Wasser OR tags:Infrastruktur", default_operator="AND") == {"b", "c"}


def test_lucene_and_or_precedence_quirk() -> None:
    # Lucene reads "a AND b OR c" under the AND operator as "+a b c" (not "(a AND b) OR c").
    query = "organization:umweltamt AND tags:Vornamen OR tags:Infrastruktur"
    assert ids(query, default_operator="AND") == {"c"}


def test_prohibited_clauses_and_pure_negative_queries() -> None:
    assert ids("tags:Vornamen -tags:Wasser") == {"a"}
    assert ids("tags:Vornamen AND NOT tags:Wasser", default_operator="AND") == {"a"}
    assert ids("!state:deleted") == {"a", "b"}
    assert ids("-state:deleted") == {"a", "b"}


def test_field_groups_as_ckan_permission_filter() -> None:
    labels = '+permission_labels:("public" OR "member-org1")'
    assert ids("*:*", filters=(labels,)) == {"a", "b", "c"}
    assert ids("*:*", filters=('+permission_labels:("public")',)) == {"a", "c"}
    assert ids("*:*", filters=("+state:(active OR draft)",)) == {"a", "b"}


def test_ckan_delete_query() -> None:
    query = '+entity_type:package AND +(id:"c" OR name:"c") AND +site_id:"default"'
    docs = [make_doc(1, id="c", name="floods", entity_type="package", site_id="default")]
    node = parse_query(query)

    assert len(matching(docs, node)) == 1


def test_ckan_package_search_filters() -> None:
    filters = ("+capacity:public  +state:(active)", '+site_id:"x"')
    assert ids("*:*", filters=filters[:1]) == {"a"}
    assert ids('organization:"stadt-duesseldorf"', default_operator="AND") == {"a", "b"}


def test_string_fields_match_exactly_and_case_sensitively() -> None:
    assert ids("tags:Vornamen") == {"a", "c"}
    assert ids("tags:vornamen") == set()
    assert ids('tags:"Bevölkerung"') == {"a"}
    assert ids(r"url:http\://example.com/a") == {"a"}


def test_unquoted_value_with_inner_dashes_is_one_term() -> None:
    assert ids("name:wi-fi-hotspots") == {"b"}


# --------------------------------------------------------------------------- terms and phrases


def test_text_terms_are_stemmed_and_folded() -> None:
    assert ids("notes:flood") == {"a"}
    assert ids("title:DUSSELDORF") == {"a"}
    assert ids("text:Düsseldorf") == {"a"}  # copyField title -> text


def test_phrases_need_consecutive_tokens() -> None:
    assert ids('title:"water levels"') == {"c"}
    assert ids('title:"levels water"') == set()


def test_split_query_word_matches_catenated_and_split_forms() -> None:
    assert ids("text:wi-fi") == {"b"}
    assert ids("text:wifi") == {"b"}


def test_wildcards_and_existence() -> None:
    assert ids("name:vorn*") == {"a"}
    assert ids("name:Vorn*") == set()  # string fields keep case
    assert ids("title:HOT*") == {"b"}  # text fields lower-case wildcard terms
    assert ids("name:fl??ds") == {"c"}
    assert ids("url:*") == {"a"}
    assert ids("*:*") == {"a", "b", "c"}


def test_ngram_fields_for_autocomplete() -> None:
    assert ids('name_ngram:"hotsp" OR title_ngram:"hotsp"') == {"b"}
    assert ids('title_ngram:"neugeborenen"') == set()  # longer than the 10-character grams


# --------------------------------------------------------------------------- ranges and dates


def test_date_ranges_with_date_math() -> None:
    assert ids("metadata_modified:[* TO NOW]") == {"a", "b", "c"}
    assert ids("metadata_modified:[NOW/DAY TO *]") == {"c"}
    assert ids("metadata_modified:[NOW-1YEAR TO NOW-1DAY]") == {"a"}
    assert ids("metadata_modified:[2024-06-01T10:00:00.123Z TO *}") == {"a", "c"}
    assert ids("metadata_modified:{2024-06-01T10:00:00.123456Z TO *]") == {"c"}


def test_parse_date_math() -> None:
    assert parse_date("NOW/DAY-7DAYS", NOW) == dt.datetime(2024, 6, 8, tzinfo=dt.UTC)
    assert parse_date("2024-01-31T00:00:00Z+1MONTH", NOW) == dt.datetime(2024, 2, 29, tzinfo=dt.UTC)
    assert parse_date("NOW+2HOURS/HOUR", NOW) == dt.datetime(2024, 6, 15, 14, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "text", ["2024-01-01", "2024-01-01T00:00:00+00:00", "NOW-1FORTNIGHT", "soon"]
)
def test_invalid_dates_are_rejected_like_solr(text: str) -> None:
    with pytest.raises(FieldValueError, match="Invalid Date String"):
        parse_date(text, NOW)


def test_dates_are_returned_with_millisecond_precision() -> None:
    assert format_date(parse_date("2024-06-01T10:00:00.123456Z")) == "2024-06-01T10:00:00.123Z"
    assert format_date(parse_date("2024-06-01T10:00:00Z")) == "2024-06-01T10:00:00Z"


# --------------------------------------------------------------------------- dismax


@pytest.mark.parametrize(
    ("optional", "expected"), [(1, 1), (2, 2), (3, 2), (5, 4), (6, 4), (10, 8)]
)
def test_min_should_match_of_ckans_default_spec(optional: int, expected: int) -> None:
    assert min_should_match(optional, "2<-1 5<80%") == expected


@pytest.mark.parametrize(
    ("spec", "expected"), [("75%", 3), ("-1", 4), ("2", 2), ("-25%", 4), ("100%", 5)]
)
def test_min_should_match_simple_specs(spec: str, expected: int) -> None:
    assert min_should_match(5, spec) == expected


def dismax(query: str) -> set[str]:
    return ids(query, def_type="dismax", qf=QUERY_FIELDS, mm="2<-1 5<80%", tie=0.1)


def test_dismax_searches_all_query_fields() -> None:
    assert dismax("vornamen") == {"a", "c"}  # name/title/text of a; tag text of c
    assert dismax("hotspots") == {"b"}


def test_dismax_minimum_should_match() -> None:
    assert dismax("floods water") == {"c"}  # two terms: both needed
    assert dismax("floods water nonsense") == {"c"}  # three terms: two of three
    assert dismax("floods nonsense") == set()


def test_dismax_explicit_or_relaxes_minimum_match() -> None:
    assert dismax("hotspots OR water") == {"b", "c"}


def test_dismax_tolerates_stray_syntax_characters() -> None:
    # Real (e)dismax escapes what it cannot parse instead of failing the search box.
    assert dismax("water (levels") == {"c"}
    assert dismax('"water levels') == {"c"}


def test_dismax_query_analysed_to_nothing_matches_nothing() -> None:
    assert dismax("!!! ...") == set()


def test_dismax_scores_title_matches_above_body_matches() -> None:
    node = parse_query("flood", def_type="dismax", qf=QUERY_FIELDS, mm="2<-1 5<80%", tie=0.1)
    scores = {doc.source["id"][0]: score for doc, score in matching(DOCS, node)}

    assert scores["c"] > scores["a"]  # title "Floods ..." beats notes "Flooding ..."


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "query", ["title:(abc", '"unterminated', "a AND", "title:[a TO", "title:[a b c]", "a)", "x^"]
)
def test_syntax_errors(query: str) -> None:
    with pytest.raises(QuerySyntaxError):
        parse_query(query)


def test_local_parameters_are_refused() -> None:
    with pytest.raises(QuerySyntaxError, match="Local parameters"):
        parse_query("{!child of=x}title:y")
