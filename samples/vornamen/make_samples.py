"""Regenerate the synthetic sample inputs of `vornamen` (deterministic).

Run: .venv/bin/python samples/vornamen/make_samples.py
"""

from __future__ import annotations

import random
from pathlib import Path

HERE = Path(__file__).parent

GIRLS = [
    "Marie",
    "Sophie",
    "Emilia",
    "Mia",
    "Emma",
    "Hannah",
    "Lina",
    "Mila",
    "Ella",
    "Clara",
    "Lea",
    "Leni",
    "Anna",
    "Frieda",
    "Lia",
    "Ida",
    "Amelie",
    "Luisa",
    "Johanna",
    "Zoé",
    "Renée",
    "Anna-Lena",
    "Elif",
    "Noémie",
    "Maja",
    "Mathilda",
    "Nele",
    "Paula",
    "Charlotte",
    "Helena",
    "Lara",
    "Sara",
    "Zeynep",
    "Greta",
    "Marlene",
    "Rosalie",
    "Juna",
    "Liv",
    "Malia",
    "Merve",
    "Amira",
    "Yasmin",
    "Jana",
    "Mira",
    "Ronja",
    "Thea",
    "Romy",
    "Svea",
    "Lotta",
    "Isabella",
    "Aurelia",
    "Ylvi",
    "Élise",
    "Smilla",
]
BOYS = [
    "Noah",
    "Leon",
    "Paul",
    "Ben",
    "Finn",
    "Elias",
    "Luis",
    "Felix",
    "Henry",
    "Jonas",
    "Emil",
    "Theo",
    "Matteo",
    "Luca",
    "Liam",
    "Anton",
    "Jakob",
    "Leo",
    "Max",
    "Moritz",
    "Oskar",
    "David",
    "Ali",
    "Mohammed",
    "Yusuf",
    "Ömer",
    "Joël",
    "Søren",
    "Jean-Luc",
    "D'Angelo",
    "Karl",
    "Konstantin",
    "Malik",
    "Mats",
    "Mika",
    "Nils",
    "Ole",
    "Tim",
    "Tom",
    "Vincent",
    "Levi",
    "Adam",
    "Aaron",
    "Julian",
    "Samuel",
    "Valentin",
    "Lukas",
    "Hamza",
    "Deniz",
    "Emir",
]
# not representable in Windows-1252: only in the UTF-8 files
UNICODE_ONLY = {"w": ["Ayşe", "Çağla", "Zoë", "Małgorzata"], "m": ["Ştefan", "Jiří", "Łukasz"]}
SECOND = {
    "w": [
        "Sophie",
        "Marie",
        "Maria",
        "Luise",
        "Elisabeth",
        "Johanna",
        "Charlotte",
        "Emilia",
        "Rose",
    ],
    "m": [
        "Alexander",
        "Maximilian",
        "Johannes",
        "Friedrich",
        "Josef",
        "Michael",
        "Elias",
        "Paul",
        "Leon",
    ],
}


def counts(names: list[str], scale: float, seed: int) -> list[tuple[str, int]]:
    rnd = random.Random(seed)
    return [
        (n, max(1, int(scale / (i + 1) ** 0.9 + rnd.randint(0, 3)))) for i, n in enumerate(names)
    ]


def main() -> None:
    # 2021: per-gender lists of the old tool: Windows-1252, ';', CRLF, "Name;Anzahl"
    for gender, names, scale in (("weiblich", GIRLS, 95), ("maennlich", BOYS, 110)):
        rows = sorted(counts(names, scale, 2021), key=lambda r: (-r[1], r[0]))
        text = "Name;Anzahl\r\n" + "".join(f"{n};{c}\r\n" for n, c in rows)
        (HERE / f"Vornamen_2021_{gender}.csv").write_bytes(text.encode("cp1252"))
    # 2022: ranked list, UTF-8 with BOM, ';', CRLF
    lines = ["Vorname;geschlecht;position;Anzahl"]
    for g, names, scale in (("w", GIRLS, 97), ("m", BOYS, 108)):
        for n, c in counts(names + UNICODE_ONLY[g], scale, 2022):
            lines.append(f"{n};{g};1;{c}")
        for n, c in counts(SECOND[g], scale * 0.6, 2022):
            lines.append(f"{n};{g};2;{c}")
    (HERE / "Vornamen_2022.csv").write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode())
    # 2023: newer export: UTF-8, ',', LF, other header case and column order
    lines = ["Anzahl,Position,VORNAME,Geschlecht"]
    for g, names, scale in (("w", GIRLS, 99), ("m", BOYS, 104)):
        for n, c in counts(names + UNICODE_ONLY[g], scale, 2023):
            lines.append(f"{c},1,{n},{g}")
        for n, c in counts(SECOND[g], scale * 0.6, 2023):
            lines.append(f"{c},2,{n},{g}")
    (HERE / "vornamen_2023.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
