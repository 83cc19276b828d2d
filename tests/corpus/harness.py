"""Running corpus cases through ``harvest`` and checking what must hold for every one.

Shared by ``tests/cli/test_corpus.py`` (``harvest check``) and
``tests/integration/test_corpus_publish.py`` (``harvest publish`` against CKAN).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from etl.cli import app
from tests.corpus.build import CASES, FILES, PASSWD, PROJECT, Case, write_case

HARVEST = Path(sys.executable).parent / "harvest"


def build_large(folder: Path) -> Path:
    """Build every large case under ``folder``; return it."""
    for case in CASES:
        if case.large:
            write_case(case, folder)
    return folder


def input_path(case: Case, large: Path) -> Path:
    """Where the file of ``case`` is: committed, or built under ``large``."""
    return (large if case.large else FILES) / case.name / case.file_name


@dataclass(frozen=True)
class Snapshot:
    """What must not change on disk while a case runs."""

    sha256: str
    size: int
    mtime_ns: int
    neighbours: tuple[str, ...]


def snapshot(path: Path) -> Snapshot:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    info = path.stat()
    # the folder of the case and the corpus folder above it: nothing unpacked beside
    # the input, nothing written above it ('../' zip entries)
    neighbours = tuple(sorted(str(p) for p in path.parent.parent.rglob("*")))
    return Snapshot(digest.hexdigest(), info.st_size, info.st_mtime_ns, neighbours)


def forbidden_texts(case: Case) -> list[str]:
    """Strings that must appear in no output of ``case`` (the real /etc/passwd lines too)."""
    texts = list(case.forbidden)
    passwd = Path("/etc/passwd")
    if PASSWD in case.forbidden and passwd.is_file():
        texts += [line for line in passwd.read_text(errors="replace").splitlines()[:3] if line]
    return texts


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    output: str
    exception: BaseException | None

    @property
    def text(self) -> str:
        """The output with whitespace collapsed (rich may wrap long lines)."""
        return " ".join(self.output.split())


def run_in_process(args: list[str], env: dict[str, str] | None = None) -> Outcome:
    """``harvest ARGS`` through typer's runner; an exception other than exit is kept."""
    result = CliRunner().invoke(app, args, env=env)
    unexpected = None
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        unexpected = result.exception
    return Outcome(result.exit_code, result.output, unexpected)


def run_subprocess(args: list[str], env: dict[str, str] | None = None) -> Outcome:
    """``harvest ARGS`` as the installed console script, as an operator runs it."""
    result = subprocess.run(
        [str(HARVEST), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=PROJECT,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
    return Outcome(result.returncode, result.stdout + result.stderr, None)


def assert_refused(case: Case, outcome: Outcome) -> None:
    """Exit 1 or 2 as the case says, its German reason, no traceback, nothing leaked."""
    assert outcome.exception is None, f"{case.name}: unexpected {outcome.exception!r}"
    assert outcome.exit_code == case.exit_code, f"{case.name}: {outcome.output}"
    assert outcome.exit_code in (1, 2)
    assert case.reason in outcome.text, f"{case.name}: {outcome.output}"
    assert "Traceback" not in outcome.output
    for text in forbidden_texts(case):
        assert text not in outcome.output, f"{case.name}: {text!r} leaked into the output"
