"""Contract of the statistics-tables datasets: registry, suite and samples agree.

The integration harness publishes every registered dataset from its bundled samples,
so every dataset must pass ``harvest check`` on them; a suite must prove the rules the
registry promises (markers never published as numbers, confidentiality).
"""

from __future__ import annotations

import pytest

from etl import pipeline
from etl.registry import StatisticsTablesSource, load_registry
from etl.validate import load_suite

DATASETS = sorted(load_registry())
STATISTICS = [
    dataset_id
    for dataset_id, dataset in load_registry().items()
    if isinstance(dataset.source, StatisticsTablesSource)
]


def expectations(dataset_id: str, kind: str) -> list[dict]:
    return [e["kwargs"] for e in load_suite(dataset_id)["expectations"] if e["type"] == kind]


def test_the_issue_datasets_are_registered() -> None:
    assert set(STATISTICS) >= {
        "haushalte-sozialraeume",
        "flaeche-stadtbezirke",
        "bevoelkerungsprognose",
        "stadtbezirksprofile",
        "feuerwehr-brandeinsaetze",
        "feuerwehr-rettungsdienst",
    }


@pytest.mark.parametrize("dataset_id", DATASETS)
def test_every_dataset_passes_check_on_its_samples(dataset_id: str, tmp_path) -> None:
    dataset = load_registry()[dataset_id]
    outcome = pipeline.check(dataset, pipeline.resolve_inputs(dataset), tmp_path)
    assert outcome.report.success
    assert outcome.report.rows > 0
    assert sorted(f.resource for f in outcome.files) == sorted(
        r.resource_name(dataset_id) for r in dataset.resources
    )


@pytest.mark.parametrize("dataset_id", STATISTICS)
def test_documented_columns_are_what_the_options_publish(dataset_id: str) -> None:
    dataset = load_registry()[dataset_id]
    assert isinstance(dataset.source, StatisticsTablesSource)
    assert {c.name for c in dataset.columns} == set(dataset.source.published_columns())


@pytest.mark.parametrize("dataset_id", STATISTICS)
def test_helper_columns_are_computed_and_checked(dataset_id: str) -> None:
    from etl.validate import suite_columns

    source = load_registry()[dataset_id].source
    assert isinstance(source, StatisticsTablesSource)
    used = {c for c in suite_columns(load_suite(dataset_id)) if c.startswith("_")}
    assert used == set(source.helper_columns())


@pytest.mark.parametrize("dataset_id", STATISTICS)
def test_suite_proves_signs_are_never_published_as_numbers(dataset_id: str) -> None:
    source = load_registry()[dataset_id].source
    assert isinstance(source, StatisticsTablesSource)
    empty_statuses = {m.status for m in source.markers if m.value is None}
    nulls = expectations(dataset_id, "expect_column_values_to_be_null")
    statuses = expectations(dataset_id, "expect_column_values_to_be_in_set")
    for field in source.value_fields():
        if not field.status:
            continue
        proof = [
            kw
            for kw in nulls
            if kw["column"] == field.name
            and kw["row_condition"]["column"]["name"] == field.status
            and set(kw["row_condition"]["parameter"]) >= empty_statuses
        ]
        assert proof, f"no rule proves that {field.name} is empty where a sign stood"
        allowed = next(kw["value_set"] for kw in statuses if kw["column"] == field.status)
        assert {m.status for m in source.markers} <= set(allowed)


def test_suite_proves_the_confidentiality_rule() -> None:
    checked = 0
    for dataset_id in STATISTICS:
        source = load_registry()[dataset_id].source
        assert isinstance(source, StatisticsTablesSource)
        privacy = source.privacy
        if privacy is None:
            continue
        checked += 1
        not_in_set = [
            (kw["column"], kw["value_set"])
            for kw in expectations(dataset_id, "expect_column_values_to_not_be_in_set")
        ]
        nulls = expectations(dataset_id, "expect_column_values_to_be_null")
        for column in privacy.columns:
            if privacy.min_count is not None:
                assert (column, list(range(1, privacy.min_count))) in not_in_set, column
            if privacy.round_to is not None and column not in privacy.exact_columns:
                condition = f"{column} % {privacy.round_to} != 0"
                assert any(
                    kw["column"] == column and kw.get("row_condition") == condition for kw in nulls
                ), column
    assert checked >= 1  # haushalte-sozialraeume enforces a minimum count
