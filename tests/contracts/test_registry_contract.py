"""Registry contract: every entry validates and has everything its identity promises."""

from __future__ import annotations

import pytest

from etl import pipeline
from etl.ledger import Ledger
from etl.readers import normalize_header
from etl.registry import load_dataset_file, load_registry, registry_dir
from etl.sources import FAMILIES
from etl.validate import load_suite, suite_columns
from tests.conftest import PROJECT

FILES = sorted(p for p in registry_dir().glob("*.yaml") if not p.name.startswith("_"))
IDS = [p.stem for p in FILES]


def test_registry_is_not_empty_and_ids_are_unique() -> None:
    assert "vornamen" in IDS
    assert len(IDS) == len(set(IDS)) == len(load_registry())


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_entry_validates_and_id_equals_file_name(path) -> None:
    assert load_dataset_file(path).id == path.stem


@pytest.mark.parametrize("dataset_id", IDS)
def test_entry_has_a_suite_whose_columns_are_documented(dataset_id: str) -> None:
    dataset = load_registry()[dataset_id]
    suite = load_suite(dataset_id)
    documented = {c.name for c in dataset.columns}
    # helper columns (prefix _) are facts a family computes for the suite, never published
    assert {c for c in suite_columns(suite) if not c.startswith("_")} <= documented
    assert suite["expectations"], "an empty suite checks nothing"


@pytest.mark.parametrize("dataset_id", IDS)
def test_family_exists_and_sources_resolve(dataset_id: str) -> None:
    dataset = load_registry()[dataset_id]
    assert dataset.family in FAMILIES
    for pattern in dataset.source.paths:
        assert list(PROJECT.glob(pattern)), f"{pattern} matches no bundled file"


def test_no_orphan_suites() -> None:
    suites = {p.stem for p in (PROJECT / "expectations").glob("*.json")}
    assert suites == set(IDS)


@pytest.mark.parametrize("dataset_id", IDS)
def test_column_names_are_normalized(dataset_id: str) -> None:
    for column in load_registry()[dataset_id].columns:
        assert normalize_header(column.name) == column.name


@pytest.mark.parametrize("dataset_id", IDS)
def test_staged_tasks_render_the_same_files_as_check(
    dataset_id: str, tmp_path, monkeypatch
) -> None:
    """The DAG passes raw inputs and the tidy table through files between tasks;
    that must not change a byte of what is published."""
    monkeypatch.setenv("HARVEST_WORK_DIR", str(tmp_path / "work"))
    dataset = load_registry()[dataset_id]
    paths = pipeline.resolve_inputs(dataset)
    run = pipeline.run_dir(dataset_id, "contract")
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    extracted = pipeline.stage_extract(dataset, paths, run, ledger=ledger, run_id="contract")
    transformed = pipeline.stage_transform(dataset, extracted["raw"], run)
    validated = pipeline.stage_validate(
        dataset,
        transformed["tidy"],
        run,
        ledger=ledger,
        run_id="contract",
        inputs=extracted["inputs"],
    )
    checked = pipeline.check(dataset, paths, tmp_path / "check")
    assert {f["resource"]: f["sha256"] for f in validated["files"]} == {
        f.resource: f.sha256 for f in checked.files
    }
    assert validated["facts"] == checked.facts
    assert [i["name"] for i in extracted["inputs"]] == [p.name for p in paths]
    assert ledger.history(dataset_id)[0].status == "running"  # opened, publish not yet run
