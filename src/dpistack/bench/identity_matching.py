"""`dpi bench identity-matching`: demographic deduplication against a synthetic population.

Goal: enrolment with deduplication against 1,000,000 enrolled people, p95 <= 50 ms on a
2-core machine. This measures the matching part in memory: blocking keys of the new person,
candidates from a dict index ``blocking key -> people`` (the identity service keeps the same
index in a database table, keyed by HMAC blind indexes), and scoring of every candidate,
each candidate rebuilt from a stored row as the service would decode it. Database and
decryption costs are not included; the number of candidates per query is what they scale with.

The population: Arabic, Russian, Hindi and East African (Latin only) names from small tables
with Zipf-like frequencies, names recorded in Latin and native script, Latin only or native
only; birth dates over 1940-2020 with 3% on 1 January (unknown birthdays); siblings and twins
sharing parents. Queries re-enrol an existing person with one or two perturbations (another
Latin spelling, another script, given/family swapped, day/month swapped, a typo, a year or
day off by one, no birth place, no parents), and also enrol new people.
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import replace
from typing import Callable, Optional

from dpistack.identity.matching import DEFAULT_THRESHOLDS, Demographics, Name, Thresholds, blocking_keys, classify, score

# (Latin spellings, native script, sex). Tables kept small on purpose: small tables make
# namesakes common, which is the hard case for blocking.
_GIVEN = {
    "ar": [
        (("Mohammed", "Muhammad", "Mohamed", "Mohammad"), "محمد", "M"),
        (("Ahmed", "Ahmad"), "أحمد", "M"),
        (("Ali",), "علي", "M"),
        (("Hassan", "Hasan"), "حسن", "M"),
        (("Hussein", "Husain", "Hussain"), "حسين", "M"),
        (("Omar", "Umar"), "عمر", "M"),
        (("Youssef", "Yusuf", "Yousef"), "يوسف", "M"),
        (("Khalid", "Khaled"), "خالد", "M"),
        (("Ibrahim", "Ebrahim"), "إبراهيم", "M"),
        (("Abdullah", "Abdallah"), "عبد الله", "M"),
        (("Abdul Rahman", "Abdurrahman"), "عبد الرحمن", "M"),
        (("Tariq", "Tarek"), "طارق", "M"),
        (("Karim", "Kareem"), "كريم", "M"),
        (("Jamal", "Gamal"), "جمال", "M"),
        (("Fatima", "Fatimah"), "فاطمة", "F"),
        (("Aisha", "Ayesha"), "عائشة", "F"),
        (("Maryam", "Mariam"), "مريم", "F"),
        (("Zainab", "Zaynab"), "زينب", "F"),
        (("Layla", "Leila"), "ليلى", "F"),
        (("Nour", "Noor"), "نور", "F"),
        (("Sara", "Sarah"), "سارة", "F"),
        (("Huda", "Hoda"), "هدى", "F"),
        (("Amina", "Aminah"), "أمينة", "F"),
        (("Khadija", "Khadijah"), "خديجة", "F"),
    ],
    "ru": [
        (("Alexander", "Aleksandr"), "Александр", "M"),
        (("Sergey", "Sergei"), "Сергей", "M"),
        (("Dmitry", "Dmitri", "Dmitriy"), "Дмитрий", "M"),
        (("Andrey", "Andrei"), "Андрей", "M"),
        (("Alexey", "Aleksei", "Alexei"), "Алексей", "M"),
        (("Ivan",), "Иван", "M"),
        (("Mikhail", "Mihail"), "Михаил", "M"),
        (("Nikolai", "Nikolay"), "Николай", "M"),
        (("Vladimir",), "Владимир", "M"),
        (("Pavel",), "Павел", "M"),
        (("Yevgeny", "Evgeny", "Evgeniy"), "Евгений", "M"),
        (("Igor",), "Игорь", "M"),
        (("Olga",), "Ольга", "F"),
        (("Natalya", "Natalia"), "Наталья", "F"),
        (("Elena", "Yelena"), "Елена", "F"),
        (("Tatiana", "Tatyana"), "Татьяна", "F"),
        (("Irina",), "Ирина", "F"),
        (("Svetlana",), "Светлана", "F"),
        (("Ekaterina", "Yekaterina"), "Екатерина", "F"),
        (("Anna",), "Анна", "F"),
        (("Maria", "Mariya"), "Мария", "F"),
        (("Yulia", "Yuliya"), "Юлия", "F"),
        (("Anastasia", "Anastasiya"), "Анастасия", "F"),
        (("Galina",), "Галина", "F"),
    ],
    "hi": [
        (("Ravi",), "रवि", "M"),
        (("Amit",), "अमित", "M"),
        (("Rahul",), "राहुल", "M"),
        (("Sanjay",), "संजय", "M"),
        (("Deepak", "Dipak"), "दीपक", "M"),
        (("Vijay",), "विजय", "M"),
        (("Suresh",), "सुरेश", "M"),
        (("Ramesh",), "रमेश", "M"),
        (("Rajesh",), "राजेश", "M"),
        (("Manoj",), "मनोज", "M"),
        (("Mohan",), "मोहन", "M"),
        (("Arjun",), "अर्जुन", "M"),
        (("Priya",), "प्रिया", "F"),
        (("Sunita",), "सुनीता", "F"),
        (("Pooja", "Puja"), "पूजा", "F"),
        (("Anita",), "अनीता", "F"),
        (("Lakshmi", "Laxmi"), "लक्ष्मी", "F"),
        (("Neha",), "नेहा", "F"),
        (("Kajal",), "काजल", "F"),
        (("Aarti", "Arti"), "आरती", "F"),
        (("Geeta", "Gita"), "गीता", "F"),
        (("Sita", "Seeta"), "सीता", "F"),
        (("Kiran",), "किरण", "F"),
        (("Anjali",), "अंजलि", "F"),
    ],
    "sw": [
        (("John",), None, "M"), (("Peter",), None, "M"), (("Joseph",), None, "M"), (("David",), None, "M"),
        (("James",), None, "M"), (("Daniel",), None, "M"), (("Samuel",), None, "M"), (("Paul",), None, "M"),
        (("Juma",), None, "M"), (("Baraka",), None, "M"), (("Emmanuel",), None, "M"), (("Francis",), None, "M"),
        (("Mary",), None, "F"), (("Grace",), None, "F"), (("Esther",), None, "F"), (("Faith",), None, "F"),
        (("Mercy",), None, "F"), (("Joyce",), None, "F"), (("Ruth",), None, "F"), (("Agnes",), None, "F"),
        (("Neema",), None, "F"), (("Rehema",), None, "F"), (("Zawadi",), None, "F"), (("Lucy",), None, "F"),
    ],
}
_FAMILY = {
    "ar": [
        (("Al-Hassan", "Hassan"), "الحسن"), (("Al-Khatib", "El-Khatib"), "الخطيب"), (("Haddad",), "حداد"),
        (("Mansour", "Mansur"), "منصور"), (("Nasser", "Nasir"), "ناصر"), (("Saeed", "Said"), "سعيد"),
        (("Qasim", "Kassem"), "قاسم"), (("Al-Rashid", "Rasheed"), "الرشيد"), (("Othman", "Osman"), "عثمان"),
        (("Saleh", "Salih"), "صالح"), (("Karim", "Kareem"), "كريم"), (("Jaber", "Jabir"), "جابر"),
        (("Hamdan",), "حمدان"), (("Al-Amin", "Amin"), "الأمين"), (("Mahmoud", "Mahmud"), "محمود"),
        (("Khalil",), "خليل"), (("Al-Masri", "Masri"), "المصري"), (("Suleiman", "Sulayman"), "سليمان"),
        (("Yousef", "Yusuf"), "يوسف"), (("Abbas",), "عباس"),
    ],
    "ru": [
        (("Ivanov",), "Иванов"), (("Smirnov",), "Смирнов"), (("Kuznetsov",), "Кузнецов"), (("Popov",), "Попов"),
        (("Sokolov",), "Соколов"), (("Lebedev",), "Лебедев"), (("Kozlov",), "Козлов"), (("Novikov",), "Новиков"),
        (("Morozov",), "Морозов"), (("Petrov",), "Петров"), (("Volkov",), "Волков"), (("Solovyov", "Soloviev"), "Соловьёв"),
        (("Vasiliev", "Vasilyev"), "Васильев"), (("Zaitsev", "Zaytsev"), "Зайцев"), (("Pavlov",), "Павлов"),
        (("Semenov", "Semyonov"), "Семёнов"), (("Golubev",), "Голубев"), (("Vinogradov",), "Виноградов"),
        (("Bogdanov",), "Богданов"), (("Fedorov", "Fyodorov"), "Фёдоров"),
    ],
    "hi": [
        (("Kumar",), "कुमार"), (("Sharma",), "शर्मा"), (("Singh",), "सिंह"), (("Gupta",), "गुप्ता"),
        (("Patel",), "पटेल"), (("Yadav",), "यादव"), (("Verma",), "वर्मा"), (("Joshi",), "जोशी"),
        (("Mehta",), "मेहता"), (("Reddy",), "रेड्डी"), (("Mishra",), "मिश्रा"), (("Pandey",), "पांडे"),
        (("Chauhan",), "चौहान"), (("Agarwal", "Agrawal"), "अग्रवाल"), (("Jain",), "जैन"), (("Tiwari",), "तिवारी"),
        (("Saxena",), "सक्सेना"), (("Bhatt", "Bhat"), "भट्ट"), (("Nair",), "नायर"), (("Das",), "दास"),
    ],
    "sw": [(((n,), None)) for n in (
        "Otieno", "Wanjiru", "Kamau", "Mwangi", "Ochieng", "Njoroge", "Kiprop", "Achieng", "Mutua", "Wambui",
        "Odhiambo", "Chebet", "Kiptoo", "Nyambura", "Onyango", "Kariuki", "Omondi", "Wekesa", "Barasa", "Mollel")],
}
_PLACES = {
    "ar": [("Cairo", "القاهرة"), ("Alexandria", "الإسكندرية"), ("Amman", "عمان"), ("Baghdad", "بغداد"),
           ("Damascus", "دمشق"), ("Beirut", "بيروت"), ("Tunis", "تونس"), ("Khartoum", "الخرطوم")],
    "ru": [("Moscow", "Москва"), ("Kazan", "Казань"), ("Samara", "Самара"), ("Omsk", "Омск"),
           ("Novosibirsk", "Новосибирск"), ("Perm", "Пермь"), ("Ufa", "Уфа"), ("Tver", "Тверь")],
    "hi": [("Delhi", "दिल्ली"), ("Jaipur", "जयपुर"), ("Patna", "पटना"), ("Lucknow", "लखनऊ"),
           ("Kanpur", "कानपुर"), ("Agra", "आगरा"), ("Bhopal", "भोपाल"), ("Indore", "इंदौर")],
    "sw": [(p, None) for p in ("Nairobi", "Mombasa", "Kisumu", "Nakuru", "Eldoret", "Arusha", "Dodoma", "Mwanza")],
}
_CULTURES = ("ar", "ru", "hi", "sw")
_CULTURE_WEIGHTS = (0.30, 0.20, 0.25, 0.25)


def _zipf(n: int) -> list[float]:
    return [1 / (i + 1) ** 0.8 for i in range(n)]


_GIVEN_BY_SEX = {c: {s: [i for i, g in enumerate(_GIVEN[c]) if g[2] == s] for s in "MF"} for c in _CULTURES}
_GIVEN_W = {c: {s: _zipf(len(ix)) for s, ix in _GIVEN_BY_SEX[c].items()} for c in _CULTURES}
_FAMILY_W = {c: _zipf(len(_FAMILY[c])) for c in _CULTURES}

# A stored person: a compact row (what the service would decrypt and decode).
# (culture, given, family, spelling, scripts, y, m, d, sex, place, place_script, parents)
Row = tuple


def _person(rng: random.Random, parents: tuple = (), culture: str | None = None, family: int | None = None,
            sex: str | None = None, birth: tuple | None = None) -> Row:
    c = culture or rng.choices(_CULTURES, _CULTURE_WEIGHTS)[0]
    s = sex or rng.choice("MF")
    g = rng.choices(_GIVEN_BY_SEX[c][s], _GIVEN_W[c][s])[0]
    f = family if family is not None else rng.choices(range(len(_FAMILY[c])), _FAMILY_W[c])[0]
    if birth is None:
        y = rng.randint(1940, 2020)
        m, d = (1, 1) if rng.random() < 0.03 else (rng.randint(1, 12), rng.randint(1, 28))
    else:
        y, m, d = birth
    scripts = "latin" if c == "sw" else rng.choices(("both", "latin", "native"), (0.7, 0.2, 0.1))[0]
    spelling = rng.randrange(4) if rng.random() < 0.3 else 0
    return (c, g, f, spelling, scripts, y, m, d, s, rng.randrange(8), rng.randrange(2), parents)


def _names(row: Row, swap: bool = False, typo: Optional[random.Random] = None) -> list[Name]:
    c, g, f, spelling, scripts = row[:5]
    g_latin, g_native, _ = _GIVEN[c][g]
    f_latin, f_native = _FAMILY[c][f]
    gl, fl = g_latin[spelling % len(g_latin)], f_latin[spelling % len(f_latin)]
    female_ru = c == "ru" and row[8] == "F"
    if female_ru:
        fl, f_native = fl + "a", f_native + "а"
    if typo is not None:
        if typo.random() < 0.5:
            gl = _typo(gl, typo)
        else:
            fl = _typo(fl, typo)
    out = []
    if scripts in ("both", "latin") or g_native is None:
        out.append(Name("en", gl, fl))
    if scripts in ("both", "native") and g_native is not None:
        out.append(Name(c, g_native, f_native))
    if swap:
        out = [Name(n.language, n.family, n.given) for n in out]
    return out


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word))
    return word[:i] + rng.choice("abcdefghiklmnoprstuvy") + word[i + 1:]


def _demographics(row: Row, **kw) -> Demographics:
    c = row[0]
    place = _PLACES[c][row[9]][row[10]] or _PLACES[c][row[9]][0]
    return Demographics(
        names=_names(row),
        birth_date=f"{row[5]:04d}-{row[6]:02d}-{row[7]:02d}",
        sex="male" if row[8] == "M" else "female",
        birth_place=place,
        parents=row[11],
        **kw,
    )


def _perturb(row: Row, rng: random.Random) -> tuple[Demographics, list[str]]:
    """Re-enrolment of the person in ``row`` with one or two changes."""
    c, g, f, spelling, scripts, y, m, d, sex, place, place_script, parents = row
    changes = rng.sample(["spelling", "script", "swap", "day-month", "typo", "date-off", "no-place",
                          "no-parents", "place-script"], k=rng.choice((1, 2)))
    swap = typo = None
    for ch in changes:
        if ch == "spelling":
            spelling = spelling + 1
        elif ch == "script" and c != "sw":
            scripts = {"both": rng.choice(("latin", "native")), "latin": "native", "native": "latin"}[scripts]
        elif ch == "swap":
            swap = True
        elif ch == "day-month" and d <= 12:
            m, d = d, m
        elif ch == "typo":
            typo = rng
        elif ch == "date-off":
            if rng.random() < 0.5:
                y += rng.choice((-1, 1))
            else:
                d = d + 1 if d < 28 else d - 1
        elif ch == "place-script":
            place_script = 1 - place_script
    new = (c, g, f, spelling, scripts, y, m, d, sex, place, place_script, parents)
    if typo is not None and scripts == "native":
        new = new[:4] + ("both",) + new[5:]  # a typo needs a Latin form
    names = _names(new, swap=bool(swap), typo=typo)
    demo = Demographics(
        names=names,
        birth_date=f"{y:04d}-{m:02d}-{d:02d}",
        sex="male" if sex == "M" else "female",
        birth_place=None if "no-place" in changes else (_PLACES[c][place][place_script] or _PLACES[c][place][0]),
        parents=() if "no-parents" in changes else parents,
    )
    return demo, changes


def _population(n: int, rng: random.Random) -> list[Row]:
    rows: list[Row] = []
    family_id = 0
    while len(rows) < n:
        if rows and rng.random() < 0.04:  # a sibling (a twin one time in ten) of someone enrolled
            elder = rows[rng.randrange(len(rows))]
            if elder[11]:
                twin = rng.random() < 0.1
                birth = elder[5:8] if twin else None
                rows.append(_person(rng, elder[11], elder[0], elder[2], birth=birth))
                continue
        parents = ()
        if rng.random() < 0.4:
            family_id += 1
            parents = (f"F{family_id}m", f"F{family_id}f")
        rows.append(_person(rng, parents))
    return rows


def _pct(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def measure(n_people: int = 100_000, n_queries: int = 1000, seed: int = 1,
            progress: Callable[[str], None] | None = None, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> dict:
    """Build a population and an in-memory blocking index, then time deduplication queries.

    Returns ``people``, ``queries``, ``keys_per_person``, ``index_keys`` (distinct keys),
    ``largest_key`` (people under the broadest key), ``candidates_mean``/``_p95``/``_max``
    per query, ``match_ms_p50``/``_p95``/``_max`` (keys, candidate look-up, rebuilding and
    scoring every candidate), ``recall`` (re-enrolments whose original was found as duplicate
    or review), ``recall_duplicate`` (found as duplicate), ``recall_by_change`` (per kind of
    perturbation), ``new_person_duplicate_rate`` and ``new_person_review_rate`` (new people
    refused / sent to review: with name tables this small, a new person often has an exact
    namesake born the same day, or one a digit away), the same two figures with only exact
    or swapped dates sent to review (``strict_dates_*``), and ``build_s``.
    """
    rng = random.Random(seed)
    say = progress or (lambda _msg: None)
    t0 = time.perf_counter()
    rows = _population(n_people, rng)
    index: dict[str, list[int]] = {}
    n_keys = 0
    for i, row in enumerate(rows):
        for k in blocking_keys(_demographics(row)):
            index.setdefault(k, []).append(i)
            n_keys += 1
        if i and i % 100_000 == 0:
            say(f"indexed {i:,} people")
    build_s = time.perf_counter() - t0
    say(f"index built in {build_s:.1f} s: {len(index):,} keys")

    # The same scores classified a second way: only exact or day/month-swapped birth dates
    # go to review (no typo tolerance in the date), to show the trade-off.
    strict = replace(thresholds, review_birth_date=0.85)

    def dedup(query: Demographics) -> tuple[list[tuple[int, str, str]], int]:
        ids: set[int] = set()
        for k in blocking_keys(query):
            ids.update(index.get(k, ()))
        verdicts = []
        for i in ids:
            result = score(query, _demographics(rows[i]))  # rebuilt as from a stored row
            decision = classify(result, thresholds)
            if decision != "distinct":
                verdicts.append((i, decision, classify(result, strict)))
        return verdicts, len(ids)

    times, cands = [], []
    found = found_dup = found_strict = 0
    by_change: dict[str, list[int]] = {}
    for _ in range(n_queries):
        target = rng.randrange(len(rows))
        query, changes = _perturb(rows[target], rng)
        started = time.perf_counter()
        verdicts, n_cand = dedup(query)
        times.append((time.perf_counter() - started) * 1000)
        cands.append(n_cand)
        hit = [(v, sv) for i, v, sv in verdicts if i == target]
        found += bool(hit)
        found_dup += bool(hit) and hit[0][0] == "duplicate"
        found_strict += bool(hit) and hit[0][1] != "distinct"
        for ch in changes:
            by_change.setdefault(ch, [0, 0])
            by_change[ch][0] += 1
            by_change[ch][1] += bool(hit)
    new_dup = new_review = new_review_strict = 0
    for _ in range(n_queries):
        query = _demographics(_person(rng, ()))
        started = time.perf_counter()
        verdicts, n_cand = dedup(query)
        times.append((time.perf_counter() - started) * 1000)
        cands.append(n_cand)
        decisions = {v for _, v, _ in verdicts}
        new_dup += "duplicate" in decisions
        new_review += decisions == {"review"}
        new_review_strict += "duplicate" not in decisions and "review" in {sv for _, _, sv in verdicts}
    sizes = sorted(len(v) for v in index.values())
    return {
        "people": n_people,
        "queries": 2 * n_queries,
        "keys_per_person": round(n_keys / n_people, 2),
        "index_keys": len(index),
        "largest_key": sizes[-1],
        "candidates_mean": round(statistics.fmean(cands), 2),
        "candidates_p95": _pct(cands, 95),
        "candidates_max": max(cands),
        "match_ms_p50": round(_pct(times, 50), 3),
        "match_ms_p95": round(_pct(times, 95), 3),
        "match_ms_max": round(max(times), 3),
        "recall": round(found / n_queries, 4),
        "recall_duplicate": round(found_dup / n_queries, 4),
        "recall_by_change": {k: round(v[1] / v[0], 3) for k, v in sorted(by_change.items())},
        "new_person_duplicate_rate": round(new_dup / n_queries, 4),
        "new_person_review_rate": round(new_review / n_queries, 4),
        "strict_dates_recall": round(found_strict / n_queries, 4),
        "strict_dates_new_person_review_rate": round(new_review_strict / n_queries, 4),
        "build_s": round(build_s, 1),
    }


def command(
    people: int = 100_000,
    queries: int = 1000,
    seed: int = 1,
    json_out: bool = False,
) -> None:
    """Entry point for ``dpi bench identity-matching`` (to be registered with typer options)."""
    import json

    figures = measure(people, queries, seed, progress=None if json_out else print)
    print(json.dumps(figures, indent=None if json_out else 2, sort_keys=True))


if __name__ == "__main__":  # python -m dpistack.bench.identity_matching [people] [queries]
    import sys

    args = [int(a) for a in sys.argv[1:3]]
    command(*args)
