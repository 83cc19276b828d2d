"""Registry models reject what would break later (unknown keys, bad ids, mismatches)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from etl.errors import ConfigError, InputError
from etl.registry import get_dataset, load_dataset_file, load_registry
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


def test_dropzone_mode_defaults_to_replace_and_is_checked(tmp_path) -> None:
    data = entry()
    del data["dropzone"]
    assert load_dataset_file(write(tmp_path, "vornamen", data)).dropzone.mode == "replace"
    data["dropzone"] = {"mode": "append"}
    with pytest.raises(ConfigError, match=r"dropzone\.mode"):
        load_dataset_file(write(tmp_path, "vornamen", data))
    assert get_dataset("vornamen").dropzone.mode == "add"
