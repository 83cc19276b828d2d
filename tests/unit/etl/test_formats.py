"""Rendered files: deterministic bytes, spreadsheet-safe CSV, faithful JSON."""

from __future__ import annotations

import io
import json

import pandas as pd

from etl.formats import neutralize_formulas, render
from etl.registry import get_dataset


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "jahr": pd.array([2023, 2023], dtype="Int64"),
            "vorname": pd.array(["Zoë", '=HYPERLINK("x")'], dtype="string"),
            "geschlecht": pd.array(["w", "m"], dtype="string"),
            "position": pd.array([1, None], dtype="Int64"),
            "anzahl": pd.array([-1, 3], dtype="Int64"),
        }
    )


def test_render_is_deterministic_and_hashes_match(tmp_path) -> None:
    dataset = get_dataset("vornamen")
    first = render(dataset, frame(), tmp_path / "a")
    second = render(dataset, frame(), tmp_path / "b")
    assert [f.resource for f in first] == ["vornamen.csv", "vornamen.json"]
    assert [f.sha256 for f in first] == [f.sha256 for f in second]
    for f in first:
        assert (tmp_path / "a" / f.resource).stat().st_size == f.size


def test_csv_is_utf8_bom_semicolon_and_neutralizes_formulas_only_in_text(tmp_path) -> None:
    files = render(get_dataset("vornamen"), frame(), tmp_path)
    raw = (tmp_path / "vornamen.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfjahr;vorname;geschlecht;position;anzahl\r\n")
    back = pd.read_csv(
        io.BytesIO(raw), sep=";", encoding="utf-8-sig", dtype=str, keep_default_na=False
    )
    assert back["vorname"].tolist() == ["Zoë", '\'=HYPERLINK("x")']
    assert back["anzahl"].tolist() == ["-1", "3"]  # numbers untouched
    assert back["position"].tolist() == ["1", ""]
    assert files[0].mimetype == "text/csv"


def test_json_records_keep_types_and_nulls(tmp_path) -> None:
    render(get_dataset("vornamen"), frame(), tmp_path)
    records = json.loads((tmp_path / "vornamen.json").read_text(encoding="utf-8"))
    assert records[0] == {
        "jahr": 2023,
        "vorname": "Zoë",
        "geschlecht": "w",
        "position": 1,
        "anzahl": -1,
    }
    assert records[1]["position"] is None
    assert "\\/" not in (tmp_path / "vornamen.json").read_text(encoding="utf-8")


def test_neutralize_formulas() -> None:
    series = pd.Series(["=1+1", "+49 211", "-x", "@SUM", "\tx", "Anna", None], dtype="string")
    assert neutralize_formulas(series).tolist() == [
        "'=1+1",
        "'+49 211",
        "'-x",
        "'@SUM",
        "'\tx",
        "Anna",
        pd.NA,
    ]
