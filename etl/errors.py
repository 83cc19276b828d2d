"""Typed project errors and the exit codes the CLI maps them to.

Messages are written for the person who has to act on them: a clerk in a
department (what is wrong with the file, where, and what was expected) or the
engineer on call (which portal call failed and why). They never contain secrets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class HarvestError(Exception):
    """Base class of all expected failures; ``exit_code`` is the CLI exit status."""

    exit_code = 70

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(HarvestError):
    """An input cannot be used at all: unknown dataset, unreadable or undecodable file."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None) -> None:
        super().__init__(f"{file}: {message}" if file else message)
        self.file = file


class ConfigError(HarvestError):
    """The registry, a suite or the environment is wrong (an operator must fix it)."""

    exit_code = 4


class PortalError(HarvestError):
    """The portal could not be reached or refused a call."""

    exit_code = 3


class PortalNotAuthorized(PortalError):
    """The portal refused a call for lack of rights (bad token, or a private dataset)."""


@dataclass(frozen=True)
class Problem:
    """One concrete finding in the data: where it is, what was found, what was expected.

    ``row`` is the line number in the source file (1-based, header included), so a
    clerk can open the file in an editor and jump to it.
    """

    check: str
    message: str
    file: str | None = None
    row: int | None = None
    column: str | None = None
    found: Any = None
    expected: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe representation (used by reports and the run ledger)."""
        found = self.found
        if found is not None and not isinstance(found, (str, int, float, bool)):
            found = str(found)
        return {
            "check": self.check,
            "message": self.message,
            "file": self.file,
            "row": self.row,
            "column": self.column,
            "found": found,
            "expected": self.expected,
        }


@dataclass
class ValidationReport:
    """Outcome of validating one dataset build.

    ``checks`` lists every check that ran (passed or not) so a report can say what
    was checked, not only what failed; ``problems`` holds the failures with examples.
    """

    dataset: str
    rows: int
    checks: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "rows": self.rows,
            "success": self.success,
            "checks": self.checks,
            "problems": [p.as_dict() for p in self.problems],
        }


class ValidationFailed(HarvestError):
    """The data was read but breaks the dataset's rules; nothing may be published."""

    exit_code = 1

    def __init__(self, report: ValidationReport) -> None:
        failed = len({(p.check, p.column) for p in report.problems})
        super().__init__(
            f"{report.dataset}: Daten ungültig – {failed} Prüfung(en) nicht bestanden, "
            f"{len(report.problems)} Fundstelle(n)"
        )
        self.report = report


class MetadataInvalid(HarvestError):
    """The dataset's DCAT-AP.de record breaks the shapes; nothing may be published.

    ``findings`` are readable lines (node, property, German rule text, found value);
    the fix is in ``registry/<id>.yaml`` or ``registry/_portal.yaml``.
    """

    exit_code = 1

    def __init__(self, dataset_id: str, findings: list[str]) -> None:
        count = f"{len(findings)} Verstoß" if len(findings) == 1 else f"{len(findings)} Verstöße"
        lines = [
            f"{dataset_id}: Metadaten nicht DCAT-AP.de-konform – {count}; nichts wurde "
            f"veröffentlicht. Bitte registry/{dataset_id}.yaml oder registry/_portal.yaml "
            "korrigieren:",
            *(f"  - {finding}" for finding in findings),
        ]
        super().__init__("\n".join(lines))
        self.dataset_id = dataset_id
        self.findings = findings
