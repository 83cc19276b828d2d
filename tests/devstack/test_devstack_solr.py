"""The Solr stand-in (devstack/solr.py): update formats, searches, facets and HTTP.

Request bodies and parameters mirror what pysolr 3.11 sends for CKAN 2.12.
"""

from __future__ import annotations

import json
import xml.dom.minidom
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.solr import SolrCore, SolrError, SolrStandIn

TIMEOUT = 10


def package_doc(key: str, **fields: Any) -> dict[str, Any]:
    """A document shaped like CKAN's PackageSearchIndex.index_package output."""
    doc: dict[str, Any] = {
        "index_id": f"index-{key}",
        "id": key,
        "site_id": "default",
        "name": key,
        "title": key.title(),
        "entity_type": "package",
        "dataset_type": "dataset",
        "state": "active",
        "capacity": "public",
        "permission_labels": ["public"],
        "metadata_created": "2024-01-01T00:00:00.000001Z",
        "metadata_modified": "2024-01-01T00:00:00Z",
        "data_dict": json.dumps({"id": key}),
        "validated_data_dict": json.dumps({"id": key, "name": key}),
        "private": False,
        "num_resources": 0,
    }
    doc.update(fields)
    return doc


def params(**values: Any) -> dict[str, list[str]]:
    """Request parameters; ``q_op`` stands for ``q.op`` and ``facet_x`` for ``facet.x``."""
    out: dict[str, list[str]] = {}
    for key, value in values.items():
        name = key.replace("q_op", "q.op").replace("facet_", "facet.")
        out[name] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return out


@pytest.fixture
def core() -> SolrCore:
    core = SolrCore()
    core.add(
        [
            package_doc(
                "vornamen",
                tags=["Vornamen", "Bevölkerung"],
                organization="stadt",
                metadata_modified="2024-03-01T00:00:00Z",
                title_string="Vornamen",
            ),
            package_doc(
                "wahlen",
                tags=["Wahlen", "Bevölkerung"],
                organization="stadt",
                metadata_modified="2024-05-01T00:00:00Z",
                title_string="Wahlen",
            ),
            package_doc(
                "baeume",
                tags=["Umwelt"],
                organization="umweltamt",
                metadata_modified="2024-04-01T00:00:00Z",
                title_string="Bäume",
            ),
        ]
    )
    return core


def names(result: dict[str, Any]) -> list[str]:
    return [doc["name"] for doc in result["response"]["docs"]]


# --------------------------------------------------------------------------- updates


def test_pysolr_json_add_with_commit_persists_and_reloads(tmp_path: Path) -> None:
    data = tmp_path / "index.json"
    core = SolrCore("ckan", data)
    body = json.dumps([package_doc("a"), package_doc("b")]).encode()

    core.update(body, "application/json; charset=utf-8", params(commit="true"))

    assert data.exists()
    reloaded = SolrCore("ckan", data)
    assert len(reloaded) == 2
    assert names(reloaded.select(params(q="name:a", fl="name"))) == ["a"]


def test_changes_without_commit_are_searchable_but_not_yet_written(tmp_path: Path) -> None:
    data = tmp_path / "index.json"
    core = SolrCore("ckan", data)

    def saved() -> int:
        return len(json.loads(data.read_text())["docs"])

    assert saved() == 0  # a new core writes its empty index at once
    core.update(json.dumps([package_doc("a")]).encode(), "application/json", {})

    assert core.select(params(q="*:*"))["response"]["numFound"] == 1
    assert saved() == 0
    core.update(b"<commit />", "text/xml", {})
    assert saved() == 1


def test_json_command_object_with_repeated_keys(core: SolrCore) -> None:
    body = (
        b'{"add": {"doc": ' + json.dumps(package_doc("neu")).encode() + b"},"
        b' "delete": {"id": "index-wahlen"}, "delete": {"query": "name:baeume"}, "commit": {}}'
    )

    core.update(body, "application/json", {})

    assert sorted(names(core.select(params(q="*:*", rows=10)))) == ["neu", "vornamen"]


def test_xml_add_with_multivalued_field_and_delete_by_id_and_query(core: SolrCore) -> None:
    add = (
        "<add><doc>"
        '<field name="index_id">index-x</field><field name="id">x</field>'
        '<field name="site_id">default</field><field name="name">x</field>'
        '<field name="tags">eins</field><field name="tags">zwei</field>'
        '<field name="notes" null="true"></field>'
        "</doc></add>"
    )
    core.update(add.encode(), "text/xml; charset=utf-8", params(commit="true"))

    doc = core.select(params(q="name:x", fl="tags,notes"))["response"]["docs"][0]
    assert doc == {"tags": ["eins", "zwei"]}

    core.update(b"<delete><id>index-x</id></delete>", "text/xml", {})
    core.update(b'<delete><query>+site_id:"default" +name:wahlen</query></delete>', "text/xml", {})
    assert sorted(names(core.select(params(q="*:*")))) == ["baeume", "vornamen"]


