"""Conformance of DCAT records with DCAT-AP.de 2.0 and GovData's conventions (pySHACL).

The shapes are GovData's (``etl/shapes/dcat-ap-de-2.0/``, German messages included),
plus one rule of the conventions that the shape files leave out (K35: a licence with
attribution needs the attribution text). They are parsed once per process; validating
one dataset's record takes a few tens of milliseconds, the whole catalogue well under
a second, so every run checks its own record before anything is written.

:func:`require_conformant` is the gate of ``harvest check``/``publish`` and of the DAG's
``validate`` task: a record with a violation raises :class:`MetadataInvalid` (exit 1,
failed task) with the findings in German.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from rdflib import BNode, Graph, Namespace, URIRef
from rdflib import Literal as RdfLiteral
from rdflib.collection import Collection
from rdflib.namespace import DCAT, DCTERMS, RDF, SH
from rdflib.term import Node

from etl.dcat import (
    DCATDE,
    SHAPES_DIR,
    Record,
    dataset_graph,
    file_distributions,
    registry_distributions,
)
from etl.errors import MetadataInvalid
from etl.metadata import ATTRIBUTION_LICENSES, resolve
from etl.registry import Dataset, PortalConfig, load_portal_config

if TYPE_CHECKING:
    from etl.formats import RenderedFile

log = logging.getLogger(__name__)

SHAPE_FILES = (
    "dcat-ap-de-2.0/dcat-ap_2.1.1_shacl_shapes.ttl",
    "dcat-ap-de-2.0/dcat-ap-spec-german-messages.ttl",
    "dcat-ap-de-2.0/dcat-ap-spec-german-additions.ttl",
    "dcat-ap-de-2.0/dcat-ap-konventionen.ttl",
)
HARVEST = Namespace("https://opendata.duesseldorf.de/def/harvest#")
"""Namespace of this project's own shapes."""

Severity = Literal["Violation", "Warning", "Info"]


def _attribution_shape(graph: Graph) -> None:
    """K35: distributions under a licence with attribution carry the attribution text."""
    shape = HARVEST.Konv35_licenseAttributionByText
    graph.add((shape, RDF.type, SH.NodeShape))
    graph.add((shape, SH.targetClass, URIRef("http://www.w3.org/ns/dcat#Distribution")))
    graph.add((shape, SH.severity, SH.Violation))
    graph.add(
        (
            shape,
            SH.message,
            RdfLiteral(
                "K35: dcat:Distribution: Bei einer Lizenz mit Namensnennung MUSS "
                "dcatde:licenseAttributionByText den Namensnennungstext angeben "
                "(z. B. 'Landeshauptstadt Düsseldorf').",
                lang="de",
            ),
        )
    )
    not_by = BNode()
    by_licences = BNode()
    Collection(graph, by_licences, [URIRef(iri) for iri in sorted(ATTRIBUTION_LICENSES)])
    graph.add((not_by, SH.path, DCTERMS.license))
    graph.add((not_by, SH["not"], _in_shape(graph, by_licences)))
    has_text = BNode()
    graph.add((has_text, SH.path, DCATDE.licenseAttributionByText))
    graph.add((has_text, SH.minCount, RdfLiteral(1)))
    alternatives = BNode()
    Collection(graph, alternatives, [not_by, has_text])
    graph.add((shape, SH["or"], alternatives))


def _in_shape(graph: Graph, values: BNode) -> BNode:
    node = BNode()
    graph.add((node, SH["in"], values))
    return node


@lru_cache(maxsize=1)
def shapes() -> Graph:
    """GovData's DCAT-AP.de 2.0 shapes with the conventions, plus K35 (parsed once)."""
    graph = Graph()
    for name in SHAPE_FILES:
        graph.parse(SHAPES_DIR / name, format="turtle")
    _attribution_shape(graph)
    return graph


@dataclass(frozen=True)
class Finding:
    """One SHACL result, readable."""

    severity: Severity
    message: str
    focus: str
    path: str | None = None
    value: str | None = None
    shape: str | None = None

    def line(self) -> str:
        """``<focus> (<path>): <message> – gefunden: <value>``."""
        where = f"{self.focus} ({self.path})" if self.path else self.focus
        text = f"{where}: {self.message}"
        if self.value is not None:
            text += f" – gefunden: {self.value}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "message": self.message,
            "focus": self.focus,
            "path": self.path,
            "value": self.value,
            "shape": self.shape,
        }


