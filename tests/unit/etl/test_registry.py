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
