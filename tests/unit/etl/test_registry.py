"""Registry models reject what would break later (unknown keys, bad ids, mismatches)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from etl.errors import ConfigError, InputError
from etl.registry import (
    get_dataset,
    load_dataset_file,
    load_portal_config,
    load_portal_file,
    load_registry,
)
from tests.conftest import PROJECT


def entry() -> dict:
    return yaml.safe_load((PROJECT / "registry" / "vornamen.yaml").read_text(encoding="utf-8"))


def write(tmp_path: Path, name: str, data: dict) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_unknown_keys_are_rejected_with_their_location(tmp_path) -> None:
    data = entry()
    data["package"]["titel"] = "typo"
    with pytest.raises(ConfigError, match=r"package\.titel: Extra inputs are not permitted"):
        load_dataset_file(write(tmp_path, "vornamen", data))


def test_id_must_equal_file_name(tmp_path) -> None:
    with pytest.raises(ConfigError, match="must equal the file name"):
        load_dataset_file(write(tmp_path, "other-name", entry()))


def test_unknown_family_is_rejected(tmp_path) -> None:
    data = entry()
    data["source"]["family"] = "spreadsheets"
    with pytest.raises(ConfigError, match="source"):
        load_dataset_file(write(tmp_path, "vornamen", data))


def test_bad_email_and_id(tmp_path) -> None:
    data = entry()
    data["package"]["maintainer_email"] = "not-an-address"
    with pytest.raises(ConfigError, match="maintainer_email"):
        load_dataset_file(write(tmp_path, "vornamen", data))
    data = entry()
    data["id"] = "Vornamen_2023"
    with pytest.raises(ConfigError, match="not a valid dataset id"):
        load_dataset_file(write(tmp_path, "Vornamen_2023", data))


def test_underscore_files_are_not_datasets(tmp_path) -> None:
    write(tmp_path, "vornamen", entry())
    (tmp_path / "_portal.yaml").write_text("whatever: 1\n", encoding="utf-8")
    assert list(load_registry(tmp_path)) == ["vornamen"]


def test_unknown_dataset_is_input_error() -> None:
    with pytest.raises(InputError, match="unknown dataset 'nope'") as caught:
        get_dataset("nope")
    assert caught.value.exit_code == 2


def statistics_entry() -> dict:
    path = PROJECT / "registry" / "haushalte-sozialraeume.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- DCAT fields


@pytest.mark.parametrize(
    ("change", "location"),
    [
        (lambda p: p.pop("themes"), r"package\.themes: Field required"),
        (lambda p: p.update(themes=[]), r"package\.themes"),
        (lambda p: p.update(themes=["SOCIAL"]), r"package\.themes\.0"),
        (lambda p: p.pop("frequency"), r"package\.frequency: Field required"),
        (lambda p: p.update(frequency="yearly"), r"package\.frequency"),
        (lambda p: p.update(temporal={"column": "jahr", "start": "2020-01-01"}), "either column"),
        (lambda p: p.update(temporal={"start": "2024-01-01", "end": "2020-12-31"}), "is after end"),
        (lambda p: p.update(temporal={"column": "geburtsjahr"}), "not a documented column"),
        (lambda p: p.update(temporal={"column": "vorname"}), "must be of type integer"),
        (lambda p: p.update(spatial={"political_geocoding": ["05111"]}), "absolute http"),
    ],
)
def test_dcat_fields_are_checked_when_the_registry_loads(tmp_path, change, location) -> None:
    data = entry()
    change(data["package"])
    with pytest.raises(ConfigError, match=location):
        load_dataset_file(write(tmp_path, "vornamen", data))


def test_fixed_temporal_coverage_is_accepted(tmp_path) -> None:
    data = entry()
    data["package"]["temporal"] = {"start": "2015-01-01"}
    temporal = load_dataset_file(write(tmp_path, "vornamen", data)).package.temporal
    assert temporal is not None and str(temporal.start) == "2015-01-01" and temporal.end is None


# --------------------------------------------------------------------------- _portal.yaml


def portal_entry() -> dict:
    return yaml.safe_load((PROJECT / "registry" / "_portal.yaml").read_text(encoding="utf-8"))


def test_portal_defaults_of_the_repository_load() -> None:
    config = load_portal_config()
    assert config.base_url == "https://opendata.duesseldorf.de"
    assert config.homepage == config.base_url
    assert config.license.default == "dl-zero-de/2.0"
    assert {"CSV", "JSON"} <= set(config.formats)


def test_missing_portal_defaults_are_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"_portal\.yaml: portal defaults missing") as caught:
        load_portal_config(tmp_path)
    assert caught.value.exit_code == 4


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.update(note_patterns=["^Quelle("]), "not a valid regular expression"),
        (lambda s: s["privacy"].pop("min_count"), "privacy needs min_count and/or round_to"),
        (lambda s: s["privacy"].update(columns=["stadtbezirk"]), "integer columns with a status"),
        (lambda s: s["fields"][0].update(decimals=2), "decimals apply to numbers only"),
        (lambda s: s["fields"][2].update(status="Status"), "should match pattern"),
        (lambda s: s.update(header_rows=2), "several header rows need wide_to_long"),
        (lambda s: s.update(sort_by=["jahr"]), "sort_by names a column"),
        (lambda s: s["fields"][1].update(name="stadtbezirk"), "published columns are not unique"),
        (lambda s: s.update(decimal=";"), "decimal"),
    ],
)
def test_statistics_options_are_checked_when_loading(tmp_path, change, message) -> None:
    data = statistics_entry()
    change(data["source"])
    with pytest.raises(ConfigError, match=message):
        load_dataset_file(write(tmp_path, "haushalte-sozialraeume", data))


def test_statistics_published_columns_follow_the_options() -> None:
    source = get_dataset("bevoelkerungsprognose").source
    assert source.published_columns() == ["jahr", "variante", "einwohner", "status"]
    assert source.helper_columns() == ["_jahresabstand"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda c: c["contributor_ids"].append("http://dcat-ap.de/def/contributors/govData"),
            "exactly one contributor id",
        ),
        (lambda c: c.update(contributor_ids=["https://opendata.duesseldorf.de"]), "found 0"),
        (lambda c: c["publisher"].update(iri="www.duesseldorf.de"), r"publisher\.iri"),
        (lambda c: c.update(languages=["de"]), "3-letter EU code"),
        (lambda c: c["political_geocoding"].update(level="city"), r"political_geocoding\.level"),
        (lambda c: c["formats"]["CSV"].update(media_type="CSV"), r"formats\.CSV\.media_type"),
        (lambda c: c.update(licence={}), r"licence: Extra inputs are not permitted"),
    ],
)
def test_portal_defaults_are_validated(tmp_path, change, message) -> None:
    data = portal_entry()
    change(data)
    (tmp_path / "_portal.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_portal_file(tmp_path / "_portal.yaml")


def test_dropzone_mode_defaults_to_replace_and_is_checked(tmp_path) -> None:
    data = entry()
    del data["dropzone"]
    assert load_dataset_file(write(tmp_path, "vornamen", data)).dropzone.mode == "replace"
    data["dropzone"] = {"mode": "append"}
    with pytest.raises(ConfigError, match=r"dropzone\.mode"):
        load_dataset_file(write(tmp_path, "vornamen", data))
    assert get_dataset("vornamen").dropzone.mode == "add"


def test_update_runs_default_to_friday_morning_and_are_overridable(tmp_path) -> None:
    data = entry()
    del data["schedule"]
    assert load_dataset_file(write(tmp_path, "vornamen", data)).schedule == "0 6 * * 5"
    data["schedule"] = "30 5 * * 2"
    assert load_dataset_file(write(tmp_path, "vornamen", data)).schedule == "30 5 * * 2"
    data["schedule"] = None
    assert load_dataset_file(write(tmp_path, "vornamen", data)).schedule is None


def test_release_defaults_to_public_and_release_order_is_a_positive_position(tmp_path) -> None:
    data = entry()
    dataset = load_dataset_file(write(tmp_path, "vornamen", data))
    assert (dataset.release, dataset.release_order) == ("public", None)
    data.update(release="queued", release_order=3)
    dataset = load_dataset_file(write(tmp_path, "vornamen", data))
    assert (dataset.release, dataset.release_order) == ("queued", 3)
    data["release_order"] = 0
    with pytest.raises(ConfigError, match="release_order"):
        load_dataset_file(write(tmp_path, "vornamen", data))
    data.update(release="soon", release_order=1)
    with pytest.raises(ConfigError, match="release"):
        load_dataset_file(write(tmp_path, "vornamen", data))


def _registry_with_every_family(tmp_path: Path) -> Path:
    for source in ("vornamen", "flaeche-stadtbezirke", "stadtbezirke", "sirenenstandorte"):
        text = (PROJECT / "registry" / f"{source}.yaml").read_text(encoding="utf-8")
        (tmp_path / f"{source}.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def test_load_family_splits_the_registry_exactly_by_family(tmp_path) -> None:
    from etl.registry import FAMILIES, load_family

    registry = _registry_with_every_family(tmp_path)
    everything = load_registry(registry)
    parts = {family: load_family(family, registry) for family in FAMILIES}
    assert sorted(i for part in parts.values() for i in part) == sorted(everything)
    for family, part in parts.items():
        assert all(d.family == family for d in part.values())
        assert {i for i, d in everything.items() if d.family == family} == set(part)


def test_load_family_reports_a_broken_entry_of_its_family_and_an_unknown_family(
    tmp_path,
) -> None:
    from etl.registry import load_family

    registry = _registry_with_every_family(tmp_path)
    data = entry()
    data["package"]["titel"] = "typo"
    write(registry, "vornamen", data)
    with pytest.raises(ConfigError, match="titel"):
        load_family("first_names", registry)
    assert "stadtbezirke" in load_family("geodata", registry)  # other families still parse

    data = entry()
    data["source"]["family"] = "spreadsheets"
    write(registry, "vornamen", data)
    for family in ("first_names", "geodata", "statistics_tables"):
        with pytest.raises(ConfigError):
            load_family(family, registry)


def test_load_family_reads_a_changed_file_again(tmp_path) -> None:
    from etl.registry import load_family

    registry = _registry_with_every_family(tmp_path)
    assert load_family("first_names", registry)["vornamen"].package.title != "Neu"
    data = entry()
    data["package"]["title"] = "Neu im Test"
    write(registry, "vornamen", data)
    assert load_family("first_names", registry)["vornamen"].package.title == "Neu im Test"