@dataclass
class ConformanceReport:
    """Outcome of validating a graph against the shapes."""

    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    triples: int = 0

    @property
    def violations(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "Violation"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "Warning"]

    @property
    def conforms(self) -> bool:
        """No violation (warnings and infos are recommendations)."""
        return not self.violations


_MAIN_CLASSES = (DCAT.Catalog, DCAT.Dataset, DCAT.Distribution)


def _label(graph: Graph, node: Node, depth: int = 0) -> str:
    """A node for humans: catalogue, dataset and distribution by IRI; anything else by
    the way it is reached, e.g. ``<distribution> › dct:format <IRI>``."""
    is_main = any((node, RDF.type, cls) in graph for cls in _MAIN_CLASSES)
    referrers = sorted(
        graph.subject_predicates(node), key=lambda pair: (str(pair[0]), str(pair[1]))
    )
    if is_main or not referrers or depth > 3:
        return str(node) if not isinstance(node, BNode) else "[unbenannter Knoten]"
    subject, predicate = referrers[0]
    prop = graph.namespace_manager.normalizeUri(str(predicate))
    via = f"{_label(graph, subject, depth + 1)} › {prop}"
    return via if isinstance(node, BNode) else f"{via} <{node}>"


def _value(graph: Graph, node: Node | None, focus: Node | None) -> str | None:
    if node is None or node == focus:
        return None
    if isinstance(node, BNode):
        return _label(graph, node)
    return str(node)


def _message(results: Graph, result: Node) -> str:
    messages = list(results.objects(result, SH.resultMessage))
    german = [m for m in messages if isinstance(m, RdfLiteral) and m.language == "de"]
    chosen = german or messages
    return " ".join(str(chosen[0]).split()) if chosen else "Regel verletzt"


def check_graph(graph: Graph) -> ConformanceReport:
    """Validate ``graph`` against the shapes; every result becomes a :class:`Finding`."""
    import pyshacl

    started = time.perf_counter()
    _conforms, results, _text = pyshacl.validate(
        graph,
        shacl_graph=shapes(),
        inference="none",
        advanced=False,
        allow_warnings=True,
    )
    assert isinstance(results, Graph)
    findings = []
    for result in results.subjects(RDF.type, SH.ValidationResult):
        severity_node = results.value(result, SH.resultSeverity)
        severity: Severity = (
            "Warning"
            if severity_node == SH.Warning
            else "Info"
            if severity_node == SH.Info
            else "Violation"
        )
        path = results.value(result, SH.resultPath)
        focus = results.value(result, SH.focusNode)
        findings.append(
            Finding(
                severity=severity,
                message=_message(results, result),
                focus=_label(graph, focus) if focus is not None else "?",
                path=graph.namespace_manager.normalizeUri(str(path))
                if isinstance(path, URIRef)
                else None,
                value=_value(graph, results.value(result, SH.value), focus),
                shape=str(results.value(result, SH.sourceShape)),
            )
        )
    order = {"Violation": 0, "Warning": 1, "Info": 2}
    findings.sort(key=lambda f: (order[f.severity], f.focus, f.path or "", f.message))
    seconds = time.perf_counter() - started
    log.debug("SHACL: %d triples, %d findings in %.3f s", len(graph), len(findings), seconds)
    return ConformanceReport(findings=findings, seconds=seconds, triples=len(graph))


def check_dataset(
    dataset: Dataset,
    *,
    facts: Mapping[str, Any] | None = None,
    files: Sequence[RenderedFile] | None = None,
    config: PortalConfig | None = None,
) -> ConformanceReport:
    """Validate one dataset's own record (only its subgraph: fast).

    Args:
        facts: the run's data facts (spatial extent, temporal coverage).
        files: the rendered files (their sizes enter the record); default: the
            registry's resources.
    """
    config = config or load_portal_config()
    meta = resolve(dataset, config, facts)
    distributions = (
        file_distributions(dataset, meta, files)
        if files is not None
        else registry_distributions(dataset, meta)
    )
    return check_graph(dataset_graph(Record(meta, distributions), config))


def require_conformant(
    dataset: Dataset,
    *,
    facts: Mapping[str, Any] | None = None,
    files: Sequence[RenderedFile] | None = None,
    config: PortalConfig | None = None,
) -> ConformanceReport:
    """The pre-publish gate: the dataset's record must have no violation.

    Raises:
        MetadataInvalid: with the violations in German (exit 1, failed task).
    """
    report = check_dataset(dataset, facts=facts, files=files, config=config)
    if not report.conforms:
        raise MetadataInvalid(dataset.id, [f.line() for f in report.violations])
    return report
