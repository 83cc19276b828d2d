"""The statistics-tables family on the real Düsseldorf files and variants derived from them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from etl import pipeline
from etl.errors import ConfigError, InputError, ValidationFailed
from etl.portal import package_fields
from etl.registry import Privacy, get_dataset
from etl.sources import statistics_tables
from etl.validate import validate
from tests.conftest import FIXTURES

STATISTICS = FIXTURES / "statistics"
HOUSEHOLDS = STATISTICS / "household_size.csv"
AREA = STATISTICS / "distric_area.csv"
FORECAST = STATISTICS / "einwohner_prognose.csv"
PROFILES = [STATISTICS / "Stadtbezirk01.xlsx", STATISTICS / "Stadtbezirk10.xlsx"]


def build(dataset, *paths: Path):
    family = statistics_tables
    return family.transform(dataset, family.extract(dataset, list(paths)))


def records(frame: pd.DataFrame) -> list[dict]:
    return [
        {k: (None if pd.isna(v) else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def with_privacy(dataset, **rule):
    source = dataset.source.model_copy(update={"privacy": Privacy(**rule)})
    return dataset.model_copy(update={"source": source})


def where(problems, check: str) -> list[tuple]:
    return [(p.file, p.row, p.column, p.found) for p in problems if p.check == check]


@pytest.fixture(scope="module")
def households():
    return get_dataset("haushalte-sozialraeume")


@pytest.fixture(scope="module")
def area():
    return get_dataset("flaeche-stadtbezirke")


@pytest.fixture(scope="module")
def forecast():
    return get_dataset("bevoelkerungsprognose")


@pytest.fixture(scope="module")
def profiles():
    return get_dataset("stadtbezirksprofile")


@pytest.fixture(scope="module")
def fires():
    return get_dataset("feuerwehr-brandeinsaetze")


# --------------------------------------------------------------------------- households


def test_households_real_file_codes_stay_zero_padded_text(households) -> None:
    tidy = build(households, HOUSEHOLDS)
    assert tidy.problems == []
    frame = tidy.published_frame()
    assert len(frame) == 179
    first = records(frame)[0]
    assert (first["stadtbezirk"], first["sozialraum"], first["haushalte_insgesamt"]) == (
        "01",
        "0101",
        5018,
    )
    assert frame["stadtbezirk"].str.fullmatch(r"\d{2}").all()
    assert frame["sozialraum"].str.fullmatch(r"\d{4}").all()


def test_households_suppressed_x_row_stays_marked_never_zero(households) -> None:
    frame = build(households, HOUSEHOLDS).frame
    row = frame[frame["sozialraum"] == "0718"].iloc[0]
    assert int(row["_line"]) == 126
    counts = [c for c in frame.columns if c.startswith("haushalte_") and "status" not in c]
    assert all(pd.isna(row[c]) for c in counts)
    assert {row[f"{c}_status"] for c in counts} == {"gesperrt"}


def test_households_dash_is_exactly_nothing(households) -> None:
    frame = build(households, HOUSEHOLDS).frame
    row = frame[frame["sozialraum"] == "0304"].iloc[0]
    assert row["haushalte_alleinerziehende"] == 0
    assert row["haushalte_alleinerziehende_status"] == "nichts"
    assert row["haushalte_mit_kindern_status"] == "wert"


def test_households_parts_sum_helper_for_the_suite(households) -> None:
    frame = build(households, HOUSEHOLDS).frame
    known = frame["haushalte_insgesamt"].notna()
    assert (
        frame.loc[known, "_summe_haushaltsgroessen"] == frame.loc[known, "haushalte_insgesamt"]
    ).all()
    assert "_summe_haushaltsgroessen" not in build(households, HOUSEHOLDS).published_frame()


def test_cp1252_crlf_and_excel_deliveries_give_the_same_table(
    households, write_file, tmp_path
) -> None:
    import openpyxl

    text = HOUSEHOLDS.read_text(encoding="utf-8")
    legacy = write_file("haushalte_cp1252.csv", text.replace("\n", "\r\n"), "cp1252")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Private Haushalte nach Sozialräumen, 31.12.2019"])  # a title row
    sheet.append([])
    for number, line in enumerate(text.splitlines()):
        cells = line.split(";")
        # numbers typed as numbers, codes as text, signs as text: as Excel keeps them
        sheet.append(
            cells
            if number == 0
            else [*cells[:2], *(int(c) if c.isdigit() else c for c in cells[2:])]
        )
    sheet.append(["Quelle: Landeshauptstadt Düsseldorf - Amt für Statistik und Wahlen"])
    excel = tmp_path / "haushalte.xlsx"
    workbook.save(excel)

    expected = records(build(households, HOUSEHOLDS).published_frame())
    assert records(build(households, legacy).published_frame()) == expected
    tidy = build(households, excel)
    assert tidy.problems == []
    assert records(tidy.published_frame()) == expected
    assert tidy.frame["_line"].iloc[0] == 4  # sheet row: title, blank, heading, data
    assert (
        tidy.notes["package"]["quelle"]
        == "Landeshauptstadt Düsseldorf - Amt für Statistik und Wahlen"
    )


# --------------------------------------------------------------------------- area


def test_area_decimal_comma_and_transliterated_header(area) -> None:
    tidy = build(area, AREA)
    assert tidy.problems == []
    assert records(tidy.published_frame())[:2] == [
        {"stadtbezirk": "01", "flaeche_km2": 11.3},
        {"stadtbezirk": "02", "flaeche_km2": 7.23},
    ]
    assert (
        tidy.notes["headers"]["distric_area.csv"]["flaeche_km2"] == "Flaeche in Quadratkilometern"
    )


def test_area_rejects_a_sign_where_none_is_expected(area, write_file) -> None:
    path = write_file("flaeche.csv", "Stadtbezirk;Fläche in km²\n01;11,3\n02;x\n")
    tidy = build(area, path)
    assert where(tidy.problems, "Zeichen") == [("flaeche.csv", 3, "Fläche in km²", "x")]
    assert "kein Zeichen vorgesehen" in tidy.problems[0].message


# --------------------------------------------------------------------------- forecast


def test_forecast_wide_variants_become_rows_and_summaries_are_not_data(forecast) -> None:
    tidy = build(forecast, FORECAST)
    assert tidy.problems == []
    frame = tidy.published_frame()
    assert len(frame) == 15 * 4
    assert list(frame.columns) == ["variante", "jahr", "einwohner", "status"]
    assert records(frame)[0] == {
        "variante": "Variante 1",
        "jahr": 2021,
        "einwohner": 649600,  # ' 649 600' in the file
        "status": "wert",
    }
    assert sorted(set(frame["jahr"])) == list(range(2021, 2036))
    assert set(frame["variante"]) == {"Variante 1", "Variante 2", "Variante 3", "IT.NRW"}
    # 'Veraenderung 2021/2035 absolut' (42800) and '... in Prozent' are summaries
    assert tidy.notes["summary_rows"] == {"einwohner_prognose.csv": [18, 19]}
    assert frame["einwohner"].min() > 600000


def test_forecast_year_steps_helper(forecast) -> None:
    frame = build(forecast, FORECAST).frame
    assert frame.groupby("variante")["_jahresabstand"].apply(lambda s: s.isna().sum()).eq(1).all()
    assert set(frame["_jahresabstand"].dropna()) == {1}


def test_forecast_problem_names_the_variant_column(forecast, write_file) -> None:
    text = FORECAST.read_text(encoding="utf-8").replace(
        "2023; 657 000;659100", "2023; 657 000;6S9100"
    )
    tidy = build(forecast, write_file("prognose.csv", text))
    assert where(tidy.problems, "Zahlenformat") == [("prognose.csv", 4, "Variante 2", "6S9100")]


# --------------------------------------------------------------------------- profiles


@pytest.fixture(scope="module")
def profile_tidy(profiles):
    return build(profiles, *PROFILES)


def pick(frame: pd.DataFrame, gebiet: str, merkmal: str, masszahl: str = "absolut") -> dict:
    rows = frame[
        (frame["gebiet"] == gebiet)
        & (frame["merkmal"] == merkmal)
        & (frame["masszahl"] == masszahl)
    ]
    assert len(rows) == 1, (gebiet, merkmal, masszahl, len(rows))
    return {k: (None if pd.isna(v) else v) for k, v in rows.iloc[0].items()}


def test_profile_reads_text_numbers_and_unrounded_percentages(profile_tidy) -> None:
    assert profile_tidy.problems == []
    frame = profile_tidy.frame
    population = pick(frame, "Stadtbezirk 1", "Bevölkerung")
    assert (population["wert"], population["status"], population["stadtbezirk"]) == (
        85936,
        "wert",
        "01",
    )
    assert (population["abschnitt"], population["_line"]) == ("Bevölkerung", 25)
    share = pick(frame, "Stadtbezirk 1", "Anteil an Erwerbspersonen (SVB und ALO)", "prozent")
    assert share["wert"] == 6.046  # 6.0459140384475525 in the workbook
    assert pick(frame, "Düsseldorf insgesamt", "Bevölkerung")["wert"] == 644280


def test_profile_signs_follow_the_profiles_own_legend(profile_tidy) -> None:
    frame = profile_tidy.frame
    unknown = pick(frame, "Stadtbezirk 1", "Arbeitslose unter 25 Jahre")
    assert (unknown["wert"], unknown["status"]) == (None, "unbekannt")
    assert unknown["oberbegriff"] == "Arbeitslose (ALO) am Wohnort, darunter"
    not_applicable = pick(frame, "Stadtbezirk 10", "Private Haushalte")
    assert (not_applicable["wert"], not_applicable["status"]) == (None, "entfaellt")
    assert "verzichtet" in not_applicable["hinweis"]
    nothing = pick(frame, "Stadtbezirk 10", "Gymnasien")
    assert (nothing["wert"], nothing["status"], nothing["oberbegriff"]) == (
        0,
        "nichts",
        "Städtische Schulen, davon",
    )


def test_profile_sources_dates_and_footnotes_belong_to_their_block(profile_tidy) -> None:
    frame = profile_tidy.frame
    employed = pick(frame, "Stadtbezirk 1", "Sozialversicherungspflichtig Beschäftigte am Wohnort")
    assert employed["quelle"] == "Statistik der Bundesagentur für Arbeit, IT.NRW, eigene Berechnung"
    assert employed["stand"] == "2019-12-31"
    cars = pick(frame, "Stadtbezirk 10", "PKW-Dichte")
    assert (cars["stand"], round(cars["wert"], 3)) == ("2020-01-01", 0.395)
    area = pick(frame, "Stadtbezirk 1", "Fläche (in ha)")  # '*' footnote mark removed
    assert area["hinweis"].startswith("Gesamtfläche der ausgesuchten Hauptgruppen")
    assert pick(frame, "Stadtbezirk 1", "Wohnbauflächen", "prozent")["hinweis"] is None
    votes = pick(frame, "Stadtbezirk 1", "CDU", "prozent")
    assert (votes["oberbegriff"], votes["stand"]) == ("Stimmenverteilung", None)
    assert votes["abschnitt"] == "Wahlen - Ergebnisse der Ratswahl am 13. September 2020"


def test_profile_legend_titles_and_notes_are_not_data(profile_tidy) -> None:
    frame = profile_tidy.frame
    assert not frame["merkmal"].str.contains(r"^(?:x|-|\.|0 bzw)\s|Quelle:|Erläuterungen").any()
    assert frame["_line"].max() == 225  # the last party row; the legend starts at row 229
    assert set(frame["masszahl"]) == {"absolut", "prozent"}


def test_profile_whole_city_is_published_once(profile_tidy) -> None:
    frame = profile_tidy.published_frame()
    city = frame[frame["gebiet"] == "Düsseldorf insgesamt"]
    assert city["stadtbezirk"].isna().all()
    assert not city.duplicated(["abschnitt", "oberbegriff", "merkmal", "masszahl"]).any()
    # most common nationalities differ per district: the city's value for each is kept
    assert {"Japan", "Syrien"} <= set(city["merkmal"])
    assert len(frame) == 426
    assert frame["stadtbezirk"].value_counts().to_dict() == {"01": 140, "10": 140}


def test_profile_excel_problem_names_sheet_row_and_column(profiles, tmp_path) -> None:
    import openpyxl

    workbook = openpyxl.load_workbook(PROFILES[0])
    workbook.active["B15"] = "2.494 Personen"
    path = tmp_path / "Stadtbezirk01.xlsx"
    workbook.save(path)
    tidy = build(profiles, path)
    assert where(tidy.problems, "Zahlenformat") == [
        (
            "Stadtbezirk01.xlsx, Blatt Stadtbezirk01",
            15,
            "Stadtbezirk 1 / Anzahl (B)",
            "2.494 Personen",
        )
    ]


def test_grids_survive_staging_between_tasks(profiles, tmp_path) -> None:
    raws = statistics_tables.extract(profiles, PROFILES)
    loaded = statistics_tables.load_raws(statistics_tables.save_raws(raws, tmp_path))
    assert loaded == raws
    direct = statistics_tables.transform(profiles, raws).frame
    pd.testing.assert_frame_equal(statistics_tables.transform(profiles, loaded).frame, direct)


# --------------------------------------------------------------------------- structure


def test_missing_required_column_is_a_problem_not_a_crash(households, write_file) -> None:
    path = write_file("h.csv", "Stadtbezirk;Sozialraum;Haushalte insgesamt\n01;0101;5\n")
    tidy = build(households, path)
    assert len(tidy.problems) == 1
    assert tidy.problems[0].message.startswith("Pflichtspalte fehlt: Haushalte mit 1 Person")
    assert tidy.frame.empty


def test_text_only_and_stray_cells_are_problems(fires, write_file) -> None:
    header = "Jahr;Kleinbrände A;Kleinbrände B;Mittelbrände;Großbrände;ÜH (Mittelbrände)"
    path = write_file(
        "b.csv",
        f"{header}\n2020;1;2;3;4;5\nSiehe Jahresbericht;;;;;\n2021;1;2;3;4;5;99\n2022;1;2;3;4;5\n",
    )
    tidy = build(fires, path)
    assert where(tidy.problems, "Zeilenaufbau") == [
        ("b.csv", 3, None, "Siehe Jahresbericht"),
        ("b.csv", 4, "Spalte 7", "99"),
    ]
    assert list(tidy.frame["jahr"]) == [2020, 2022]


def test_an_extra_remark_column_is_ignored_not_an_error(area, write_file) -> None:
    path = write_file("f.csv", "Stadtbezirk;Bemerkung;Flaeche\n01;geschätzt;11,3\n02;;7,23\n")
    tidy = build(area, path)
    assert tidy.problems == []
    assert list(tidy.published_frame()["flaeche_km2"]) == [11.3, 7.23]
    assert tidy.notes["ignored_columns"] == {"f.csv": ["Bemerkung"]}


def test_documented_columns_must_match_the_options(households) -> None:
    broken = households.model_copy(update={"columns": households.columns[:-1]})
    with pytest.raises(ConfigError, match="documented columns"):
        build(broken, HOUSEHOLDS)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("p.xlsx", b"PK\x03\x04 not really a workbook", "keine lesbare Excel-Arbeitsmappe"),
        ("p.csv", b"\x00\x01\x02binary", "NUL-Bytes"),
        ("p.csv", b"", "leer"),
    ],
)
def test_unreadable_files_raise_input_error(profiles, write_file, name, content, message) -> None:
    with pytest.raises(InputError, match=message):
        statistics_tables.extract(profiles, [write_file(name, content)])


def test_missing_sheet_is_an_input_error(profiles) -> None:
    source = profiles.source.model_copy(update={"sheet": "Tabelle9"})
    with pytest.raises(
        InputError, match="Tabellenblatt 'Tabelle9' fehlt; vorhanden: Stadtbezirk01"
    ):
        statistics_tables.extract(profiles.model_copy(update={"source": source}), PROFILES[:1])


# --------------------------------------------------------------------------- privacy


def small_households(write_file) -> Path:
    text = HOUSEHOLDS.read_text(encoding="utf-8").splitlines()
    # Sozialraum 0116: 180 households, 4 single parents -> 2 (below the threshold of 3)
    changed = [
        line.replace("02;0116;180;135;27;18;13;4", "02;0116;180;135;27;18;13;2") for line in text
    ]
    assert changed != text
    return write_file("household_small.csv", "\n".join(changed) + "\n")


def test_privacy_apply_suppresses_small_counts(households, write_file, tmp_path) -> None:
    outcome = pipeline.check(households, [small_households(write_file)], tmp_path)
    published = json.loads((tmp_path / "haushalte-sozialraeume.json").read_text(encoding="utf-8"))
    row = next(r for r in published if r["sozialraum"] == "0116")
    assert (row["haushalte_alleinerziehende"], row["haushalte_alleinerziehende_status"]) == (
        None,
        "gesperrt",
    )
    assert outcome.report.success
    assert all(
        r[c] is None or r[c] == 0 or r[c] >= 3
        for r in published
        for c in r
        if c.startswith("haushalte_") and not c.endswith("_status")
    )


def test_privacy_verify_rejects_a_delivery_that_breaks_the_rule(households, write_file) -> None:
    verifying = with_privacy(
        households,
        columns=["haushalte_alleinerziehende"],
        min_count=3,
        mode="verify",
    )
    tidy = build(verifying, small_households(write_file))
    report = validate(verifying, tidy)
    assert not report.success
    assert [(p.file, p.row, p.column, p.found) for p in report.problems] == [
        ("household_small.csv", 17, "Alleinerziehenden Haushalte", 2)
    ]
    assert report.problems[0].check.startswith("Geheimhaltung")


def test_privacy_rounding_keeps_totals_exact(households) -> None:
    rounding = with_privacy(
        households,
        columns=["haushalte_insgesamt", "haushalte_1_person", "haushalte_mit_kindern"],
        round_to=3,
        exact_columns=["haushalte_insgesamt"],
    )
    exact = build(households, HOUSEHOLDS).frame
    rounded = build(rounding, HOUSEHOLDS).frame
    pd.testing.assert_series_equal(rounded["haushalte_insgesamt"], exact["haushalte_insgesamt"])
    for column in ("haushalte_1_person", "haushalte_mit_kindern"):
        values = rounded[column].dropna()
        assert (values % 3 == 0).all()
        assert ((values - exact[column].dropna()).abs() <= 1).all()
    first = records(rounded)[0]
    assert (first["haushalte_1_person"], first["haushalte_mit_kindern"]) == (3444, 510)  # 3445, 509
    # the sums no longer add up: the suite's sum rule sees rounded parts
    assert first["haushalte_2_personen"] == 975  # not rounded: not listed


# GE's structured row conditions have no modulo operator; the pandas string condition
# is deprecated (not removed) in GE 1.x
@pytest.mark.filterwarnings("ignore:.*(row_condition|condition_parser).*:DeprecationWarning")
def test_privacy_rounding_rule_is_proven_by_the_suite(households, monkeypatch, tmp_path) -> None:
    # its own id: GE keeps suites per name for the process, and this one is deprecated style
    households = households.model_copy(update={"id": "haushalte-rundung"})
    suite = {
        "name": "haushalte-rundung",
        "expectations": [
            {
                "type": "expect_column_values_to_be_null",
                "kwargs": {
                    "column": "haushalte_1_person",
                    "row_condition": "haushalte_1_person % 3 != 0",
                    "condition_parser": "pandas",
                },
                "meta": {
                    "regel": "Geheimhaltung: 'Haushalte mit 1 Person' ist ein Vielfaches von 3"
                },
            }
        ],
    }
    (tmp_path / "haushalte-rundung.json").write_text(json.dumps(suite), encoding="utf-8")
    monkeypatch.setenv("HARVEST_EXPECTATIONS", str(tmp_path))
    rule = {"columns": ["haushalte_1_person"], "round_to": 3}
    applied = with_privacy(households, **rule)
    assert validate(applied, build(applied, HOUSEHOLDS)).success
    verified = with_privacy(households, **rule, mode="verify")
    report = validate(verified, build(verified, HOUSEHOLDS))
    assert (report.problems[0].row, report.problems[0].column, report.problems[0].found) == (
        2,
        "Haushalte mit 1 Person",
        3445,
    )


def test_privacy_and_signs_are_stated_in_the_package_description(households, area) -> None:
    notes = package_fields(households)["notes"]
    assert "Geheimhaltung: Anzahlen unter 3 (außer 0) werden nicht veröffentlicht" in notes
    assert "„x“ = Zahlenwert aus Gründen der Geheimhaltung gesperrt" in notes
    plain = package_fields(area)["notes"]
    assert "Geheimhaltung" not in plain and "Zeichen in der Quelle" not in plain


def test_invalid_data_never_renders(households, write_file, tmp_path) -> None:
    text = HOUSEHOLDS.read_text(encoding="utf-8").replace("01;0101;5018", "11;0101;5018")
    with pytest.raises(ValidationFailed):
        pipeline.check(households, [write_file("h.csv", text)], tmp_path / "out")
    assert not (tmp_path / "out").exists()
