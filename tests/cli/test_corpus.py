"""The hostile and broken input corpus through ``harvest check`` (tests/corpus/README.md).

Every case: exit 1 or 2 as listed (never 0), its German reason in the output, no
traceback and no unexpected exception, nothing written under ``--out``, the input's
bytes and mtime unchanged and nothing created beside or above it; for XXE-like cases,
no line of /etc/passwd in any output. Cases run in-process (typer's runner); a few
run the installed ``harvest`` script as a subprocess too.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.corpus import harness
from tests.corpus.build import CASES, CONTROLS, FILES, HERE, Case, small_cases, write_case

SUBPROCESS_CASES = [
    "fn-1mb-single-line",
    "st-encrypted-xlsx",
    "geo-kml-xxe",
    "geo-zip-entry-markup",
    "geo-vrt-named-geojson",
]
"""Cases also run as a real process: the big line, a binary container, XML, rich
markup in a message and the VRT that would read /etc/passwd."""


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return harness.build_large(tmp_path_factory.mktemp("corpus-large"))


def _check(case: Case, large: Path, out: Path, run) -> None:
    path = harness.input_path(case, large)
    before = harness.snapshot(path)
    outcome = run(["check", case.dataset, str(path), "--out", str(out)])
    harness.assert_refused(case, outcome)
    assert not out.exists(), f"{case.name}: something was written under --out"
    assert harness.snapshot(path) == before, f"{case.name}: the input or its folder changed"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_check_refuses_with_a_german_reason(case: Case, large: Path, tmp_path: Path) -> None:
    _check(case, large, tmp_path / "out", harness.run_in_process)


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_check_refuses_as_a_subprocess(name: str, large: Path, tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name == name)
    _check(case, large, tmp_path / "out", harness.run_subprocess)


@pytest.mark.parametrize("case", CONTROLS, ids=[c.name for c in CONTROLS])
def test_positive_controls_pass(case: Case, tmp_path: Path) -> None:
    path = FILES / case.name / case.file_name
    before = harness.snapshot(path)
    outcome = harness.run_in_process(["check", case.dataset, str(path), "--out", str(tmp_path)])
    assert outcome.exception is None
    assert outcome.exit_code == 0, outcome.output
    assert f"✓ {case.dataset}:" in outcome.output
    assert any(tmp_path.iterdir())
    assert harness.snapshot(path) == before


def test_committed_files_are_what_the_builder_makes(tmp_path: Path) -> None:
    for case in small_cases():
        write_case(case, tmp_path)
    built = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(p.relative_to(FILES).as_posix() for p in FILES.rglob("*") if p.is_file())
    assert committed == built, "run: python -m tests.corpus.build --small --out tests/corpus/files"
    for name in built:
        assert (FILES / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_the_corpus_covers_every_family_with_40_cases_or_more() -> None:
    names = [c.name for c in CASES + CONTROLS]
    assert len(names) == len(set(names))
    assert len(CASES) >= 40
    per_family = Counter(case.family for case in CASES)
    assert set(per_family) == {"first_names", "statistics_tables", "geodata"}
    assert min(per_family.values()) >= 10, per_family
    assert {case.exit_code for case in CASES} == {1, 2}
    assert all(case.reason for case in CASES)


def test_readme_lists_every_case() -> None:
    readme = (HERE / "README.md").read_text(encoding="utf-8")
    missing = [case.name for case in CASES if f"`{case.name}`" not in readme]
    assert not missing, "run: python -m tests.corpus.build --readme"