def test_readding_a_document_replaces_it(core: SolrCore) -> None:
    core.add([package_doc("vornamen", title="Vornamen 2024")])

    result = core.select(params(q="name:vornamen", fl="title"))
    assert result["response"]["numFound"] == 1
    assert result["response"]["docs"] == [{"title": "Vornamen 2024"}]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"id": "x", "site_id": "s"}, "missing mandatory uniqueKey field: index_id"),
        ({"index_id": "i", "site_id": "s"}, "missing required field: id"),
        (package_doc("x", name=["a", "b"]), "multiple values encountered for non multiValued"),
        (package_doc("x", metadata_modified="2024-01-01T00:00:00+00:00"), "Invalid Date String"),
        (package_doc("x", issued_date="yesterday"), "Invalid Date String"),
        (package_doc("x", title={"set": "new"}), "atomic updates are not supported"),
    ],
)
def test_documents_solr_would_reject(doc: dict[str, Any], message: str) -> None:
    core = SolrCore()
    with pytest.raises(SolrError, match=message) as error:
        core.update(json.dumps([doc]).encode(), "application/json", {})
    assert error.value.code == 400
    assert len(core) == 0


# --------------------------------------------------------------------------- searches


def test_ckan_package_search_request(core: SolrCore) -> None:
    # What CKAN 2.12's PackageSearchQuery.run sends for /dataset/?tags=Bevölkerung.
    request = params(
        q="*:*",
        fq=[
            '+capacity:public  +state:(active) tags:"Bevölkerung"',
            '+site_id:"default"',
            '+permission_labels:("public" OR "creator-1")',
        ],
        rows=21,
        start=0,
        sort="score desc, metadata_modified desc",
        fl="id validated_data_dict",
        wt="json",
        df="text",
        q_op="AND",
        facet="true",
        facet_limit=50,
        facet_mincount=1,
        facet_field=["organization", "tags"],
    )

    result = core.select(request)

    assert result["response"]["numFound"] == 2
    docs = result["response"]["docs"]
    assert [json.loads(d["validated_data_dict"])["name"] for d in docs] == ["wahlen", "vornamen"]
    assert set(docs[0]) == {"id", "validated_data_dict"}
    facets = result["facet_counts"]["facet_fields"]
    assert facets["tags"] == ["Bevölkerung", 2, "Vornamen", 1, "Wahlen", 1]
    assert facets["organization"] == ["stadt", 2]


def test_ckan_dismax_request(core: SolrCore) -> None:
    request = params(
        q="vornamen",
        defType="dismax",
        tie="0.1",
        mm="2<-1 5<80%",
        q_op="AND",
        df="text",
        qf="name^4 title^4 tags^2 groups^2 text",
        fl="name score",
        rows=11,
    )

    result = core.select(request)

    assert names(result) == ["vornamen"]
    assert result["response"]["docs"][0]["score"] == result["response"]["maxScore"] > 0


def test_paging_counts_all_matches(core: SolrCore) -> None:
    result = core.select(params(q="*:*", sort="name asc", rows=1, start=1, fl="name"))

    assert result["response"]["numFound"] == 3
    assert result["response"]["start"] == 1
    assert names(result) == ["vornamen"]


def test_sorting(core: SolrCore) -> None:
    assert names(core.select(params(q="*:*", sort="title_string asc"))) == [
        "baeume",
        "vornamen",
        "wahlen",
    ]
    assert names(core.select(params(q="*:*", sort="metadata_modified desc"))) == [
        "wahlen",
        "baeume",
        "vornamen",
    ]
    # Equal keys keep index order; documents without the field come last.
    core.add([package_doc("ohne")])
    assert names(core.select(params(q="*:*", sort="organization desc", rows=10))) == [
        "baeume",
        "vornamen",
        "wahlen",
        "ohne",
    ]


@pytest.mark.parametrize(
    ("sort", "message"),
    [("title_string sideways", "Can't determine a Sort Order"), ("tags asc", "multivalued")],
)
def test_bad_sort_is_a_client_error(core: SolrCore, sort: str, message: str) -> None:
    with pytest.raises(SolrError, match=message):
        core.select(params(q="*:*", sort=sort))


def test_field_list_returns_stored_fields_only(core: SolrCore) -> None:
    doc = core.select(params(q="name:vornamen", fl="*"))["response"]["docs"][0]

    assert doc["tags"] == ["Vornamen", "Bevölkerung"]
    assert doc["metadata_created"] == "2024-01-01T00:00:00Z"  # millisecond precision
    assert "permission_labels" not in doc  # stored="false" in CKAN's schema
    assert "private" not in doc  # dynamic '*' fields are not stored
    assert "_version_" in doc and "indexed_ts" in doc


