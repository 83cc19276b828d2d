"""Registry contract: every entry validates and has everything its identity promises."""

from __future__ import annotations

import pytest

from etl.readers import normalize_header
from etl.registry import load_dataset_file, load_registry, registry_dir
from etl.sources import FAMILIES, get_family
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
    # unpublished helper columns a family computes for its suite (e.g. geodata's _minx)
    helpers = set(getattr(get_family(dataset.family), "HELPER_COLUMNS", ()))
    assert suite_columns(suite) <= documented | helpers
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
