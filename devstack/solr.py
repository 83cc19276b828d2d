"""A minimal Solr stand-in that serves CKAN 2.12's search, for development and tests.

Why it exists: CKAN 2.12 indexes every dataset synchronously on create/update and answers
HTTP 500 "Search Index Error" when Solr is missing; there is no switch to turn indexing off.
No Solr (nor Java, nor Docker) is installable on the development and CI machines of this
project, so the local stack runs this standard-library server in its place. The deployment
(``docker-compose.yml``) uses the real Solr with CKAN's schema; nothing in the pipeline may
depend on the stand-in's particular behaviour.

What it serves, under ``/solr/<core>`` (default core ``ckan``):

* ``GET schema?wt=schema.xml`` and ``GET admin/file/?file=schema.xml``: a schema named
  ``ckan-2.12`` (CKAN refuses to start on unknown schema versions);
* ``POST update``: pysolr's JSON document lists, Solr's JSON command objects, XML ``<add>``,
  ``<delete><id>``/``<query>``, ``<commit/>``; ``commit=true`` and friends as parameters;
* ``GET|POST select``: ``q``, ``fq``, ``rows``, ``start``, ``sort``, ``fl``, ``q.op``, ``df``,
  ``defType`` (lucene, dismax, edismax) with ``qf``/``mm``/``tie``, and field facets;
* ``GET admin/ping``.

Where it deviates from Solr (besides the query details listed in :mod:`devstack.lucene`):
changes are visible to searches at once (as with a zero-delay soft commit; CKAN commits on
every change anyway); a commit only writes the index to the ``--data`` file. Atomic
updates, child documents, local parameters (``{!...}``), highlighting, grouping and JSON
facets are not implemented and answer HTTP 400.

Run it with ``python -m devstack.solr --port 8983 [--core ckan] [--data FILE]`` or embed it::

    with SolrStandIn(port=0) as solr:
        print(solr.url)  # http://127.0.0.1:<port>/solr/ckan
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fnmatch
import functools
import ipaddress
import json
import logging
import os
import signal
import socket
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from devstack.lucene import (
    SCHEMA_NAME,
    SCHEMA_VERSION,
    UNIQUE_KEY,
    FieldValueError,
    IndexedDoc,
    QuerySyntaxError,
    field_spec,
    matching,
    normalize_value,
    output_value,
    parse_query,
    schema_xml,
)

log = logging.getLogger("devstack.solr")  # not __main__ when run with -m

Params = Mapping[str, Sequence[str]]


class SolrError(Exception):
    """An error answered to the client as Solr's JSON error object."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


def _param(params: Params, name: str, default: str | None = None) -> str | None:
    # Solr takes the first value of a repeated single-valued parameter.
    values = params.get(name)
    return values[0] if values else default


def _int_param(params: Params, name: str, default: int) -> int:
    value = _param(params, name)
    try:
        return default if value is None or value == "" else int(value)
    except ValueError as exc:
        raise SolrError(400, f"Invalid Number: {value} for parameter {name}") from exc


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("true", "on", "yes", "1")


class _Pairs(list[tuple[str, Any]]):
    """A JSON object kept as key/value pairs: Solr's JSON update format repeats keys."""


