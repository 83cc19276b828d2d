"""The first-names family: both delivery shapes, any header order, encoding, separator."""

from __future__ import annotations

import pandas as pd
import pytest

from etl.registry import get_dataset
from etl.sources import first_names
from tests.conftest import FIXTURES


@pytest.fixture(scope="module")
def dataset():
    return get_dataset("vornamen")


def build(dataset, *paths):
    return first_names.transform(dataset, first_names.extract(dataset, list(paths)))


def rows(tidy) -> list[tuple]:
    frame = tidy.published_frame()
    return [tuple(None if pd.isna(v) else v for v in row) for row in frame.itertuples(index=False)]


def test_per_gender_lists_take_gender_and_year_from_file_name(dataset, write_file) -> None:
    girls = write_file(
        "Vornamen_2019_weiblich.csv", "Name;Anzahl\r\nZoé;3\r\nAnna-Lena;2\r\n", "cp1252"
    )
    boys = write_file("vornamen_männlich_2019.csv", "NAME,ANZAHL\nJoël,4\n")
    tidy = build(dataset, girls, boys)
    assert tidy.problems == []
    assert rows(tidy) == [
        (2019, "Joël", "m", None, 4),
        (2019, "Zoé", "w", None, 3),
        (2019, "Anna-Lena", "w", None, 2),
    ]
    assert [i.name for i in tidy.inputs] == [
        "Vornamen_2019_weiblich.csv",
        "vornamen_männlich_2019.csv",
    ]


def test_ranked_list_maps_columns_by_name_not_position(dataset, write_file) -> None:
    a = write_file(
        "Vornamen_2022.csv",
        "\ufeffVorname;geschlecht;position;Anzahl\r\nMarie;w;2;10\r\nNoah;m;1;9\r\n",
    )
    b = write_file(
        "vornamen-2023.csv", "Anzahl,Position,VORNAME,Geschlecht\n12,1,Marie,w\n1,1,Alex,d\n"
    )
    tidy = build(dataset, a, b)
    assert tidy.problems == []
    assert rows(tidy) == [
        (2022, "Noah", "m", 1, 9),
        (2022, "Marie", "w", 2, 10),
        (2023, "Marie", "w", 1, 12),
    ]
    # "Alex, divers, 1" is withheld: a rare name with the rare entry 'd' points to one child
    assert tidy.notes["withheld_rows"] == 1


def test_names_are_trimmed_and_apostrophes_unified(dataset, write_file) -> None:
    path = write_file(
        "v_2020.csv",
        "vorname;anzahl;geschlecht\n  D’Angelo ;2;M\nKahang´i;1;W\nJean  Luc;1;männlich\n",
    )
    assert [r[1:3] for r in rows(build(dataset, path))] == [
        ("D'Angelo", "m"),
        ("Jean Luc", "m"),
        ("Kahang'i", "w"),
    ]


def test_unparseable_count_is_reported_with_file_line_and_header(dataset, write_file) -> None:
    path = write_file("v_2020.csv", "Vorname;Anzahl;Geschlecht\nAnna;1;w\nBen;zwei;m\nEva;;w\n")
    tidy = build(dataset, path)
    found = [(p.file, p.row, p.column, p.found) for p in tidy.problems]
    assert found == [("v_2020.csv", 3, "Anzahl", "zwei"), ("v_2020.csv", 4, "Anzahl", "")]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("v_2020.csv", "Vorname;Geschlecht\nAnna;w\n", "Pflichtspalte fehlt: anzahl"),
        ("v_2020.csv", "Name;Vorname;Anzahl\nA;B;1\n", "doppelt"),
        ("vornamen_2020.csv", "Name;Anzahl\nAnna;1\n", "Geschlecht nicht bestimmbar"),
        ("vornamen_weiblich.csv", "Name;Anzahl\nAnna;1\n", "Jahr nicht bestimmbar"),
        ("vornamen_2019_2020_weiblich.csv", "Name;Anzahl\nAnna;1\n", "mehrere Jahreszahlen"),
    ],
)
def test_structural_problems_are_reported_not_raised(
    dataset, write_file, name, text, message
) -> None:
    tidy = build(dataset, write_file(name, text))
    assert len(tidy.problems) == 1
    assert message in tidy.problems[0].message
    assert tidy.frame.empty


def test_row_with_extra_fields_is_a_problem(dataset, write_file) -> None:
    tidy = build(
        dataset, write_file("v_2020.csv", "Vorname;Anzahl;Geschlecht\nAnna;1;w;x\nBen;2;m\n")
    )
    assert [(p.check, p.row) for p in tidy.problems] == [("Zeilenaufbau", 2)]
    assert rows(tidy) == [(2020, "Ben", "m", None, 2)]


def test_real_berlin_list_with_positions(dataset) -> None:
    tidy = build(dataset, FIXTURES / "firstnames" / "Berlin_Mitte_2023.csv")
    assert tidy.problems == []
    frame = tidy.published_frame()
    assert len(frame) == 4394
    assert set(frame["jahr"]) == {2023}
    assert set(frame["geschlecht"]) == {"w", "m"}
    assert frame["position"].min() == 1
    first = frame[(frame["vorname"] == "Adam") & (frame["position"] == 1)]
    assert first["anzahl"].tolist() == [41]


def test_output_order_is_deterministic(dataset, write_file) -> None:
    a = write_file("a_2020.csv", "Vorname;Anzahl;Geschlecht\nB;1;w\nA;1;w\nC;5;m\n")
    b = write_file("b_2020.csv", "Anzahl;Geschlecht;Vorname\n1;w;A\n5;m;C\n1;w;B\n")
    assert rows(build(dataset, a)) == rows(build(dataset, b))


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("Vornamen_2021_maennlich.csv", "2021-m"),
        ("vornamen-2021-männlich-korrigiert.CSV", "2021-m"),
        ("Vornamen_2021_weiblich.csv", "2021-w"),
        ("Vornamen_2022.csv", "2022"),  # a ranked list of all genders
        ("Liste.csv", None),  # no year: the file name is the key (etl.sources)
    ],
)
def test_partition_key_is_year_and_gender_from_the_file_name(name, key) -> None:
    assert first_names.partition_key(name) == key


def test_partition_key_falls_back_to_the_file_name(dataset) -> None:
    from etl.sources import partition_key

    assert partition_key(dataset, "Liste.CSV") == "liste.csv"
    areas = get_dataset("flaeche-stadtbezirke")
    assert partition_key(areas, "Fläche_2024.csv") == "fläche_2024.csv"


def test_privacy_threshold_withholds_rare_names_of_rare_genders_only(dataset, write_file) -> None:
    path = write_file(
        "v_2024.csv",
        "Vorname;Anzahl;Geschlecht\nAlex;2;d\nKim;3;d\nAnna;1;w\nBen;1;m\nLou;0;d\n",
    )
    tidy = build(dataset, path)
    kept = [(r[1], r[2], r[4]) for r in rows(tidy)]
    # d below 3 withheld; single w/m names stay; a count of 0 stays to be rejected by the suite
    assert sorted(kept) == [("Anna", "w", 1), ("Ben", "m", 1), ("Kim", "d", 3), ("Lou", "d", 0)]
    assert tidy.notes["withheld_rows"] == 1
    assert not tidy.frame["_unter_schwelle"].any()
    assert "divers" in " ".join(dataset.source.package_notes())