def test_facet_options(core: SolrCore) -> None:
    def tags(**options: Any) -> list[Any]:
        request = params(q="organization:stadt", facet="true", facet_field="tags", **options)
        return core.select(request)["facet_counts"]["facet_fields"]["tags"]

    # mincount 0 lists every indexed term, as Solr does
    assert tags() == ["Bevölkerung", 2, "Vornamen", 1, "Wahlen", 1, "Umwelt", 0]
    assert tags(facet_mincount=1, facet_limit=2) == ["Bevölkerung", 2, "Vornamen", 1]
    assert tags(facet_mincount=1, facet_sort="index") == [
        "Bevölkerung",
        2,
        "Vornamen",
        1,
        "Wahlen",
        1,
    ]
    assert tags(facet_mincount=1, **{"f.tags.facet.limit": "1"}) == ["Bevölkerung", 2]
    assert tags(facet_mincount=1, facet_limit=-1, facet_offset=2) == ["Wahlen", 1]


def test_query_syntax_error_is_a_client_error(core: SolrCore) -> None:
    with pytest.raises(SolrError, match="SyntaxError") as error:
        core.select(params(q="title:(unbalanced"))
    assert error.value.code == 400


def test_get_all_entity_ids_request(core: SolrCore) -> None:
    result = core.select(params(q="*:*", fq='+site_id:"default" +state:active', rows=1000, fl="id"))

    assert sorted(d["id"] for d in result["response"]["docs"]) == ["baeume", "vornamen", "wahlen"]


# --------------------------------------------------------------------------- HTTP


@pytest.fixture
def stand_in(tmp_path: Path):
    with SolrStandIn(port=0, data_file=tmp_path / "index.json") as server:
        yield server


def check_schema_like_ckan(text: str) -> str:
    """CKAN's check_solr_schema_version: the root's ``name`` is ``ckan-<version>``."""
    name = xml.dom.minidom.parseString(text).documentElement.getAttribute("name")
    assert name.startswith("ckan-")
    return name.split("-")[1]


def test_schema_endpoints_satisfy_ckans_version_check(stand_in: SolrStandIn) -> None:
    managed = requests.get(f"{stand_in.url}/schema?wt=schema.xml", timeout=TIMEOUT)
    classic = requests.get(f"{stand_in.url}/admin/file/?file=schema.xml", timeout=TIMEOUT)

    assert managed.status_code == classic.status_code == 200
    assert check_schema_like_ckan(managed.text) == check_schema_like_ckan(classic.text) == "2.12"


def test_ping(stand_in: SolrStandIn) -> None:
    response = requests.get(f"{stand_in.url}/admin/ping/?wt=json", timeout=TIMEOUT)

    assert response.json()["status"] == "OK"


def test_update_and_select_over_http(stand_in: SolrStandIn) -> None:
    added = requests.post(
        f"{stand_in.url}/update/?commit=true",
        data=json.dumps([package_doc("http-doc", notes="Hochwasser am Rhein")]).encode(),
        headers={"Content-type": "application/json; charset=utf-8"},
        timeout=TIMEOUT,
    )
    found = requests.get(
        f"{stand_in.url}/select/",
        params={"q": "notes:rhein", "fl": "name", "wt": "json"},
        timeout=TIMEOUT,
    )
    # pysolr posts queries longer than 1024 characters as a form.
    long_query = " OR ".join(["name:http-doc"] + [f"name:other{i}" for i in range(150)])
    posted = requests.post(
        f"{stand_in.url}/select/",
        data={"q": long_query, "fl": "name", "wt": "json"},
        timeout=TIMEOUT,
    )

    assert added.json()["responseHeader"]["status"] == 0
    assert found.json()["response"]["docs"] == [{"name": "http-doc"}]
    assert posted.json()["response"]["docs"] == [{"name": "http-doc"}]


def test_errors_use_solrs_json_shape(stand_in: SolrStandIn) -> None:
    bad = requests.get(f"{stand_in.url}/select/", params={"q": "a:(b"}, timeout=TIMEOUT)
    other_core = requests.get(stand_in.url.replace("/ckan", "/other") + "/select", timeout=TIMEOUT)

    assert bad.status_code == 400
    assert "SyntaxError" in bad.json()["error"]["msg"]
    assert other_core.status_code == 404


def test_restarted_stand_in_keeps_its_index(tmp_path: Path) -> None:
    data = tmp_path / "index.json"
    with SolrStandIn(port=0, data_file=data) as first:
        requests.post(
            f"{first.url}/update/?commit=true",
            data=json.dumps([package_doc("bleibt")]).encode(),
            headers={"Content-type": "application/json"},
            timeout=TIMEOUT,
        ).raise_for_status()

    with SolrStandIn(port=0, data_file=data) as second:
        result = requests.get(f"{second.url}/select/", params={"q": "*:*"}, timeout=TIMEOUT).json()

    assert [d["name"] for d in result["response"]["docs"]] == ["bleibt"]


def test_binds_to_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        SolrStandIn(host="0.0.0.0", port=0)