def _plain(value: Any) -> Any:
    if isinstance(value, _Pairs):
        return {k: _plain(v) for k, v in value}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class SolrCore:
    """One in-memory core: documents, update commands and searches; thread-safe.

    Args:
        name: the core name in URLs (``/solr/<name>/...``).
        data_file: JSON file the index is loaded from and written to on every commit.
    """

    def __init__(self, name: str = "ckan", data_file: Path | None = None) -> None:
        self.name = name
        self.data_file = data_file
        self._docs: dict[str, IndexedDoc] = {}
        self._seq = 0
        self._dirty = False
        self._lock = threading.RLock()
        if data_file is not None and data_file.exists():
            saved = json.loads(data_file.read_text(encoding="utf-8"))
            self.add(saved["docs"])
            self._dirty = False
            log.info("loaded %d documents from %s", len(self._docs), data_file)
        elif data_file is not None:
            # Write the empty index at once: a missing file then always means a lost index.
            self._dirty = True
            self.commit()

    def __len__(self) -> int:
        with self._lock:
            return len(self._docs)

    # ------------------------------------------------------------------ updates

    def add(self, docs: Iterable[Mapping[str, Any]]) -> None:
        """Add or replace documents (by ``index_id``).

        Raises:
            SolrError: 400 for documents Solr would reject (no key, bad date, list in a
                single-valued field, atomic update syntax).
        """
        prepared = [self._prepare(doc) for doc in docs]
        with self._lock:
            for values in prepared:
                key = values[UNIQUE_KEY][0]
                self._docs.pop(key, None)  # re-added documents move to the end, like docids
                self._seq += 1
                values["_version_"] = [str(time.time_ns())]
                self._docs[key] = IndexedDoc(values, self._seq)
            self._dirty = self._dirty or bool(prepared)

    @staticmethod
    def _prepare(doc: Mapping[str, Any]) -> dict[str, list[Any]]:
        key = doc.get(UNIQUE_KEY)
        values: dict[str, list[Any]] = {}
        for name, raw in doc.items():
            items = list(raw) if isinstance(raw, (list, tuple)) else [raw]
            items = [v for v in items if v is not None]
            if not items or name == "_version_":
                continue
            if any(isinstance(v, dict) for v in items):
                raise SolrError(
                    400, f"[doc={key}] atomic updates are not supported by the stand-in"
                )
            spec = field_spec(name)
            if len(items) > 1 and not spec.multi:
                raise SolrError(
                    400,
                    f"ERROR: [doc={key}] multiple values encountered for non multiValued "
                    f"field {name}: {items}",
                )
            try:
                values[name] = [normalize_value(name, spec, v) for v in items]
            except FieldValueError as exc:
                raise SolrError(
                    400, f"ERROR: [doc={key}] Error adding field '{name}': {exc}"
                ) from exc
        if UNIQUE_KEY not in values:
            raise SolrError(400, f"Document is missing mandatory uniqueKey field: {UNIQUE_KEY}")
        for required in ("id", "site_id"):
            if required not in values:
                raise SolrError(400, f"[doc={key}] missing required field: {required}")
        values.setdefault("indexed_ts", [dt.datetime.now(dt.UTC)])
        return values

    def delete_ids(self, ids: Iterable[str]) -> None:
        """Delete documents by unique key; unknown keys are ignored, as in Solr."""
        with self._lock:
            for key in ids:
                self._dirty |= self._docs.pop(key, None) is not None

    def delete_query(self, query: str) -> None:
        """Delete the documents matching a Lucene query (e.g. ``+site_id:"default"``)."""
        node = parse_query(query)
        with self._lock:
            for doc, _ in matching(list(self._docs.values()), node):
                del self._docs[doc.source[UNIQUE_KEY][0]]
                self._dirty = True

    def commit(self) -> None:
        """Write the index to the data file, if there is one and anything changed."""
        with self._lock:
            if self.data_file is None or not self._dirty:
                return
            payload = {
                "core": self.name,
                "docs": [
                    {k: [output_value(v) for v in vs] for k, vs in d.source.items()}
                    for d in self._docs.values()
                ],
            }
            self.data_file.parent.mkdir(parents=True, exist_ok=True)
            # Write-then-rename so a crash never leaves a half-written index behind.
            fd, tmp = tempfile.mkstemp(dir=self.data_file.parent, prefix=".solr-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(payload, handle)
            Path(tmp).replace(self.data_file)
            self._dirty = False

    def update(self, body: bytes, content_type: str, params: Params) -> dict[str, Any]:
        """Apply an ``/update`` request (JSON or XML body) and its commit parameters."""
        started = time.monotonic()
        text = body.decode("utf-8").strip()
        if text:
            if "json" in content_type or text[0] in "[{":
                self._update_json(text)
            else:
                self._update_xml(text)
        if any(_truthy(_param(params, p)) for p in ("commit", "softCommit", "optimize")) or (
            _param(params, "commitWithin") is not None
        ):
            self.commit()
        return {"responseHeader": {"status": 0, "QTime": _millis(started)}}

    def _update_json(self, text: str) -> None:
        try:
            message = json.loads(text, object_pairs_hook=_Pairs)
        except json.JSONDecodeError as exc:
            raise SolrError(400, f"Cannot parse provided JSON: {exc}") from exc
        if not isinstance(message, _Pairs):
            self.add(_plain(message) if isinstance(message, list) else [])
            return
        commands = {"add", "delete", "commit", "optimize", "rollback"}
        if not any(key in commands for key, _ in message):
            self.add([_plain(message)])  # a single bare document
            return
        for command, argument in message:
            value = _plain(argument)
            if command == "add":
                self.add([value["doc"]])
            elif command == "delete":
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, dict) and "query" in item:
                        self.delete_query(item["query"])
                    else:
                        self.delete_ids([item["id"] if isinstance(item, dict) else str(item)])
            elif command in ("commit", "optimize"):
                self.commit()
            else:
                raise SolrError(400, f"Unknown command '{command}'")

    def _update_xml(self, text: str) -> None:
        # The standard-library parser is acceptable here: the stand-in listens on loopback
        # only, its client is CKAN, and Python 3.11's expat refuses entity-expansion bombs.
        try:
            root = ET.fromstring(text)  # noqa: S314 (see above; the stand-in is stdlib-only)
        except ET.ParseError as exc:
            raise SolrError(400, f"Unexpected XML: {exc}") from exc
        commands = (
            [root]
            if root.tag in ("add", "delete", "commit", "optimize", "rollback")
            else list(root)
        )
        for command in commands:
            if command.tag == "add":
                self.add(self._xml_doc(doc) for doc in command.iter("doc"))
            elif command.tag == "delete":
                for item in command:
                    if item.tag == "id":
                        self.delete_ids([item.text or ""])
                    elif item.tag == "query":
                        self.delete_query(item.text or "")
            elif command.tag in ("commit", "optimize"):
                self.commit()
            else:
                raise SolrError(400, f"Unexpected tag <{command.tag}>")

    @staticmethod
    def _xml_doc(element: ET.Element) -> dict[str, Any]:
        doc: dict[str, list[str]] = {}
        for item in element.findall("field"):
            if item.get("update"):
                raise SolrError(400, "atomic updates are not supported by the stand-in")
            if item.get("null") == "true":
                continue
            doc.setdefault(item.get("name", ""), []).append(item.text or "")
        if element.find("doc") is not None:
            raise SolrError(400, "child documents are not supported by the stand-in")
        return {k: v if len(v) > 1 else v[0] for k, v in doc.items()}

    # ------------------------------------------------------------------ search

    def select(self, params: Params) -> dict[str, Any]:
        """Answer a ``/select`` request with Solr's JSON response structure."""
        started = time.monotonic()
        df = _param(params, "df") or "text"
        q_op = _param(params, "q.op") or "OR"
        try:
            query = parse_query(
                _param(params, "q") or "*:*",
                default_field=df,
                default_operator=q_op,
                def_type=_param(params, "defType") or "lucene",
                qf=_param(params, "qf"),
                mm=_param(params, "mm"),
                tie=float(_param(params, "tie") or 0),
            )
            filters = [
                parse_query(fq, default_field=df, default_operator=q_op)
                for fq in params.get("fq", [])
                if fq.strip()
            ]
        except QuerySyntaxError as exc:
            raise SolrError(400, f"org.apache.solr.search.SyntaxError: {exc}") from exc

        with self._lock:
            hits = matching(list(self._docs.values()), query, filters)
        hits = self._sorted(hits, _param(params, "sort") or "score desc")
        start = max(0, _int_param(params, "start", 0))
        rows = max(0, _int_param(params, "rows", 10))
        patterns = [p for p in (_param(params, "fl") or "*").replace(",", " ").split() if p]
        with_score = "score" in patterns
        patterns = [p for p in patterns if p != "score"] or (["*"] if not with_score else [])

        docs = []
        for doc, score in hits[start : start + rows]:
            fields = {
                k: v
                for k, v in self._stored(doc).items()
                if any(fnmatch.fnmatchcase(k, p) for p in patterns)
            }
            if with_score:
                fields["score"] = round(score, 6)
            docs.append(fields)
        response: dict[str, Any] = {"numFound": len(hits), "start": start, "numFoundExact": True}
        if with_score:
            response["maxScore"] = round(max((s for _, s in hits), default=0.0), 6)
        response["docs"] = docs
        result: dict[str, Any] = {
            "responseHeader": {
                "status": 0,
                "QTime": _millis(started),
                "params": {k: v[0] if len(v) == 1 else list(v) for k, v in params.items()},
            },
            "response": response,
        }
        if _truthy(_param(params, "facet")):
            result["facet_counts"] = {
                "facet_queries": {},
                "facet_fields": self._facets(params, [doc for doc, _ in hits]),
                "facet_ranges": {},
                "facet_intervals": {},
                "facet_heatmaps": {},
            }
        return result

    @staticmethod
    def _stored(doc: IndexedDoc) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, values in doc.source.items():
            spec = field_spec(name)
            if spec.stored:
                converted = [output_value(v) for v in values]
                out[name] = converted if spec.multi else converted[0]
        return out

    @staticmethod
    def _sorted(hits: list[tuple[IndexedDoc, float]], spec: str) -> list[tuple[IndexedDoc, float]]:
        order: list[tuple[str, bool]] = []
        for part in spec.split(","):
            bits = part.split()
            if not bits:
                continue
            if len(bits) != 2 or bits[1].lower() not in ("asc", "desc"):
                raise SolrError(
                    400, f"Can't determine a Sort Order (asc or desc) in sort spec '{part.strip()}'"
                )
            if bits[0] != "score" and field_spec(bits[0]).multi:
                raise SolrError(400, f"can not sort on multivalued field: {bits[0]}")
            order.append((bits[0], bits[1].lower() == "desc"))

        def key(hit: tuple[IndexedDoc, float], name: str) -> Any:
            if name == "score":
                return hit[1]
            values = hit[0].source.get(name)
            return values[0] if values else None

        def compare(a: tuple[IndexedDoc, float], b: tuple[IndexedDoc, float]) -> int:
            for name, descending in order:
                va, vb = key(a, name), key(b, name)
                if va == vb:
                    continue
                if va is None or vb is None:  # missing values sort last either way
                    return 1 if va is None else -1
                result = -1 if va < vb else 1
                return -result if descending else result
            return a[0].seq - b[0].seq  # ties keep index order, as Solr's docids do

        return sorted(hits, key=functools.cmp_to_key(compare))

    def _facets(self, params: Params, docs: list[IndexedDoc]) -> dict[str, list[Any]]:
        facets: dict[str, list[Any]] = {}
        for raw_name in params.get("facet.field", []):
            name = raw_name.split("}", 1)[1] if raw_name.startswith("{!") else raw_name

            def per_field(option: str, default: str | None, name: str = name) -> str | None:
                return _param(
                    params, f"f.{name}.facet.{option}", _param(params, f"facet.{option}", default)
                )

            limit = int(per_field("limit", "100") or 100)
            mincount = int(per_field("mincount", "0") or 0)
            offset = int(per_field("offset", "0") or 0)
            prefix = per_field("prefix", "") or ""
            order = per_field("sort", "count" if limit > 0 else "index")
            counts: Counter[str] = Counter()
            if mincount == 0:  # Solr lists every indexed term, including those with count 0
                with self._lock:
                    for doc in self._docs.values():
                        counts.update(dict.fromkeys(doc.terms(name), 0))
            for doc in docs:
                counts.update(doc.terms(name))
            items = [(t, c) for t, c in counts.items() if c >= mincount and t.startswith(prefix)]
            if order == "index":
                items.sort(key=lambda item: item[0])
            else:
                items.sort(key=lambda item: (-item[1], item[0]))
            items = items[offset:] if limit < 0 else items[offset : offset + limit]
            facets[name] = [value for item in items for value in item]
        return facets


