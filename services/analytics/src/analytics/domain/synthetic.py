"""Synthetic but realistic event streams for the demo town, tests and the benchmark (plain Python, no I/O).

Every payload satisfies the published contracts (``contracts/events``; a test checks each kind). Ids of the
demo town's territories and authorities are the ones every service's demo uses:
``uuid5(NAMESPACE_URL, "gorod:territory:<oktmo>")`` and ``uuid5(NAMESPACE_URL, "gorod:authority:<slug>")``.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


def territory_id(oktmo: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"gorod:territory:{oktmo}")


def authority_id(slug: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"gorod:authority:{slug}")


def category_id(code: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"gorod:category:{code}")


MAP_ID = uuid.uuid5(uuid.NAMESPACE_URL, "gorod:map:city")
REGION_OKTMO = "46000000"
TOWN_OKTMO = "46738000"
TIMEZONE = "Europe/Moscow"
TOWN_EXTENT = (38.70, 55.04, 38.86, 55.13)  # lon_min, lat_min, lon_max, lat_max
REGION_EXTENT = (35.1, 54.2, 40.2, 56.9)
DISTRICT_SPLIT = (38.78, 55.085)
DISTRICTS = (
    ("46738000101", "Старая Коломна", "nw"),
    ("46738000102", "Колычёво", "ne"),
    ("46738000103", "Голутвин", "sw"),
    ("46738000104", "Щурово", "se"),
)

CATEGORIES: dict[str, tuple[str, str]] = {
    # code: (name, department slug answering it)
    "roads.pothole": ("Яма на дороге", "kolomna-roads"),
    "roads.signs": ("Дорожные знаки и разметка", "kolomna-roads"),
    "lighting.street": ("Уличное освещение", "kolomna-blagoustroystvo"),
    "waste.overflow": ("Переполненные контейнеры", "kolomna-blagoustroystvo"),
    "waste.dump": ("Несанкционированная свалка", "kolomna-blagoustroystvo"),
    "housing.roof": ("Протекает крыша", "kolomna-zhkh"),
    "housing.entrance": ("Подъезд", "kolomna-zhkh"),
    "housing.heating": ("Отопление", "kolomna-zhkh"),
    "yard.playground": ("Детская площадка", "kolomna-blagoustroystvo"),
    "yard.greenery": ("Озеленение", "kolomna-blagoustroystvo"),
    "transport.stop": ("Остановка транспорта", "kolomna-roads"),
    "transport.route": ("Маршрут транспорта", "kolomna-roads"),
    "ecology.air": ("Загрязнение воздуха", "kolomna-blagoustroystvo"),
    "ecology.water": ("Загрязнение водоёма", "kolomna-blagoustroystvo"),
}

AUTHORITIES: tuple[tuple[str, str, str, str | None], ...] = (
    # slug, name, kind, parent slug
    ("kolomna-administration", "Администрация Городского округа Коломна", "administration", None),
    ("kolomna-blagoustroystvo", "МКУ «Благоустройство Коломны»", "department", "kolomna-administration"),
    ("kolomna-zhkh", "Управление ЖКХ", "department", "kolomna-administration"),
    ("kolomna-roads", "Управление дорожного хозяйства и транспорта", "department", "kolomna-administration"),
    ("kolomna-prosecutor", "Коломенская городская прокуратура", "supervisory", None),
    ("mo-housing-inspection", "Госжилинспекция Московской области", "supervisory", None),
)
AUTHORITY_NAMES = {slug: name for slug, name, _kind, _parent in AUTHORITIES}


@dataclass(frozen=True)
class SyntheticEvent:
    routing_key: str
    subject: str
    time: datetime
    data: dict[str, Any]


def _box(lon0: float, lat0: float, lon1: float, lat1: float) -> dict[str, Any]:
    ring = [[lon0, lat0], [lon1, lat0], [lon1, lat1], [lon0, lat1], [lon0, lat0]]
    return {"type": "MultiPolygon", "coordinates": [[ring]]}


def _iso(moment: datetime) -> str:
    return moment.isoformat()


@dataclass(frozen=True)
class Town:
    oktmo: str
    name: str
    extent: tuple[float, float, float, float]
    districts: tuple[tuple[str, str, tuple[float, float, float, float]], ...] = ()


def demo_towns(extra: int = 0) -> list[Town]:
    """Коломна with its four districts, then ``extra`` made-up towns elsewhere in the region (benchmark)."""
    lon0, lat0, lon1, lat1 = TOWN_EXTENT
    split_lon, split_lat = DISTRICT_SPLIT
    quadrants = {
        "nw": (lon0, split_lat, split_lon, lat1),
        "ne": (split_lon, split_lat, lon1, lat1),
        "sw": (lon0, lat0, split_lon, split_lat),
        "se": (split_lon, lat0, lon1, split_lat),
    }
    towns = [
        Town(TOWN_OKTMO, "городской округ Коломна", TOWN_EXTENT, tuple((o, n, quadrants[q]) for o, n, q in DISTRICTS))
    ]
    for i in range(extra):
        lon = 35.5 + (i % 8) * 0.5
        lat = 54.5 + (i // 8) * 0.3
        towns.append(Town(f"46{700 + i:03d}000", f"Городской округ №{i + 1}", (lon, lat, lon + 0.15, lat + 0.1)))
    return towns


def directory_events(at: datetime, towns: list[Town]) -> list[SyntheticEvent]:
    """Territories (region, towns, districts) and the demo authorities, as routing announces them."""
    region = territory_id(REGION_OKTMO)
    events = [
        _territory(at, REGION_OKTMO, "Московская область", "region", None, _box(*REGION_EXTENT)),
    ]
    for town in towns:
        events.append(_territory(at, town.oktmo, town.name, "urban_okrug", region, _box(*town.extent)))
        for oktmo, name, extent in town.districts:
            events.append(_territory(at, oktmo, name, "city_district", territory_id(town.oktmo), _box(*extent)))
    town_id = territory_id(TOWN_OKTMO)
    for slug, name, kind, parent in AUTHORITIES:
        data = {
            "authority_id": str(authority_id(slug)),
            "name": name,
            "kind": kind,
            "parent_id": str(authority_id(parent)) if parent else None,
            "territory_id": str(region if slug == "mo-housing-inspection" else town_id),
            "changed_at": _iso(at),
        }
        events.append(SyntheticEvent("routing.authority.changed.v1", str(authority_id(slug)), at, data))
    return events


def _territory(
    at: datetime, oktmo: str, name: str, level: str, parent: uuid.UUID | None, boundary: dict[str, Any]
) -> SyntheticEvent:
    data = {
        "territory_id": str(territory_id(oktmo)),
        "oktmo": oktmo,
        "name": name,
        "level": level,
        "parent_id": str(parent) if parent else None,
        "timezone": TIMEZONE,
        "boundary": boundary,
        "changed_at": _iso(at),
    }
    return SyntheticEvent("routing.territory.changed.v1", str(territory_id(oktmo)), at, data)


def problem_events(
    rng: random.Random, now: datetime, town: Town, *, days: int = 180, problem_uuid: uuid.UUID | None = None
) -> list[SyntheticEvent]:
    """The life of one problem in ``town``, reported within the last ``days``, up to ``now``: reported,
    published, its appeal sent, registered, maybe extended, answered or overdue and escalated, solved or not,
    rated, confirmed or reopened. Events later than ``now`` are left out (the problem is still under way)."""
    pid = str(problem_uuid or uuid.UUID(int=rng.getrandbits(128), version=4))
    code = rng.choice(list(CATEGORIES))
    name, dept_slug = CATEGORIES[code]
    cat = str(category_id(code))
    lon0, lat0, lon1, lat1 = town.extent
    point = {"lon": round(rng.uniform(lon0, lon1), 6), "lat": round(rng.uniform(lat0, lat1), 6)}
    reported = now - timedelta(days=rng.uniform(0, days))
    events: list[SyntheticEvent] = []

    def add(key: str, at: datetime, data: dict[str, Any], subject: str = pid) -> bool:
        if at > now:
            return False
        events.append(SyntheticEvent(key, subject, at, data))
        return True

    status = "moderation"

    def change(to: str, at: datetime) -> bool:
        nonlocal status
        ok = add(
            "problems.problem.status_changed.v1",
            at,
            {
                "problem_id": pid,
                "map_id": str(MAP_ID),
                "category_id": cat,
                "point": point,
                "from_status": status,
                "to_status": to,
                "changed_at": _iso(at),
                "reason": None,
            },
        )
        if ok:
            status = to
        return ok

    base = {"problem_id": pid, "map_id": str(MAP_ID), "map_code": "city", "category_id": cat}
    add(
        "problems.problem.reported.v1",
        reported,
        {
            **base,
            "category_code": code,
            "category_name": name,
            "point": point,
            "address": "Коломна",
            "status": "moderation",
            "reported_at": _iso(reported),
            "anonymous": False,
            "author_id": None,
        },
    )
    if rng.random() < 0.05:
        change("rejected", reported + timedelta(hours=rng.uniform(1, 20)))
        return events
    published = reported + timedelta(hours=rng.uniform(0.2, 24))
    if not add(
        "problems.problem.published.v1",
        published,
        {
            **base,
            "category_code": code,
            "category_name": name,
            "point": point,
            "address": "Коломна",
            "title": name,
            "description": "Прошу принять меры.",
            "published_at": _iso(published),
            "reported_at": _iso(reported),
            "photos": [],
            "applicant": None,
        },
    ):
        return events
    change("published", published)
    appeal = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    admin = authority_id("kolomna-administration")
    town_is_kolomna = town.oktmo == TOWN_OKTMO
    district = None
    if town.districts:
        for oktmo, _n, (dx0, dy0, dx1, dy1) in town.districts:
            if dx0 <= point["lon"] <= dx1 and dy0 <= point["lat"] <= dy1:
                district = oktmo
                break
    appeal_base = {
        "appeal_id": appeal,
        "problem_id": pid,
        "authority_id": str(admin),
        "authority_name": AUTHORITY_NAMES["kolomna-administration"]
        if town_is_kolomna
        else f"Администрация: {town.name}",
        "department_id": str(authority_id(dept_slug)),
        "territory_id": str(territory_id(district or town.oktmo)),
        "territory_oktmo": district or town.oktmo,
        "category_id": cat,
    }
    sent = published + timedelta(minutes=rng.uniform(1, 60))
    if not add(
        "routing.appeal.sent.v1",
        sent,
        {
            **appeal_base,
            "occurred_at": _iso(sent),
            "channel": "cabinet",
            "reason": "jurisdiction",
            "registration_due_at": _iso(sent + timedelta(days=3)),
            "repeat_of": None,
        },
        appeal,
    ):
        return events
    change("sent", sent)
    registered = sent + timedelta(hours=rng.expovariate(1 / 30))
    due = registered + timedelta(days=30)
    if not add(
        "routing.appeal.registered.v1",
        registered,
        {
            **appeal_base,
            "occurred_at": _iso(registered),
            "registered_at": _iso(registered),
            "answer_due_at": _iso(due),
            "registration_number": f"К-{rng.randint(1000, 99999)}",
        },
        appeal,
    ):
        return events
    change("registered", registered)
    if rng.random() < 0.1:
        extended = registered + timedelta(days=rng.uniform(10, 28))
        if add(
            "routing.appeal.extended.v1",
            extended,
            {
                **appeal_base,
                "occurred_at": _iso(extended),
                "answer_due_at": _iso(due + timedelta(days=30)),
                "extended_by_days": 30,
                "reason": "Нужна дополнительная проверка",
            },
            appeal,
        ):
            due = due + timedelta(days=30)
    answered = registered + timedelta(days=rng.lognormvariate(2.6, 0.6))
    if answered > due:
        # 59-FZ deadline passed first: routing reports it, and sometimes escalates to the prosecutor
        add(
            "routing.appeal.overdue.v1",
            due,
            {**appeal_base, "occurred_at": _iso(due), "deadline": "answer", "due_at": _iso(due)},
            appeal,
        )
        if rng.random() < 0.5:
            escalated = due + timedelta(days=1)
            add(
                "routing.appeal.escalated.v1",
                escalated,
                {
                    **appeal_base,
                    "occurred_at": _iso(escalated),
                    "supervisor_id": str(authority_id("kolomna-prosecutor")),
                    "supervisor_name": AUTHORITY_NAMES["kolomna-prosecutor"],
                    "cause": "overdue",
                    "repeat_appeal_id": None,
                },
                appeal,
            )
    outcome = rng.choices(["solved", "planned", "refused"], weights=[70, 20, 10])[0]
    if not add(
        "routing.appeal.answered.v1",
        answered,
        {
            **appeal_base,
            "occurred_at": _iso(answered),
            "answer_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "text": "Работы выполнены.",
            "outcome": outcome,
            "planned_for": None,
            "refusal_reason": None,
            "attachments": [],
            "answered_at": _iso(answered),
            "on_time": answered <= due,
            "answered_by": None,
        },
        appeal,
    ):
        return events
    change("answered", answered)
    if outcome != "solved":
        return events
    solved = answered + timedelta(hours=1)
    change("solved", solved)
    feedback = solved + timedelta(days=rng.uniform(0.5, 5))
    if rng.random() < 0.6:
        add(
            "problems.problem.rated.v1",
            feedback,
            {
                "problem_id": pid,
                "category_id": cat,
                "appeal_id": appeal,
                "rating": rng.choices([1, 2, 3, 4, 5], weights=[10, 8, 15, 30, 37])[0],
                "rated_at": _iso(feedback),
            },
        )
    if rng.random() < 0.15:
        reopened = feedback + timedelta(hours=2)
        add(
            "problems.problem.reopened.v1",
            reopened,
            {
                "problem_id": pid,
                "category_id": cat,
                "appeal_id": appeal,
                "reason": "Не сделано",
                "reopened_at": _iso(reopened),
            },
        )
        change("not_solved", reopened)
    elif rng.random() < 0.5:
        confirmed = feedback + timedelta(hours=1)
        add(
            "problems.problem.confirmed.v1",
            confirmed,
            {"problem_id": pid, "category_id": cat, "appeal_id": appeal, "confirmed_at": _iso(confirmed)},
        )
    return events


def town_stream(
    seed: int, now: datetime, problems: int, towns: list[Town] | None = None, *, days: int = 180
) -> Iterator[SyntheticEvent]:
    """The directory, then ``problems`` problems spread over ``towns``, in time order per problem."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
    towns = towns or demo_towns()
    yield from directory_events(now - timedelta(days=days + 1), towns)
    weights = [4] + [1] * (len(towns) - 1)
    for _ in range(problems):
        yield from problem_events(rng, now, rng.choices(towns, weights=weights)[0], days=days)