def _millis(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


# --------------------------------------------------------------------------- HTTP


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], core: SolrCore) -> None:
        super().__init__(address, _Handler)
        self.core = core


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive: pysolr reuses one requests session

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._dispatch(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._dispatch(self.rfile.read(length) if length else b"")

    def _dispatch(self, body: bytes) -> None:
        url = urlsplit(self.path)
        params: dict[str, list[str]] = parse_qs(url.query, keep_blank_values=True)
        content_type = (self.headers.get("Content-Type") or "").lower()
        core = self.server.core
        base = f"/solr/{core.name}"
        path = url.path.rstrip("/")
        try:
            if path == f"{base}/select":
                if body and "x-www-form-urlencoded" in content_type:
                    # pysolr posts long queries as a form body instead of a query string.
                    for key, values in parse_qs(
                        body.decode("utf-8"), keep_blank_values=True
                    ).items():
                        params.setdefault(key, []).extend(values)
                self._json(core.select(params))
            elif path in (f"{base}/update", f"{base}/update/json", f"{base}/update/xml"):
                self._json(core.update(body, content_type, params))
            elif path == f"{base}/admin/ping":
                self._json({"responseHeader": {"status": 0, "QTime": 0}, "status": "OK"})
            elif (path == f"{base}/schema" and _param(params, "wt") == "schema.xml") or (
                path == f"{base}/admin/file"
                and _param(params, "file")
                in (
                    "schema.xml",
                    "managed-schema",
                )
            ):
                self._send(200, schema_xml().encode(), "application/xml; charset=utf-8")
            elif path == f"{base}/schema":
                schema = {
                    "name": SCHEMA_NAME,
                    "version": float(SCHEMA_VERSION),
                    "uniqueKey": UNIQUE_KEY,
                }
                self._json({"responseHeader": {"status": 0, "QTime": 0}, "schema": schema})
            elif path in (f"{base}/schema/name", f"{base}/schema/version"):
                key = path.rsplit("/", 1)[1]
                value: Any = SCHEMA_NAME if key == "name" else float(SCHEMA_VERSION)
                self._json({"responseHeader": {"status": 0, "QTime": 0}, key: value})
            else:
                raise SolrError(
                    404, f"No handler for {url.path} (the stand-in serves core '{core.name}')"
                )
        except SolrError as exc:
            self._error(exc.code, exc.msg)
        except (QuerySyntaxError, FieldValueError) as exc:
            self._error(400, str(exc))
        except Exception as exc:  # a bug in the stand-in: answer 500 and keep serving
            log.exception("stand-in failed on %s", self.path)
            self._error(500, f"{type(exc).__name__}: {exc}")

    def _error(self, code: int, msg: str) -> None:
        log.info("HTTP %d for %s %s: %s", code, self.command, self.path[:200], msg)
        body = {"responseHeader": {"status": code, "QTime": 0}, "error": {"msg": msg, "code": code}}
        self._json(body, code)

    def _json(self, payload: Mapping[str, Any], code: int = 200) -> None:
        self._send(code, json.dumps(payload).encode(), "application/json; charset=utf-8")

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code, HTTPStatus(code).phrase)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _check_loopback(host: str) -> None:
    address = ipaddress.ip_address(socket.gethostbyname(host))
    if not address.is_loopback:
        raise ValueError(f"the Solr stand-in binds to loopback addresses only, not {host}")


class SolrStandIn:
    """The stand-in as an embeddable server running in a background thread.

    Args:
        host: loopback address to bind (anything else is refused).
        port: TCP port; 0 picks a free one (see :attr:`port` after :meth:`start`).
        core: core name, i.e. the last part of CKAN's ``solr_url``.
        data_file: JSON file keeping the index across restarts (``None``: memory only).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8983,
        core: str = "ckan",
        data_file: Path | None = None,
    ) -> None:
        _check_loopback(host)
        self.host = host
        self.core = SolrCore(core, data_file)
        self._requested_port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (only meaningful once started)."""
        return self._server.server_address[1] if self._server else self._requested_port

    @property
    def url(self) -> str:
        """The core URL to use as CKAN's ``solr_url``."""
        return f"http://{self.host}:{self.port}/solr/{self.core.name}"

    def bind(self) -> None:
        """Open the listening socket (start() does this; the CLI binds before serving)."""
        if self._server is None:
            self._server = _Server((self.host, self._requested_port), self.core)

    def start(self) -> None:
        """Serve in a daemon thread; returns once the socket accepts connections."""
        self.bind()
        assert self._server is not None
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},  # how quickly stop() takes effect
            name="solr-stand-in",
            daemon=True,
        )
        self._thread.start()

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` (or a signal) ends it."""
        self.bind()
        assert self._server is not None
        try:
            self._server.serve_forever()
        finally:
            self.core.commit()

    def stop(self) -> None:
        """Stop serving, close the socket and write the index; idempotent."""
        server, self._server = self._server, None
        if server is not None:
            if self._thread is not None:
                server.shutdown()
                self._thread.join(timeout=10)
                self._thread = None
            server.server_close()
        self.core.commit()

    def __enter__(self) -> SolrStandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: run the stand-in in the foreground until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(
        prog="python -m devstack.solr", description="A minimal Solr stand-in for CKAN 2.12."
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=8983)
    parser.add_argument("--core", default="ckan")
    parser.add_argument("--data", type=Path, help="JSON file that keeps the index across restarts")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        stand_in = SolrStandIn(args.host, args.port, args.core, args.data)
        stand_in.bind()
    except (ValueError, OSError) as exc:
        log.error("cannot start: %s", exc)
        return 2

    def _terminate(signum: int, _frame: object) -> None:
        raise SystemExit(0)  # unwinds serve_forever; its finally-block writes the index

    signal.signal(signal.SIGTERM, _terminate)
    log.info("Solr stand-in serving %s (%d documents)", stand_in.url, len(stand_in.core))
    with contextlib.suppress(KeyboardInterrupt):
        stand_in.serve_forever()
    log.info("Solr stand-in stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
